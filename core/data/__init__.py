"""Instruction data: datasets, conversation templates, mixtures, collation.

Importing this package registers the datasets (``DATASETS``, with the benchmark loaders of
``octavius.data.benchmarks``), templates (``TEMPLATES``),
transforms (``TRANSFORMS``), the collate function (``FUNCTIONS``) and the data preprocessor
(``MODELS``).
"""

from octavius.data.annotation_records import RecordParser, Turn, iter_annotation_file
from octavius.data.benchmarks import (
    LAMM2DBenchmark,
    LAMM3DBenchmark,
    MMEBenchmark,
    ScienceQABenchmark,
)
from octavius.data.chat_template import Chat, build_chat_prompt
from octavius.data.collate import instruction_collate
from octavius.data.data_preprocessor import InstructionDataPreprocessor, pad_sequences
from octavius.data.encode_conversation import EncodeConversation
from octavius.data.errors import DataError, SkipLog
from octavius.data.instruction_dataset import InstructionDataset
from octavius.data.lamm_system_messages import LAMM_SYSTEM_MESSAGES
from octavius.data.lamm_template import LAMMTemplate
from octavius.data.load_images import LoadInstructionImages
from octavius.data.load_point_cloud import LoadPointCloud
from octavius.data.mixture_dataset import MixtureDataset
from octavius.data.plain_template import Plain
from octavius.data.retemplate_detection_answer import (
    DETECTION_ANSWER_TEMPLATES,
    RetemplateDetectionAnswer,
    parse_detection_answer,
)
from octavius.data.tasks import (
    DEFAULT_TASKS,
    SYSTEM_PROMPTS,
    TASK_DEFINITIONS,
    normalize_task,
    task_id_map,
)
from octavius.data.templates import IGNORE_INDEX, BaseTemplate, EncodedConversation, build_template
from octavius.data.tokenizer import PLACEHOLDERS, load_tokenizer, placeholder_ids
from octavius.data.vicuna_v1 import VicunaV1

__all__ = [
    "DEFAULT_TASKS",
    "DETECTION_ANSWER_TEMPLATES",
    "IGNORE_INDEX",
    "LAMM_SYSTEM_MESSAGES",
    "PLACEHOLDERS",
    "SYSTEM_PROMPTS",
    "TASK_DEFINITIONS",
    "BaseTemplate",
    "Chat",
    "DataError",
    "EncodeConversation",
    "EncodedConversation",
    "InstructionDataPreprocessor",
    "InstructionDataset",
    "LAMM2DBenchmark",
    "LAMM3DBenchmark",
    "LAMMTemplate",
    "LoadInstructionImages",
    "LoadPointCloud",
    "MMEBenchmark",
    "MixtureDataset",
    "Plain",
    "RecordParser",
    "RetemplateDetectionAnswer",
    "ScienceQABenchmark",
    "SkipLog",
    "Turn",
    "VicunaV1",
    "build_chat_prompt",
    "build_template",
    "instruction_collate",
    "iter_annotation_file",
    "load_tokenizer",
    "normalize_task",
    "pad_sequences",
    "parse_detection_answer",
    "placeholder_ids",
    "task_id_map",
]
