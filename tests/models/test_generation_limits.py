# ruff: noqa: F811 - the module fixtures imported below are requested by name
"""Per-task generation limits, stop strings and truncated answers (MultimodalLLM.generate)."""

from __future__ import annotations

import pytest

from octavius.models.generation import check_task_limits, default_generation_config, task_limits
from tests.models.test_multimodal_llm import (  # noqa: F401 - module fixtures
    assets,
    batch_of,
    data,
    encoders,
    make_model,
    mixed_test,
    randomise_lora_b,
)

SMALL = dict(preset="octavius", experts=dict(num_experts=4, rank=4, alpha=8.0, dropout=0.0))


def _generate(model, samples, **overrides):
    batch = batch_of(model, samples, False)
    return model.generate(batch["inputs"], batch["data_samples"], **overrides)


def test_each_answer_is_cut_at_its_tasks_limit_as_if_decoded_alone(assets, encoders, data):
    model = make_model(assets, encoders, adapters=SMALL).eval()
    randomise_lora_b(model)
    model.generation_config.eos_token_id = None  # never stop early: every answer hits its limit
    samples = mixed_test(data)
    tasks = [s["data_sample"]["task_type"] for s in samples]
    limits = {tasks[0]: 3}
    out = _generate(model, samples, max_new_tokens=9, task_max_new_tokens=limits)
    for task, ids, cut in zip(tasks, out.token_ids, out.truncated):
        assert len(ids) == limits.get(task, 9) and cut
    alone = _generate(model, samples[:1], max_new_tokens=3)
    assert out.token_ids[0] == alone.token_ids[0]


def test_predict_flags_answers_that_hit_the_limit_without_eos(assets, encoders, data):
    model = make_model(assets, encoders, adapters=SMALL).eval()
    randomise_lora_b(model)
    samples = mixed_test(data)[:2]
    eos = model.tokenizer.eos_token_id
    free = _generate(model, samples, max_new_tokens=6)
    first = free.token_ids[0][0]
    # Make the first generated token of sample 0 the EOS: that answer ends, the other does not.
    model.generation_config.eos_token_id = first
    out = model.predict(**batch_of(model, samples, False))
    assert out[0]["pred_truncated"] is False and out[0]["pred_token_ids"] == []
    expected_cut = first not in free.token_ids[1]
    assert out[1]["pred_truncated"] is expected_cut
    model.generation_config.eos_token_id = eos


def test_stop_strings_end_an_answer_as_the_release_splits_on_its_separator(assets, encoders, data):
    model = make_model(assets, encoders, adapters=SMALL).eval()
    randomise_lora_b(model)
    model.generation_config.eos_token_id = None
    samples = mixed_test(data)[:1]
    plain = _generate(model, samples, max_new_tokens=8)
    words = plain.texts[0].split()
    assert plain.truncated == [True] and len(words) > 1
    stop = words[1]
    cut = _generate(model, samples, max_new_tokens=8, stop_strings=(stop,))
    assert cut.texts[0] == plain.texts[0][: plain.texts[0].index(stop)].strip()
    assert cut.truncated == [False]


def test_config_checks(assets):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(assets.llm)
    config = default_generation_config(
        tokenizer, dict(max_new_tokens=400, task_max_new_tokens={"vqa": 16})
    )
    assert config.max_new_tokens == 400 and task_limits(config) == {"vqa": 16}
    assert task_limits(default_generation_config(tokenizer, None)) == {}
    assert check_task_limits({"vqa": 16}) == {"vqa": 16}
    with pytest.raises(ValueError, match="task_max_new_tokens"):
        default_generation_config(tokenizer, dict(task_max_new_tokens={"vqa": 0}))
    with pytest.raises(ValueError, match="max_new_tokenz"):
        default_generation_config(tokenizer, dict(max_new_tokenz=3))
