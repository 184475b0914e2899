"""Translator: a local OpenAI-compatible chat server (Ollama, vLLM, llama.cpp's server, LM
Studio) through ``POST {base_url}/chat/completions``, with the embedded translator's prompts,
length budgets, retries and shortening (``dubengine.toolkit.chat``).

Only loopback addresses are asked by default (a dub's lines go to that server); a server on
a trusted network is named in ``trusted_networks``. A server that is down, slow or answering
errors fails the job with ``processing_failed`` and a reason that names the URL.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx

from dubengine.toolkit import InvalidOption, ProcessingFailed, Progress, ProgressEvent, no_progress
from dubengine.toolkit.budget import clean_translation
from dubengine.toolkit.chat import ChatTranslator, Message

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class OpenAITranslator(ChatTranslator):
    """Translates through a chat-completions server.

    Args:
        base_url: the server's API root, e.g. "http://127.0.0.1:11434/v1" (Ollama).
        model: the model name the server knows, e.g. "qwen2.5:7b-instruct".
        api_key_env: environment variable holding the API key, sent as a bearer token when
            set (local servers need none).
        timeout: seconds one request may take.
        request_retries: times a request that failed (connection, timeout, 429, 5xx) is
            tried again, waiting 1 s, 2 s, ... between.
        retries: times an over-budget line is asked again, shorter.
        concurrency: requests in flight at once.
        trusted_networks: CIDRs besides loopback that ``base_url`` may resolve to.
    """

    devices = ("the server's",)
    weights = "the server's: model=NAME"

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:11434/v1",
        model: str = "qwen2.5:7b-instruct",
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 120.0,
        request_retries: int = 2,
        retries: int = 3,
        concurrency: int = 4,
        trusted_networks: Sequence[str] | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        check_address(base_url, trusted_networks or ())
        self.model, self.timeout, self.retries = model, timeout, retries
        self.request_retries, self.concurrency = request_retries, max(1, concurrency)
        key = os.environ.get(api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers, trust_env=False)

    def complete(
        self,
        static: list[Message],
        prompts: list[list[Message]],
        budgets: list[int],
        progress: Progress = no_progress,
        stage: str = "shorten",
        hypotheses: int = 1,
    ) -> list[list[str]]:
        def one(i: int) -> list[str]:
            return self._ask(static + prompts[i], 2 * budgets[i] + 16, hypotheses)

        answers = []
        with ThreadPoolExecutor(self.concurrency) as pool:  # progress from this thread, in order
            for answer in pool.map(one, range(len(prompts))):
                answers.append(answer)
                progress(ProgressEvent(stage, len(answers), len(prompts)))
        return answers

    def close(self) -> None:
        self._client.close()

    def _ask(self, messages: list[Message], max_tokens: int, n: int) -> list[str]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": min(256, max_tokens),
            "temperature": 0.0,
        }
        if n > 1:  # several candidates: sampled (a server that ignores n gives one)
            body |= {"n": n, "temperature": 0.7}
        answer = self._post(body)
        try:
            texts = [clean_translation(c["message"]["content"] or "") for c in answer["choices"]]
        except (KeyError, TypeError, IndexError):
            raise ProcessingFailed(
                f"the translator server {self.url} answered something that is not a chat "
                f"completion: {str(answer)[:200]}"
            ) from None
        if not texts:
            raise ProcessingFailed(f"the translator server {self.url} answered no choices")
        return texts

    def _post(self, body: dict[str, Any]) -> Any:
        reason = ""
        for attempt in range(self.request_retries + 1):
            if attempt:
                time.sleep(attempt)
            try:
                response = self._client.post(self.url, json=body)
            except httpx.TimeoutException:
                reason = f"did not answer within {self.timeout:g} s"
                continue
            except httpx.HTTPError as exc:
                reason = f"cannot be reached ({type(exc).__name__}: {exc})"
                continue
            if response.status_code in RETRY_STATUSES:
                reason = f"answered {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code >= 400:
                status, text = response.status_code, response.text[:200]
                raise ProcessingFailed(
                    f"the translator server {self.url} answered {status}: {text}"
                )
            try:
                return response.json()
            except ValueError:
                raise ProcessingFailed(
                    f"the translator server {self.url} answered something that is not JSON"
                ) from None
        tries = self.request_retries + 1
        raise ProcessingFailed(f"the translator server {self.url} {reason} ({tries} tries)")


def check_address(base_url: str, trusted: Sequence[str]) -> None:
    """``base_url`` is http(s) and resolves only to loopback or ``trusted`` networks."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidOption(f"translator base_url must be an http(s) URL, not {base_url!r}")
    try:
        networks = [ipaddress.ip_network(n, strict=False) for n in trusted]
    except ValueError as exc:
        raise InvalidOption(f"translator trusted_networks: {exc}") from None
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise InvalidOption(f"translator base_url {base_url!r}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_loopback and not any(address in n for n in networks):
            raise InvalidOption(
                f"translator base_url {base_url!r} resolves to {address}, which is not a "
                "loopback address; name its network in trusted_networks if it is trusted"
            )
