"""Inference: answers through Hugging Face ``generate``, chat, per-request routing, routing reports.

- :func:`generate_batch` (``MultimodalLLM.generate``) — a batch of prompts, any decoding strategy
  of ``transformers``, routing decided once per sample from its prompt, pins, merge-for-batch;
- :func:`chat` / :func:`stream_chat` (``MultimodalLLM.chat``) — one message with its image, point
  cloud and history;
- :class:`InferenceRequest` / :func:`build_batch` — requests to a model batch;
- :class:`PinnedRouting` — experts and weights fixed by a request;
- :func:`load_for_inference` — a model from a config + checkpoint or a saved directory.
"""

from octavius.inference.chat import ChatResponse, chat, stream_chat
from octavius.inference.generate import generate_batch, generation_config_for, seeded
from octavius.inference.loading import load_for_inference
from octavius.inference.pinning import PinnedRouting, parse_pin, pin_routers
from octavius.inference.prompting import encode_chat_template_prompt, encode_prompt
from octavius.inference.requests import InferenceRequest, build_batch
from octavius.inference.routing_report import AnswerRoutingRecorder

__all__ = [
    "AnswerRoutingRecorder",
    "ChatResponse",
    "InferenceRequest",
    "PinnedRouting",
    "build_batch",
    "chat",
    "encode_chat_template_prompt",
    "encode_prompt",
    "generate_batch",
    "generation_config_for",
    "load_for_inference",
    "parse_pin",
    "pin_routers",
    "seeded",
    "stream_chat",
]
