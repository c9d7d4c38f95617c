"""Metrics of the papers: detection from text, VQA, multiple choice, classification, captioning,
LLM-judged accuracy; and the evaluation report (tables, metrics.json, predictions JSONL).

Importing this package registers every metric in ``octavius.registry.METRICS``.
"""

from __future__ import annotations

from octavius.evaluation.box_parsing import Box, box_iou, match_boxes, parse_boxes
from octavius.evaluation.caption import CaptionMetric, caption_scores
from octavius.evaluation.caption_tokenizer import ptb_tokenize
from octavius.evaluation.classification import ClassificationAccuracy
from octavius.evaluation.detection import DetectionMetric
from octavius.evaluation.llm_judge import JUDGE_PROMPT, HFJudge, LLMJudgeAccuracy, parse_judgement
from octavius.evaluation.metric_tables import (
    metric_tables,
    print_metric_tables,
    write_metrics_json,
    write_predictions_jsonl,
)
from octavius.evaluation.multiple_choice import MultipleChoiceAccuracy, parse_choice, parse_options
from octavius.evaluation.task_metric import AccuracyMetric, SampleFieldError, TaskMetric, get_field
from octavius.evaluation.text_normalization import normalize_vqa_answer
from octavius.evaluation.vqa import VQAAccuracy

__all__ = [
    "JUDGE_PROMPT",
    "AccuracyMetric",
    "Box",
    "CaptionMetric",
    "ClassificationAccuracy",
    "DetectionMetric",
    "HFJudge",
    "LLMJudgeAccuracy",
    "MultipleChoiceAccuracy",
    "SampleFieldError",
    "TaskMetric",
    "VQAAccuracy",
    "box_iou",
    "caption_scores",
    "get_field",
    "match_boxes",
    "metric_tables",
    "normalize_vqa_answer",
    "parse_boxes",
    "parse_choice",
    "parse_judgement",
    "parse_options",
    "print_metric_tables",
    "ptb_tokenize",
    "write_metrics_json",
    "write_predictions_jsonl",
]
