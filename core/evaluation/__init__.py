"""Metrics of the papers: detection from text (greedy and LAMM protocols), VQA, multiple choice,
classification, captioning, MME, ANLS, relaxed accuracy, PathVQA, ScanQA, LLM-judged accuracy; and
the evaluation report (tables, metrics.json, predictions JSONL).

Importing this package registers every metric in ``octavius.registry.METRICS``.
"""

from __future__ import annotations

from octavius.evaluation.anls import ANLS, anls_score, levenshtein
from octavius.evaluation.bipartite import max_bipartite_matching
from octavius.evaluation.box_parsing import (
    Box,
    box_iou,
    center_size_to_corners,
    corners_to_center_size,
    match_boxes,
    parse_boxes,
)
from octavius.evaluation.caption import CaptionMetric, caption_scores
from octavius.evaluation.caption_tokenizer import ptb_tokenize
from octavius.evaluation.class_synonyms import (
    LAMM_CLASSIFICATION_SYNONYMS,
    LAMM_DETECTION_SYNONYMS,
    ClassSynonyms,
)
from octavius.evaluation.classification import ClassificationAccuracy
from octavius.evaluation.detection import DetectionMetric
from octavius.evaluation.lamm_choice import lamm_choice_correct, lamm_class_correct
from octavius.evaluation.lamm_detection_parser import parse_lamm_boxes
from octavius.evaluation.llm_judge import (
    JUDGE_PROMPT,
    HFJudge,
    LLMJudgeAccuracy,
    build_judge,
    parse_judgement,
)
from octavius.evaluation.metric_tables import (
    metric_tables,
    print_metric_tables,
    write_metrics_json,
    write_predictions_jsonl,
)
from octavius.evaluation.mme import MME_COGNITION, MME_PERCEPTION, MMEScore, parse_yes_no
from octavius.evaluation.multiple_choice import MultipleChoiceAccuracy, parse_choice, parse_options
from octavius.evaluation.openai_judge import OpenAIJudge
from octavius.evaluation.path_vqa import PathVQAMetric, token_recall
from octavius.evaluation.relaxed_accuracy import RelaxedAccuracy, relaxed_correct
from octavius.evaluation.scanqa import ScanQAMetric
from octavius.evaluation.task_metric import AccuracyMetric, SampleFieldError, TaskMetric, get_field
from octavius.evaluation.text_normalization import normalize_vqa_answer
from octavius.evaluation.vqa import VQAAccuracy

__all__ = [
    "ANLS",
    "JUDGE_PROMPT",
    "LAMM_CLASSIFICATION_SYNONYMS",
    "LAMM_DETECTION_SYNONYMS",
    "MME_COGNITION",
    "MME_PERCEPTION",
    "AccuracyMetric",
    "Box",
    "CaptionMetric",
    "ClassSynonyms",
    "ClassificationAccuracy",
    "DetectionMetric",
    "HFJudge",
    "LLMJudgeAccuracy",
    "MMEScore",
    "MultipleChoiceAccuracy",
    "OpenAIJudge",
    "PathVQAMetric",
    "RelaxedAccuracy",
    "SampleFieldError",
    "ScanQAMetric",
    "TaskMetric",
    "VQAAccuracy",
    "anls_score",
    "box_iou",
    "build_judge",
    "caption_scores",
    "center_size_to_corners",
    "corners_to_center_size",
    "get_field",
    "lamm_choice_correct",
    "lamm_class_correct",
    "levenshtein",
    "match_boxes",
    "max_bipartite_matching",
    "metric_tables",
    "normalize_vqa_answer",
    "parse_boxes",
    "parse_choice",
    "parse_judgement",
    "parse_lamm_boxes",
    "parse_options",
    "parse_yes_no",
    "print_metric_tables",
    "ptb_tokenize",
    "relaxed_correct",
    "token_recall",
    "write_metrics_json",
    "write_predictions_jsonl",
]
