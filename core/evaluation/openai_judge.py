"""A judge behind an OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp, a hosted API)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

__all__ = ["OpenAIJudge"]


class OpenAIJudge:
    """Sends each judge prompt as one user message to ``{base_url}/chat/completions``.

    Any server speaking the OpenAI chat-completions protocol works — e.g. Vicuna-13B-v1.5 served
    by vLLM (``base_url="http://localhost:8000/v1"``, ``model="lmsys/vicuna-13b-v1.5"``), the judge
    of MixLoRA appendix C. Decoding is greedy (``temperature=0``). Only the standard library is
    used.

    Args:
        base_url: The API root, ending in ``/v1`` for most servers.
        model: The model name the server expects.
        api_key_env: Environment variable holding the API key (sent as a Bearer token when set).
        max_tokens: Reply length ("Yes"/"No" needs very few).
        timeout: Seconds per request.
        system_prompt: Optional system message before each prompt.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        max_tokens: int = 8,
        timeout: float = 60.0,
        system_prompt: str | None = None,
    ) -> None:
        if not base_url or not model:
            raise ValueError("OpenAIJudge: base_url and model are required")
        if max_tokens < 1:
            raise ValueError("OpenAIJudge: max_tokens must be ≥ 1")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.max_tokens = max_tokens
        self.timeout = float(timeout)
        self.system_prompt = system_prompt

    def request_body(self, prompt: str) -> dict[str, Any]:
        """The JSON body sent for one prompt."""
        messages = [{"role": "user", "content": prompt}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": self.max_tokens,
        }

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read().decode())
        except (urllib.error.URLError, OSError) as err:
            raise ConnectionError(f"OpenAIJudge: request to {self.url} failed: {err}") from err

    def __call__(self, prompts: Sequence[str]) -> list[str]:
        """One reply per prompt (the first choice's message content)."""
        replies = []
        for prompt in prompts:
            data = self._post(self.request_body(prompt))
            try:
                replies.append(str(data["choices"][0]["message"]["content"]))
            except (KeyError, IndexError, TypeError) as err:
                raise ValueError(
                    f"OpenAIJudge: {self.url} answered without choices[0].message.content: {data}"
                ) from err
        return replies
