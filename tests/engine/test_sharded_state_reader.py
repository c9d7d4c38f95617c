"""The DCP index (``.metadata``) is read with a restricted unpickler: DCP's own index classes
load, a pickle that would call a function is refused."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from torch.distributed.checkpoint.metadata import (
    ChunkStorageMetadata,
    Metadata,
    TensorProperties,
    TensorStorageMetadata,
)

from octavius.checkpoints.errors import CheckpointFormatError
from octavius.checkpoints.integrity import _is_sharded_file
from octavius.checkpoints.sharded_state import read_dcp_metadata


def test_dcp_metadata_loads_and_code_is_refused(tmp_path):
    meta = Metadata(
        state_dict_metadata={
            "model.w": TensorStorageMetadata(
                properties=TensorProperties(dtype=torch.float32),
                size=torch.Size([4, 2]),
                chunks=[ChunkStorageMetadata(offsets=torch.Size([0, 0]), sizes=torch.Size([2, 2]))],
            )
        }
    )
    (tmp_path / ".metadata").write_bytes(pickle.dumps(meta))
    loaded = read_dcp_metadata(tmp_path)
    assert loaded.state_dict_metadata["model.w"].size == torch.Size([4, 2])

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (tmp_path / ".metadata").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(CheckpointFormatError, match=r"system is not part of"):
        read_dcp_metadata(tmp_path)


def test_sharded_checksum_names_stay_inside_the_checkpoint():
    assert _is_sharded_file("sharded/__0_0.distcp") and _is_sharded_file("sharded/.metadata")
    assert not _is_sharded_file("sharded/../adapter.safetensors")
    assert not _is_sharded_file("../sharded/x") and not _is_sharded_file("other/x")
