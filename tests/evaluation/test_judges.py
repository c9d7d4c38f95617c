"""Pluggable judges: an OpenAI-compatible endpoint (transport faked), config dicts, dataset filter."""

from __future__ import annotations

import pytest

from octavius.evaluation import JUDGE_PROMPT, LLMJudgeAccuracy, OpenAIJudge, build_judge


def sample(pred, gt, dataset="cifar10"):
    return dict(
        dataset=dataset, task_type="vqa", question="What is it?", gt_text=gt, pred_text=pred
    )


def test_openai_judge_sends_the_papers_prompt_greedily_and_reads_the_reply(monkeypatch):
    sent = []

    def fake_post(self, body):
        sent.append(body)
        prompt = body["messages"][-1]["content"]
        return {
            "choices": [{"message": {"content": "Yes" if "Prediction: cat" in prompt else "No"}}]
        }

    monkeypatch.setattr(OpenAIJudge, "_post", fake_post)
    judge = dict(type="OpenAIJudge", base_url="http://localhost:8000/v1/", model="vicuna-13b")
    metric = LLMJudgeAccuracy(judge=judge)
    assert metric.judge.url == "http://localhost:8000/v1/chat/completions"
    metric.process({}, [sample("cat", "cat"), sample("dog", "cat"), sample("cat", "cat")])
    assert metric.evaluate(3)["cifar10/vqa/judge_accuracy"] == pytest.approx(200 / 3)
    assert sent[0]["model"] == "vicuna-13b" and sent[0]["temperature"] == 0
    assert sent[0]["messages"] == [
        {
            "role": "user",
            "content": JUDGE_PROMPT.format(question="What is it?", answer="cat", prediction="cat"),
        }
    ]


def test_openai_judge_reports_a_malformed_answer(monkeypatch):
    monkeypatch.setattr(OpenAIJudge, "_post", lambda self, body: {"error": "overloaded"})
    with pytest.raises(ValueError, match="choices"):
        OpenAIJudge("http://x/v1", "m")(["prompt"])


def test_judge_config_types_and_errors():
    assert isinstance(
        build_judge(dict(type="OpenAIJudge", base_url="http://x/v1", model="m")), OpenAIJudge
    )
    with pytest.raises(ValueError, match="judge type"):
        build_judge(dict(type="GPT5Judge"))
    with pytest.raises(TypeError, match="callable"):
        LLMJudgeAccuracy(judge=42)


def test_a_fake_judge_scores_only_the_configured_datasets():
    calls = []

    def fake(prompts):
        calls.append(len(prompts))
        return ["Yes"] * len(prompts)

    metric = LLMJudgeAccuracy(judge=fake, datasets=["cifar10"])
    metric.process({}, [sample("cat", "cat"), sample("x", "y", dataset="mme")])
    assert calls == [1]
    assert metric.evaluate(2) == {"cifar10/vqa/judge_accuracy": 100.0}
