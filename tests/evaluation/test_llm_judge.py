"""LLMJudgeAccuracy: the MixLoRA appendix C prompt, reply parsing, an injected and an HF judge."""

from __future__ import annotations

import pytest
import torch

from octavius.evaluation import JUDGE_PROMPT, LLMJudgeAccuracy, parse_judgement

PAPER_PROMPT = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions. USER: Decide if the prediction "
    "is correct given the question and the answer. Questions: {Question} Answer: {Ground-truth "
    "Answer} Prediction: {Prediction} Your response should only be Yes or No. ASSISTANT:"
)


def test_prompt_is_the_papers():
    filled = JUDGE_PROMPT.format(
        question="{Question}", answer="{Ground-truth Answer}", prediction="{Prediction}"
    )
    assert filled == PAPER_PROMPT


@pytest.mark.parametrize(
    "reply, score",
    [
        ("Yes", 1.0),
        (" no.", 0.0),
        ("Yes, it is correct. No doubt.", 1.0),
        ("Score: 8/10", 0.8),
        ("7", 0.7),
        ("0.3", 0.3),
        ("85", 0.85),
        ("I cannot tell", None),
    ],
)
def test_parse_judgement(reply, score):
    assert parse_judgement(reply) == (pytest.approx(score) if score is not None else None)


def test_accuracy_with_an_injected_judge():
    seen = []

    def judge(prompts):
        seen.extend(prompts)
        return ["Yes" if "Prediction: cat " in p else "No" for p in prompts]

    samples = [
        dict(
            dataset="cifar",
            task_type="classification",
            question="What is it?",
            gt_text="cat",
            pred_text="cat",
        ),
        dict(
            dataset="cifar",
            task_type="classification",
            question="What is it?",
            gt_text="cat",
            pred_text="dog",
        ),
        dict(
            dataset="vsr",
            task_type="vqa",
            question="Is it left?",
            gt_text=["yes", "true"],
            pred_text="cat",
        ),
    ]
    metric = LLMJudgeAccuracy(judge=judge)
    metric.process({}, samples)
    assert metric.evaluate(3) == {
        "cifar/classification/judge_accuracy": 50.0,
        "vsr/vqa/judge_accuracy": 100.0,
    }
    assert seen[2] == JUDGE_PROMPT.format(
        question="Is it left?", answer="yes / true", prediction="cat"
    )

    only_vqa = LLMJudgeAccuracy(judge=judge, task_types=["vqa"])
    only_vqa.process({}, samples)
    assert list(only_vqa.evaluate(3)) == ["vsr/vqa/judge_accuracy"]


def test_config_errors():
    with pytest.raises(ValueError, match="exactly one"):
        LLMJudgeAccuracy()
    with pytest.raises(ValueError, match="placeholder"):
        LLMJudgeAccuracy(judge=lambda p: p, prompt="Is {prediction} right?")
    metric = LLMJudgeAccuracy(judge=lambda p: ["Yes"] * len(p))
    with pytest.raises(ValueError, match="'question'"):
        metric.process({}, [dict(task_type="vqa", gt_text="a", pred_text="a")])


def make_judge_dir(path, first_token):
    """A tiny Llama whose zero output layer makes greedy decoding emit vocabulary entry 0."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = [first_token, "Yes" if first_token == "No" else "No", "[UNK]", "[PAD]", "</s>"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", eos_token="</s>"
    )
    tokenizer.save_pretrained(path)
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=3,
        eos_token_id=4,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    model.save_pretrained(path)
    return str(path)


@pytest.mark.parametrize("first_token, expected", [("Yes", 100.0), ("No", 0.0)])
def test_hugging_face_judge_from_a_local_directory(tmp_path, first_token, expected):
    path = make_judge_dir(tmp_path / "judge", first_token)
    metric = LLMJudgeAccuracy(judge_model=path, max_new_tokens=2, batch_size=2)
    samples = [
        dict(
            dataset="mnist",
            task_type="classification",
            question=f"Digit {i}?",
            gt_text=str(i),
            pred_text="seven" if i else "zero",
        )
        for i in range(3)
    ]
    metric.process({}, samples)
    assert metric.evaluate(3) == {"mnist/classification/judge_accuracy": expected}


def test_missing_judge_model_is_named(tmp_path):
    metric = LLMJudgeAccuracy(judge_model=str(tmp_path / "nowhere"))
    with pytest.raises(OSError, match="nowhere"):
        metric.process({}, [dict(task_type="vqa", question="q", gt_text="a", pred_text="a")])
