"""MixtureDataset: sampling frequencies λ (LLaVA-MoLE §3.2) are respected, deterministically."""

from __future__ import annotations

from collections import Counter

import pytest

from octavius.data import MixtureDataset
from octavius.registry import DATASETS


class _Listing:
    """A stand-in dataset of ``n`` packed samples."""

    def __init__(self, name: str, n: int) -> None:
        self.name, self.n = name, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"index": i, "data_sample": {"sample_id": f"{self.name}-{i}"}}


def test_frequencies_give_round_lambda_times_size():
    mix = MixtureDataset(
        [_Listing("a", 10), _Listing("b", 7), _Listing("c", 8)], frequencies=[1, 2.5, 0.25], seed=3
    )
    assert mix.counts == [10, round(2.5 * 7), 2]
    assert len(mix) == 10 + 18 + 2
    per_sample = Counter(mix.source_of(i) for i in range(len(mix)))
    assert all(per_sample[(0, i)] == 1 for i in range(10))
    assert all(per_sample[(1, i)] in (2, 3) for i in range(7))  # two full copies plus a half
    assert sum(per_sample[(1, i)] == 3 for i in range(7)) == 4
    assert len({i for (m, i) in per_sample if m == 2}) == 2  # distinct samples for the fraction
    item = mix[len(mix) - 1]
    assert item["data_sample"]["dataset"] == "c"


def test_zero_frequency_drops_the_dataset_without_building_it(synthetic, tokenizer_path):
    def cfg(ann, **kw):
        return dict(
            type="InstructionDataset",
            ann_file=ann,
            data_root=str(synthetic.root),
            tokenizer=tokenizer_path,
            **kw,
        )

    mix = DATASETS.build(
        dict(
            type="MixtureDataset",
            datasets=[
                cfg("annotations/2d_train.json", image_root="images"),
                cfg("annotations/3d_train.json", point_root="scenes"),
                cfg("annotations/does_not_exist.json"),
            ],
            frequencies=[1, 2, 0],
        )
    )
    assert mix.datasets[2] is None and mix.names[1] == "3d_train"
    n2d, n3d = (len(mix.datasets[0]), len(mix.datasets[1]))
    assert mix.counts == [n2d, 2 * n3d, 0]
    assert Counter(mix[i]["data_sample"]["dataset"] for i in range(len(mix))) == {
        "2d_train": n2d,
        "3d_train": 2 * n3d,
    }


def test_mixture_is_deterministic_given_the_seed():
    def build(seed):
        return MixtureDataset(
            [_Listing("a", 50), _Listing("b", 40)], frequencies=[0.3, 1.5], seed=seed
        ).index.tolist()

    assert build(1) == build(1)
    assert build(1) != build(2)


@pytest.mark.parametrize(
    ("frequencies", "message"),
    [
        ([1], "2 datasets but 1 frequencies"),
        ([0, 0], "not all 0"),
        ([1, -1], "≥ 0"),
        ([1, float("nan")], "finite"),
    ],
)
def test_bad_frequencies(frequencies, message):
    with pytest.raises(ValueError, match=message):
        MixtureDataset([_Listing("a", 3), _Listing("b", 3)], frequencies=frequencies)
