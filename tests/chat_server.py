"""OpenAI-compatible chat servers for the tests, run by uvicorn on a free loopback port: the
embedded Qwen (CTranslate2) behind ``POST /v1/chat/completions``, as llama.cpp's server or vLLM
would serve a model, and small apps that misbehave the ways real servers do."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from dubengine.backends.mt_llm_ct2 import END_TOKENS, chatml
from fastapi import FastAPI
from fastapi.responses import JSONResponse


def qwen_app(translator: Any) -> FastAPI:
    """Chat completions from the embedded translator's own model (``translator`` is the
    session's ``LlmTranslator``: its generator and tokenizer, not its prompts)."""
    generator, tokenizer = translator._generator, translator._tokenizer
    app = FastAPI()
    app.state.requests = 0

    @app.post("/v1/chat/completions")
    def complete(body: dict[str, Any]) -> dict[str, Any]:
        app.state.requests += 1
        prompt = chatml(body["messages"]) + "<|im_start|>assistant\n"
        tokens = tokenizer.encode(prompt, add_special_tokens=False).tokens
        n = int(body.get("n", 1))
        result = generator.generate_batch(
            [tokens],
            max_length=int(body.get("max_tokens", 256)),
            beam_size=n,
            num_hypotheses=n,
            end_token=END_TOKENS,
            include_prompt_in_result=False,
        )[0]
        choices = [
            {
                "index": i,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": tokenizer.decode(ids, skip_special_tokens=True),
                },
            }
            for i, ids in enumerate(result.sequences_ids)
        ]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "model": body["model"],
            "choices": choices,
        }

    return app


def misbehaving_app(kind: str) -> FastAPI:
    """``slow`` (answers after 3 s), ``error`` (500), ``refused`` (400), ``flaky`` (503 once,
    then a real-looking answer), ``garbled`` (JSON that is not a completion)."""
    app = FastAPI()
    app.state.requests = 0

    @app.post("/v1/chat/completions")
    def complete(body: dict[str, Any]) -> Any:
        app.state.requests += 1
        if kind == "slow":
            time.sleep(3)
        if kind == "error" or (kind == "flaky" and app.state.requests == 1):
            return JSONResponse(
                {"error": "model crashed"}, status_code=500 if kind == "error" else 503
            )
        if kind == "refused":
            return JSONResponse({"error": {"message": "unknown model"}}, status_code=400)
        if kind == "garbled":
            return {"result": "hola"}
        return {"choices": [{"message": {"role": "assistant", "content": "Hola."}}]}

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app served on loopback; yields its API root (``http://127.0.0.1:PORT/v1``)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "chat server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
