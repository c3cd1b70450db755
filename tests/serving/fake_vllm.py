"""A small fake of a vLLM OpenAI-compatible server with runtime LoRA updating enabled.

It implements what openft relies on: ``POST /v1/load_lora_adapter`` / ``unload_lora_adapter``
(vLLM's bodies and answers, including "already loaded"), and ``POST /v1/chat/completions``
(plain and streamed) for the served base name and loaded adapters, answering
``"<model> says hi"``. Errors use vLLM's shape (integer ``code``, ``type`` like
``NotFoundError``). :meth:`FakeVLLM.restart` forgets the adapters, as a real restart does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse


def _error(status: int, message: str, type_: str) -> JSONResponse:
    return JSONResponse({"object": "error", "message": message, "type": type_, "param": None, "code": status},
                        status_code=status)


@dataclass
class FakeVLLM:
    served_name: str
    loras: dict[str, str] = field(default_factory=dict)
    loads: list[dict[str, Any]] = field(default_factory=list)
    unloads: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def restart(self) -> None:
        self.loras.clear()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/load_lora_adapter")
        async def load(request: Request) -> Any:
            body = await request.json()
            self.loads.append(body)
            name, path = body["lora_name"], body["lora_path"]
            if name in self.loras:
                return _error(400, f"The lora adapter '{name}' has already been loaded.", "BadRequestError")
            if not (Path(path) / "adapter_config.json").is_file():
                return _error(400, f"No adapter found for {path}", "BadRequestError")
            self.loras[name] = path
            return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

        @app.post("/v1/unload_lora_adapter")
        async def unload(request: Request) -> Any:
            name = (await request.json())["lora_name"]
            self.unloads.append(name)
            if self.loras.pop(name, None) is None:
                return _error(404, f"The lora adapter '{name}' cannot be found.", "NotFoundError")
            return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            model = body["model"]
            if model != self.served_name and model not in self.loras:
                return _error(404, f"The model `{model}` does not exist.", "NotFoundError")
            if (body.get("max_tokens") or 0) > 1000:
                return _error(400, "max_tokens is too large for this model.", "BadRequestError")
            words = f"{model} says hi".split(" ")
            created = int(time.time())
            usage = {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)}
            if not body.get("stream"):
                return {"id": "chatcmpl-fake", "object": "chat.completion", "created": created, "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words),
                                                             "tool_calls": [], "reasoning_content": None},
                                     "logprobs": None, "finish_reason": "stop", "stop_reason": None}],
                        "usage": usage, "prompt_logprobs": None}

            def events() -> Iterator[bytes]:
                base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": model}
                pieces = [{"role": "assistant", "content": ""}] + [
                    {"content": w if i == 0 else " " + w} for i, w in enumerate(words)]
                for delta in pieces:
                    yield b"data: " + json.dumps({**base, "choices": [
                        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]}).encode() + b"\n\n"
                yield b"data: " + json.dumps({**base, "choices": [
                    {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}).encode() + b"\n\n"
                if (body.get("stream_options") or {}).get("include_usage"):
                    yield b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n"
                yield b"data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        @app.post("/v1/completions")
        async def completions(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            model = body["model"]
            if model != self.served_name and model not in self.loras:
                return _error(404, f"The model `{model}` does not exist.", "NotFoundError")
            text = f"{model} continues {body['prompt']!r}"
            return {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "length",
                                 "stop_reason": None, "prompt_logprobs": None}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
                    "system_fingerprint": None}

        return app


def serve(fake: FakeVLLM, port: int) -> Iterator[FakeVLLM]:
    """Run ``fake`` with uvicorn on ``port`` in a thread until the generator is closed."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake vLLM did not start")
        time.sleep(0.02)
    fake.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(10)
