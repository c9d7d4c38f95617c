"""Accuracy judged by a local LLM with the prompt of MixLoRA (Shen et al.), appendix C."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from octavius.evaluation.task_metric import AccuracyMetric, as_text_list, get_field
from octavius.registry import METRICS

#: MixLoRA appendix C, verbatim; {question}, {answer} and {prediction} are filled per sample.
JUDGE_PROMPT = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions. USER: Decide if the "
    "prediction is correct given the question and the answer. Questions: {question} Answer: "
    "{answer} Prediction: {prediction} Your response should only be Yes or No. ASSISTANT:"
)

_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_RATIO = re.compile(r"(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_judgement(text: str) -> float | None:
    """A judge's reply as a score in [0, 1]: Yes → 1, No → 0, or a score such as ``8/10``.

    The first "yes"/"no" word decides; otherwise ``a/b`` is read as a fraction and a bare number
    as a score out of 1, 10 or 100 (the smallest that holds it). ``None`` if nothing is found.
    """
    m = _YES_NO.search(text)
    if m:
        return 1.0 if m.group(1).lower() == "yes" else 0.0
    m = _RATIO.search(text)
    if m and float(m.group(2)) > 0:
        return min(1.0, float(m.group(1)) / float(m.group(2)))
    m = _NUMBER.search(text)
    if m:
        value = float(m.group(0))
        for scale in (1.0, 10.0, 100.0):
            if value <= scale:
                return value / scale
    return None


class HFJudge:
    """A Hugging Face causal LM answering judge prompts with greedy decoding.

    Args:
        model_path: Directory (or name) for ``AutoModelForCausalLM.from_pretrained``.
        tokenizer_path: For ``AutoTokenizer.from_pretrained``; defaults to ``model_path``.
        max_new_tokens: Tokens generated per reply ("Yes"/"No" needs very few).
        batch_size: Prompts per ``generate`` call.
        device: Torch device of the judge.
        dtype: ``"auto"``, ``"float32"``, ``"bfloat16"`` or ``"float16"``.
    """

    def __init__(
        self,
        model_path: str,
        tokenizer_path: str | None = None,
        max_new_tokens: int = 8,
        batch_size: int = 8,
        device: str = "cpu",
        dtype: str = "auto",
    ) -> None:
        if max_new_tokens < 1 or batch_size < 1:
            raise ValueError("HFJudge: max_new_tokens and batch_size must be ≥ 1")
        self.model_path = str(model_path)
        self.tokenizer_path = str(tokenizer_path or model_path)
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_path)
            dtype = self.dtype if self.dtype == "auto" else getattr(torch, self.dtype)
            model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=dtype)
        except OSError as err:
            raise OSError(
                f"LLMJudgeAccuracy: cannot load the judge from judge_model={self.model_path!r} / "
                f"judge_tokenizer={self.tokenizer_path!r}: {err}"
            ) from err
        tokenizer.padding_side = "left"  # generation continues from the last prompt token
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer = tokenizer
        self._model = model.to(self.device).eval()

    def __call__(self, prompts: Sequence[str]) -> list[str]:
        """Greedy replies to ``prompts`` (only the generated part, special tokens removed)."""
        import torch

        if self._model is None:
            self._load()
        replies: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = list(prompts[start : start + self.batch_size])
            enc = self._tokenizer(batch, return_tensors="pt", padding=True).to(self.device)
            with torch.no_grad():
                out = self._model.generate(
                    **enc,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=self._tokenizer.pad_token_id,
                )
            new = out[:, enc["input_ids"].shape[1] :]
            replies += self._tokenizer.batch_decode(new, skip_special_tokens=True)
        return replies


def build_judge(cfg: Mapping[str, Any]) -> Callable[[list[str]], list[str]]:
    """A judge from ``dict(type="HFJudge" | "OpenAIJudge", **kwargs)``."""
    from octavius.evaluation.openai_judge import OpenAIJudge

    kinds = {"HFJudge": HFJudge, "OpenAIJudge": OpenAIJudge}
    args = dict(cfg)
    kind = args.pop("type", None)
    if kind not in kinds:
        raise ValueError(
            f"LLMJudgeAccuracy: judge type must be one of {sorted(kinds)}, got {kind!r}"
        )
    return kinds[kind](**args)


@METRICS.register_module()
class LLMJudgeAccuracy(AccuracyMetric):
    """Accuracy as judged by a local LLM (MixLoRA Table 1, appendix C: Vicuna-13B as judge).

    Each scored sample fills :data:`JUDGE_PROMPT` with its ``question``, reference ``gt_text``
    (several references are joined with " / ") and ``pred_text``; the judge's reply is read with
    :func:`parse_judgement` and the sample counts as correct when the score ≥ ``threshold``. An
    unreadable reply counts as wrong. Reported as ``judge_accuracy``.

    Args:
        judge_model: Path (or name) of a Hugging Face causal LM used as judge.
        judge_tokenizer: Its tokenizer path; defaults to ``judge_model``.
        judge: Instead of ``judge_model``: a callable mapping a list of prompts to replies, or a
            config dict ``dict(type="OpenAIJudge", base_url=..., model=...)`` (an
            OpenAI-compatible endpoint, :class:`~octavius.evaluation.openai_judge.OpenAIJudge`)
            or ``dict(type="HFJudge", model_path=...)`` (a local Hugging Face model).
        prompt: The template, with ``{question}``, ``{answer}`` and ``{prediction}``.
        max_new_tokens: Reply length for the Hugging Face judge.
        batch_size: Prompts per ``generate`` call.
        device: Device of the Hugging Face judge.
        dtype: Dtype of the Hugging Face judge (``"auto"``, ``"float32"``, ``"bfloat16"``…).
        threshold: Minimum score of a correct answer.
        task_types: Task types scored (default: all).
        collect_device: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        prefix: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        datasets: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
    """

    default_task_types = ()
    metric_name = "judge_accuracy"

    def __init__(
        self,
        judge_model: str | None = None,
        judge_tokenizer: str | None = None,
        judge: Callable[[list[str]], list[str]] | Mapping[str, Any] | None = None,
        prompt: str = JUDGE_PROMPT,
        max_new_tokens: int = 8,
        batch_size: int = 8,
        device: str = "cpu",
        dtype: str = "auto",
        threshold: float = 0.5,
        task_types: Sequence[str] | None = None,
        collect_device: str = "cpu",
        prefix: str | None = None,
        datasets: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            task_types=task_types, collect_device=collect_device, prefix=prefix, datasets=datasets
        )
        if (judge_model is None) == (judge is None):
            raise ValueError("LLMJudgeAccuracy: give exactly one of judge_model (a path) or judge")
        missing = [f for f in ("{question}", "{answer}", "{prediction}") if f not in prompt]
        if missing:
            raise ValueError(f"LLMJudgeAccuracy: prompt lacks the placeholder(s) {missing}")
        if judge is None:
            judge = HFJudge(judge_model, judge_tokenizer, max_new_tokens, batch_size, device, dtype)
        elif isinstance(judge, Mapping):
            judge = build_judge(judge)
        if not callable(judge):
            raise TypeError(
                f"LLMJudgeAccuracy: judge must be callable or a config dict, got {judge!r}"
            )
        self.judge = judge
        self.prompt = prompt
        self.threshold = float(threshold)

    def build_prompt(self, sample: Any) -> str:
        """The judge prompt for one sample."""
        question = get_field(sample, "question", None)
        if question is None:
            raise ValueError(
                "LLMJudgeAccuracy: data samples need a 'question' field (the instruction shown "
                "to the model) for the judge prompt"
            )
        return self.prompt.format(
            question=str(question),
            answer=" / ".join(as_text_list(get_field(sample, "gt_text"))),
            prediction=str(get_field(sample, "pred_text")),
        )

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Judge the batch's scored samples in one call; one result per sample."""
        chosen = [
            i
            for i, s in enumerate(data_samples)
            if self.applies_to(
                str(get_field(s, "task_type", "unknown")), str(get_field(s, "dataset", "unknown"))
            )
        ]
        replies = self.judge([self.build_prompt(data_samples[i]) for i in chosen]) if chosen else []
        if len(replies) != len(chosen):
            raise ValueError(
                f"LLMJudgeAccuracy: the judge returned {len(replies)} replies for {len(chosen)} prompts"
            )
        by_index = dict(zip(chosen, replies))
        for i, sample in enumerate(data_samples):
            if i not in by_index:
                self.results.append(None)
                continue
            score = parse_judgement(by_index[i])
            self.results.append(
                {
                    "correct": score is not None and score >= self.threshold,
                    "reply": by_index[i],
                    "_group": (
                        str(get_field(sample, "dataset", "unknown")),
                        str(get_field(sample, "task_type", "unknown")),
                    ),
                }
            )
