"""Instruction-following datasets in LLaVA and LAMM formats (docs/data_formats.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mmengine.dataset import BaseDataset

from octavius.data.annotation_records import RecordParser, Turn, iter_annotation_file
from octavius.data.encode_conversation import EncodeConversation
from octavius.data.errors import DataError, SkipLog, data_logger
from octavius.data.load_images import LoadInstructionImages
from octavius.data.load_point_cloud import LoadPointCloud
from octavius.data.tasks import FALLBACK_TASK, task_id_map
from octavius.data.templates import BaseTemplate
from octavius.registry import DATASETS, TRANSFORMS

__all__ = ["InstructionDataset"]

_ON_ERROR = ("raise", "skip")


@DATASETS.register_module()
class InstructionDataset(BaseDataset):
    """Image and point-cloud instruction samples from a LLaVA- or LAMM-style JSON/JSONL file.

    Each item is the packed sample of :class:`~octavius.data.encode_conversation.EncodeConversation`
    (token ids, response labels, question mask, PIL images, point-cloud items, task id, and a
    ``data_sample`` dict with the sample's id, task type, task definition and — in test mode — the
    reference response). In ``test_mode`` the conversation is encoded as a generation prompt.

    Every sample is checked when the dataset is loaded (``validate=True``): JSON syntax, roles,
    placeholders against images and point clouds, that files exist, point and box array shapes
    (from the ``.npy`` headers), the task type, and the length against ``max_length``. A problem
    raises :class:`~octavius.data.errors.DataError` naming file, line and sample id; with
    ``on_error='skip'`` the sample is dropped instead and a summary of what was skipped is logged
    once loading ends (also available as :attr:`skip_log`). Problems that only show when a
    sample is read (an unreadable image) follow the same policy: raise, or log and serve the next
    sample.

    Args:
        ann_file: the annotation file (``.json`` list or ``.jsonl``), relative to ``data_root``.
        tokenizer: tokenizer directory / hub name (the LLM's).
        template: conversation template config (``TEMPLATES``), e.g. ``dict(type='VicunaV1')``.
        data_root: root that relative ``ann_file``, ``image_root`` and ``point_root`` are under.
        image_root: directory image paths are relative to.
        point_root: directory of ``<scene_id>.npy`` point clouds and their box files.
        max_length: the LLM context length (text plus modality tokens); longer samples are errors.
        modality_tokens: tokens per placeholder per modality (encoders' ``num_tokens``), used by
            the length check; unknown modalities count one token.
        tasks: task names in id order, or a name → id mapping (shared by every dataset of a
            mixture); the built-in list when ``None``.
        task_definitions: definition text per task, overriding the built-in ones.
        default_task: task type of samples without ``task_type``; when ``None`` they are
            ``"conversation"`` (LLaVA's files carry no task type), logged once per dataset.
        box_suffix: instance-box file of a scene: ``<point_root>/<scene_id><box_suffix>``.
            Scenes in mmdet3d's ScanNet layout (``<scene_id>_vert.npy`` …) are found without it.
        allow_xyz: accept ``(N, 3)`` xyz-only point files (LAMM's ShapeNet clouds); colours 0.
        feature_root: read 3D scenes as LAMM's precomputed object features under this directory
            (``lamm_scannet_tr3d/``, ``lamm_scannet_gt/``), relative to ``data_root``; the
            point-cloud items then carry ``roi_features`` instead of ``points``.
        add_missing_placeholder: put the placeholder before the first question when a sample
            with a modality has none (LAMM 3D files); otherwise that is an error.
        image_processor: preprocess images in the workers with this processor config (else the
            model's image encoder does it).
        feature_cache: a feature cache directory (``tools/data/cache_features.py``): images and
            scenes come as the frozen encoders' cached outputs instead of being loaded
            (:class:`~octavius.features.load_cached_features.LoadCachedFeatures`). Set for every
            training dataset by the top-level config key ``feature_cache``.
        color_range: colour scale of point files (``"0-1"``, ``"0-255"``, ``"auto"``).
        on_error: ``"raise"`` or ``"skip"`` (count, drop, report).
        validate: check every sample at load time (files, shapes, length).
        name: dataset name recorded in each data sample (default: the file stem).
        text_transforms: transforms (``TRANSFORMS`` configs) run on the record's turns right
            before encoding, at every read: e.g. ``RetemplateDetectionAnswer``, which words a
            detection answer anew each epoch as the Octavius release does.
        pipeline: transforms replacing the default load-images → load-points → text transforms →
            encode pipeline.
        test_mode: encode generation prompts (the last response becomes the reference).
        lazy_init, serialize_data, max_refetch, indices: as in mmengine's ``BaseDataset``.
    """

    def __init__(
        self,
        ann_file: str,
        tokenizer: str | os.PathLike | Any,
        template: Mapping[str, Any] | str | BaseTemplate = "VicunaV1",
        data_root: str = "",
        image_root: str = "",
        point_root: str = "",
        max_length: int = 2048,
        modality_tokens: Mapping[str, int] | None = None,
        tasks: Sequence[str] | Mapping[str, int] | None = None,
        task_definitions: Mapping[str, str] | None = None,
        default_task: str | None = None,
        box_suffix: str = "_boxes.npy",
        allow_xyz: bool = False,
        feature_root: str | None = None,
        add_missing_placeholder: bool = False,
        image_processor: str | None = None,
        feature_cache: str | None = None,
        color_range: str = "auto",
        on_error: str = "raise",
        validate: bool = True,
        name: str | None = None,
        text_transforms: Sequence[Mapping[str, Any] | Any] | None = None,
        pipeline: Sequence[Mapping[str, Any] | Any] | None = None,
        test_mode: bool = False,
        lazy_init: bool = False,
        serialize_data: bool = True,
        max_refetch: int = 10,
        indices: int | Sequence[int] | None = None,
    ) -> None:
        if on_error not in _ON_ERROR:
            raise ValueError(
                f"InstructionDataset: on_error must be one of {_ON_ERROR}, got {on_error!r}."
            )
        if not ann_file:
            raise ValueError("InstructionDataset: ann_file is required (a .json or .jsonl file).")
        root = Path(data_root) if data_root else Path()
        self.on_error = on_error
        self.validate = validate
        self.name = name or Path(ann_file).stem
        self.skip_log = SkipLog(name=str(Path(data_root) / ann_file if data_root else ann_file))
        self.encoder = EncodeConversation(
            tokenizer, template, max_length, modality_tokens, for_generation=test_mode
        )
        self.parser = RecordParser(
            image_root=root / image_root,
            point_root=root / point_root,
            task_ids=task_id_map(tasks),
            task_definitions=dict(task_definitions or {}),
            default_task=default_task,
            box_suffix=box_suffix,
            allow_xyz=allow_xyz,
            feature_root=root / feature_root if feature_root else None,
            add_missing_placeholder=add_missing_placeholder,
            check_files=validate,
            require_response=not test_mode,
        )
        if pipeline is not None and text_transforms:
            raise ValueError(
                "InstructionDataset: give text_transforms or a whole pipeline, not both (put the"
                " text transforms into the pipeline before the encoder)."
            )
        if pipeline is not None and feature_cache:
            raise ValueError(
                "InstructionDataset: feature_cache replaces the default loaders; with a whole"
                " pipeline, put LoadCachedFeatures in it instead."
            )
        if pipeline is None:
            texts = [
                TRANSFORMS.build(dict(t)) if isinstance(t, Mapping) else t
                for t in text_transforms or ()
            ]
            if feature_cache:
                from octavius.features.load_cached_features import LoadCachedFeatures

                loaders = [LoadCachedFeatures(feature_cache, color_range, allow_xyz)]
            else:
                loaders = [
                    LoadInstructionImages(image_processor),
                    LoadPointCloud(color_range, allow_xyz),
                ]
            pipeline = [*loaders, *texts, self.encoder]
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix={},
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            serialize_data=serialize_data,
            max_refetch=max_refetch,
            indices=indices,
            metainfo={"tasks": dict(self.parser.task_ids)},
        )

    @property
    def tokenizer(self) -> Any:
        """The tokenizer the samples are encoded with."""
        return self.encoder.tokenizer

    def read_records(self, source: str) -> Iterator[tuple[str, int | str, Any, DataError | None]]:
        """``(file, line, raw, error)`` of every record of ``source``, in order.

        The annotation file's samples (:func:`~octavius.data.annotation_records.
        iter_annotation_file`: 1-based JSONL lines, ``#i`` in a JSON list). Loaders of other
        layouts (the benchmark loaders) override it; ``error`` is set, and ``raw`` ``None``,
        for a record that cannot be read, which then follows the ``on_error`` policy.
        """
        for line, raw, error in iter_annotation_file(source):
            yield source, line, raw, error

    def convert_record(self, raw: Any, index: int) -> Any:
        """The LLaVA/LAMM-style sample of one raw record (``index``: its position in the file).

        Annotation-file records already are samples; loaders of other layouts override this to
        turn their own records into samples. A problem raises :class:`DataError` (or a
        ``KeyError``/``ValueError``… on a missing or wrong field), which :meth:`load_data_list`
        locates at the record's file and line.
        """
        return raw

    def _converted(self, raw: Any, index: int, source: str, line: int | str) -> Any:
        try:
            return self.convert_record(raw, index)
        except DataError as err:
            raise err.at(source, line, None) from None
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
            detail = f"{type(err).__name__}: {err}"
            raise DataError(
                "malformed_sample", f"cannot read the record ({detail})", source, line
            ) from err

    def load_data_list(self) -> list[dict[str, Any]]:
        """Read, convert, parse and check every record (see the class docstring).

        The one loop of every loader: :meth:`read_records` → :meth:`convert_record` → parse →
        encode (length check) → keep, or raise / skip-log with the record's ``file:line``.
        """
        source = str(self.ann_file)
        records: list[dict[str, Any]] = []
        for index, (where, line, raw, error) in enumerate(self.read_records(source)):
            try:
                if error is not None:
                    raise error.at(where, line, None)
                record = self.parser.parse(self._converted(raw, index, where, line), where, line)
                if self.validate:
                    try:
                        encoded = self.encoder.encode(
                            [Turn(r, t) for r, t in record["turns"]], record["task_type"]
                        )
                        record["num_tokens"] = self.encoder.expanded_length(encoded.input_ids)
                    except DataError as err:
                        raise err.at(where, line, record["sample_id"]) from None
            except DataError as err:
                if self.on_error == "raise":
                    raise
                self.skip_log.add(err)
                continue
            record["dataset"] = self.name
            records.append(record)
        self.skip_log.report(kept=len(records))
        defaulted = sum(bool(r.get("task_defaulted")) for r in records)
        if defaulted and self.parser.default_task is None:
            data_logger().info(
                f"{source}: {defaulted} sample(s) have no 'task_type'; they are "
                f"'{FALLBACK_TASK}' samples, the task of LLaVA-style data (set the dataset's "
                "default_task to choose another)."
            )
        if not records:
            empty = DataError(
                "empty_dataset",
                f"no usable sample (skipped {self.skip_log.total}); see the errors above.",
                source=source,
            )
            empty.skipped = list(self.skip_log.errors)
            raise empty
        return records

    def __getitem__(self, idx: int) -> dict[str, Any]:
        """The packed sample ``idx``; under ``on_error='skip'`` a broken one yields the next."""
        if not self._fully_initialized:
            self.full_init()
        for _ in range(self.max_refetch + 1):
            try:
                return self.prepare_data(idx)
            except DataError as err:
                info = self.get_data_info(idx)
                located = err.at(info.get("source"), info.get("line"), info.get("sample_id"))
                if self.on_error == "raise":
                    raise located from None
                self.skip_log.add(located)
                data_logger().warning(
                    f"skipped while reading ({self.skip_log.total} so far): {located}"
                )
                idx = (idx + 1) % len(self)
        raise DataError(
            "too_many_errors",
            f"{self.max_refetch + 1} consecutive samples failed to load; see the warnings above.",
            source=str(self.ann_file),
        )
