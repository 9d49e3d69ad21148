"""A scripted OpenAI-compatible upstream and a thread runner, for tests and benchmarks (loopback only).

`ScriptedUpstream` answers `/v1/chat/completions` and `/v1/completions` like an LLM server would, by rule:
an ONI classification prompt gets `<label>FOO</label>` when the rated message contains one of
`helpful_words`, else `<label>BAR</label>`; a ranking prompt prefers the description with more of them; anything
else gets `Score: 5`. Its `mode` turns it into a faulty server ("error": HTTP 500, "hang": never answers in time,
"garbage": replies with no label, "not-openai": a 200 that is not a completion at all, "bad-json": a 200 declared
`application/json` whose body is not JSON; `fail_next`: the next few requests fail, then it recovers), and `latency_s` adds a fixed delay per request, as a batched LLM server has.
`per_prompt_s` adds a delay per prompt of the request and `serial=True` answers one request at a time: an LLM
server on one accelerator, whose throughput is bounded (benchmarks compare judge replicas with it).
It counts requests and prompts, and keeps the last request body, so tests can check batching, de-duplication
and the parameters sent.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

_MESSAGE = re.compile(r'Message to rate: \{"(.*)"\}')
_DESCRIPTION = re.compile(r'\{"description_([12])": "(.*)"\}')


class ScriptedUpstream:
    """A rule-based stand-in for an LLM server (see the module docstring)."""

    def __init__(self, helpful_words: tuple[str, ...] = ("gold", "kill", "staircase", "welcome to experience"),
                 latency_s: float = 0.0, mode: str = "ok", model: str = "scripted-llm", per_prompt_s: float = 0.0,
                 serial: bool = False):
        self.helpful_words, self.latency_s, self.mode, self.model = helpful_words, latency_s, mode, model
        self.per_prompt_s = per_prompt_s
        self._busy: asyncio.Lock | None = None  # made in the server's event loop on first use
        self.serial = serial
        self.requests = 0
        self.prompts = 0
        self.fail_next = 0
        """The next `fail_next` requests fail with `fail_status` (and Retry-After: 0), then it recovers."""
        self.fail_status = 429
        self.last_body: dict[str, Any] = {}
        self.app = self._build()

    def helpful(self, text: str) -> int:
        return sum(w in text.lower() for w in self.helpful_words)

    def reply(self, prompt: str) -> str:
        if self.mode == "garbage":
            return "I like turtles. The weather is nice today."
        if m := _MESSAGE.search(prompt):
            label = "FOO" if self.helpful(m.group(1)) else "BAR"
            return f"<knowledge>NetHack is a roguelike.</knowledge> <analysis>...</analysis> <label>{label}</label>"
        found = dict(_DESCRIPTION.findall(prompt))
        if found:
            a, b = self.helpful(found.get("1", "")), self.helpful(found.get("2", ""))
            best = "1" if a > b else "2" if b > a else "None"
            return f'Both are short. ("best_description": {best})'
        return "This step is fine. Score: 5"

    def _build(self) -> FastAPI:
        app = FastAPI()

        async def answer(prompts: list[str]) -> Response | None:
            self.requests += 1
            self.prompts += len(prompts)
            if self.mode == "hang":
                await asyncio.sleep(3600)
            delay = self.latency_s + self.per_prompt_s * len(prompts)
            if delay and self.serial:
                self._busy = self._busy or asyncio.Lock()
                async with self._busy:
                    await asyncio.sleep(delay)
            elif delay:
                await asyncio.sleep(delay)
            if self.mode == "error":
                return JSONResponse({"error": {"message": "scripted failure", "type": "server_error"}}, 500)
            if self.mode == "not-openai":
                return PlainTextResponse("<html>502 proxy says hello</html>")
            if self.mode == "bad-json":
                return Response("<html>502 proxy says hello</html>", media_type="application/json")
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"error": {"message": "scripted transient failure", "type": "rate_limit"}},
                                    self.fail_status, headers={"Retry-After": "0"})
            return None

        @app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "x"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Any:
            body = self.last_body = await request.json()
            prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
            if (err := await answer([prompt])) is not None:
                return err
            choices = [{"index": i, "message": {"role": "assistant", "content": self.reply(prompt)},
                        "finish_reason": "stop"} for i in range(body.get("n", 1))]
            return {"id": "x", "object": "chat.completion", "created": 0, "model": self.model, "choices": choices}

        @app.post("/v1/completions")
        async def completions(request: Request) -> Any:
            body = self.last_body = await request.json()
            prompts = [body["prompt"]] if isinstance(body["prompt"], str) else body["prompt"]
            if (err := await answer(prompts)) is not None:
                return err
            n = body.get("n", 1)
            choices = [{"index": i * n + j, "text": self.reply(p), "finish_reason": "stop", "logprobs": None}
                       for i, p in enumerate(prompts) for j in range(n)]
            return {"id": "x", "object": "text_completion", "created": 0, "model": self.model, "choices": choices}

        return app


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` with uvicorn on a loopback port (0: a free one) in a daemon thread; yields its base URL."""
    import uvicorn

    from llm_judges.server import bind

    sock = bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    for _ in range(400):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.025)
    if not server.started:
        raise RuntimeError("test server did not start within 10 s")
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
