"""The annotator server (`credo judge serve`): FastAPI in front of one judge back-end.

Endpoints (all errors are OpenAI-shaped, `{"error": {"message": <one line>, "type": ..., "code": <status>}}`):
- `POST /v1/annotate` `{"rubric": name, "items": [text | [text, text], ...]}` -> `{"labels": [...], "errors": [...]}`:
  `labels[i]` is `{"value", "raw", "cached"}` or null; `errors` lists `{"index", "message", "retryable"}` for the
  nulls. Status 200 when every item is labelled; otherwise 503 with `Retry-After` if any error is retryable (the
  back-end is slow or down: ask again, labelled items then come from the store), 422 when every error is a
  malformed item (not valid Unicode text; the other items are still labelled), else 502.
- `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models`: the OpenAI protocol, so the official
  `openai` client works against the server unchanged (no streaming; unsupported sampling options are ignored).
- `GET /health`, `GET /metrics` (Prometheus), both without auth.
Bad input is 400 (413 when too large, 401 for a wrong API key, 404 for an unknown model or rubric).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ConfigDict, Field

from credo.config import Config, ConfigError
from llm_judges.base import Judge, JudgeError, UpstreamError
from llm_judges.config import JudgeConfig, ServeConfig
from llm_judges.metrics import JudgeMetrics
from llm_judges.rubrics import load_rubrics
from llm_judges.service import AnnotationService, ItemError
from llm_judges.store import LabelStore

log = logging.getLogger(__name__)

_ENDPOINTS = {"/v1/annotate", "/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"}


class ApiError(Exception):
    """An HTTP error with a one-line reason."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.headers = status, message, kind, headers or {}


class AnnotateRequest(Config):
    rubric: str = Field(..., min_length=1, description="Name of the rubric to label with.")
    items: list[str | tuple[str, str]] = Field(..., min_length=1, description="Texts, or [text, text] pairs.")
    timeout_s: float | None = Field(None, gt=0, description="Wait at most this long (capped by the server's).")


class ChatMessage(Config):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(str(part.get("text", "")) for part in self.content)


class _Sampling(Config):
    model_config = ConfigDict(extra="ignore")  # OpenAI options the back-ends do not use (top_p, seed...) are ignored
    model: str = Field(..., description="Must be the served model id.")
    n: int = Field(1, ge=1, le=128)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    stream: bool = False


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    response_format: dict[str, Any] | None = None


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    max_tokens: int = Field(16, ge=1)  # OpenAI's default for legacy completions


def judge_id(config: JudgeConfig) -> str:
    """What identifies the back-end's labels in the store (changing it never serves stale labels)."""
    where = config.base_url if config.backend == "openai" else ""
    return f"{config.backend}|{config.model}|{where}|{config.api}|{config.prompt_format}|strict={config.strict}"


def create_app(config: ServeConfig, judge: Judge | None = None) -> FastAPI:
    """The server app; `judge` (default: built from `config.judge`) and the store open at start-up."""
    metrics = JudgeMetrics()
    state: dict[str, Any] = {}
    if config.rubrics_file:
        load_rubrics(config.rubrics_file)  # a bad file is a one-line ConfigError before anything starts

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        from llm_judges.backends import make_judge

        backend = judge or make_judge(config.judge)
        store = LabelStore(config.store or Path("runs") / config.name / "labels.sqlite")
        state["service"] = AnnotationService(backend, store, config, metrics, judge_id(config.judge))
        state["judge"], state["store"] = backend, store
        yield
        await state["service"].aclose()
        if judge is None:
            await backend.aclose()
        store.close()

    app = FastAPI(title="credo judge", lifespan=lifespan)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError) -> JSONResponse:
        return JSONResponse({"error": {"message": err.message, "type": err.kind, "code": err.status}},
                            status_code=err.status, headers=err.headers)

    @app.middleware("http")
    async def _count(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        path = request.url.path if request.url.path in _ENDPOINTS else "other"  # bounded label cardinality
        metrics.requests.labels(path, str(response.status_code)).inc()
        return response

    def authorize(request: Request) -> None:
        """The one accepted form is `Authorization: Bearer <key>` (RFC 6750; the scheme's case is free, RFC 7235):
        what the `openai` client and `JudgeClient` send. A bare key or another scheme is refused, so a key never
        travels in a form a proxy or log would not treat as a credential."""
        if not config.api_key:
            return
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), config.api_key.encode()):
            raise ApiError(401, "invalid or missing API key (send `Authorization: Bearer <key>`)",
                           "authentication_error")

    async def read(request: Request, model: type[Config]) -> Any:
        """Authorize, read a body of bounded size, and validate it into `model` (one-line 4xx otherwise)."""
        authorize(request)
        limit = config.max_request_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ApiError(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, "request body is not valid JSON") from None
        except RecursionError:  # `[[[[...` thousands deep: the parser's recursion limit, not a server fault
            raise ApiError(400, "request body is nested too deeply") from None
        if not isinstance(data, dict):
            raise ApiError(400, "request body must be a JSON object")
        try:
            return model.build(data, source="request")
        except ConfigError as err:
            raise ApiError(400, str(err)) from None

    def check_model(name: str) -> None:
        if name != config.served_model:
            raise ApiError(404, f"model {name!r} is not served here; GET /v1/models lists {config.served_model!r}",
                           "not_found_error")

    async def upstream(call: Any) -> Any:
        try:
            return await call
        except UpstreamError as err:
            raise ApiError(503, str(err), "upstream_error", {"Retry-After": str(config.retry_after_s)}) from None
        except JudgeError as err:
            raise ApiError(400, str(err)) from None
        except Exception as err:  # a back-end bug: one line to the client (as /v1/annotate does), the trace to the log
            log.exception("back-end call failed")
            raise ApiError(502, f"the back-end failed: {type(err).__name__}: {err}", "upstream_error") from None

    @app.post("/v1/annotate")
    async def annotate(request: Request) -> JSONResponse:
        req = await read(request, AnnotateRequest)
        if len(req.items) > config.max_items:
            raise ApiError(413, f"{len(req.items)} items exceed the limit of {config.max_items} per request")
        for i, item in enumerate(req.items):
            if max(map(len, [item] if isinstance(item, str) else item)) > config.max_item_chars:
                raise ApiError(413, f"items.{i}: longer than the limit of {config.max_item_chars} characters")
        timeout = min(req.timeout_s or config.request_timeout_s, config.request_timeout_s)
        try:
            answers = await state["service"].annotate(list(req.items), req.rubric, timeout)
        except KeyError as err:
            raise ApiError(404, err.args[0], "not_found_error") from None
        except ValueError as err:
            raise ApiError(400, str(err)) from None
        labels = [None if isinstance(a, ItemError) else {"value": a.value, "raw": a.raw, "cached": a.cached}
                  for a in answers]
        failed = [(i, a) for i, a in enumerate(answers) if isinstance(a, ItemError)]
        errors = [{"index": i, "message": a.message, "retryable": a.retryable} for i, a in failed]
        body = {"rubric": req.rubric, "labels": labels, "errors": errors}
        if not errors:
            return JSONResponse(body)
        if any(a.retryable for _, a in failed):
            return JSONResponse(body, 503, headers={"Retry-After": str(config.retry_after_s)})
        return JSONResponse(body, 422 if all(a.invalid for _, a in failed) else 502)

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        authorize(request)
        return {"object": "list", "data": [{"id": config.served_model, "object": "model", "created": 0,
                                            "owned_by": f"credo ({config.judge.backend} back-end)"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        req = await read(request, ChatRequest)
        check_model(req.model)
        if req.stream:
            raise ApiError(400, "stream=true is not supported by the credo judge server")
        json_mode = bool(req.response_format and req.response_format.get("type") == "json_object")
        replies = await upstream(state["judge"].complete(
            [{"role": m.role, "content": m.text()} for m in req.messages], n=req.n, temperature=req.temperature,
            max_tokens=req.max_completion_tokens or req.max_tokens or 1024, json_mode=json_mode))
        metrics.upstream_calls.inc()
        choices = [{"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                   for i, text in enumerate(replies)]
        return _completion("chat.completion", config.served_model, choices)

    @app.post("/v1/completions")
    async def completions(request: Request) -> dict[str, Any]:
        req = await read(request, CompletionRequest)
        check_model(req.model)
        if req.stream:
            raise ApiError(400, "stream=true is not supported by the credo judge server")
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if not prompts:
            raise ApiError(400, "request: prompt: must not be empty")
        replies = await upstream(state["judge"].complete_text(prompts, n=req.n, temperature=req.temperature,
                                                              max_tokens=req.max_tokens))
        metrics.upstream_calls.inc()
        choices = [{"index": i * req.n + j, "text": text, "finish_reason": "stop", "logprobs": None}
                   for i, texts in enumerate(replies) for j, text in enumerate(texts)]
        return _completion("text_completion", config.served_model, choices)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        service: AnnotationService = state["service"]
        return {"status": "ok", "backend": config.judge.backend, "model": config.judge.model,
                "labels_stored": len(state["store"]), "queue_depth": service.queue_depth}

    @app.get("/metrics")
    async def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.state.metrics = metrics
    return app


def _completion(kind: str, model: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"cmpl-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()), "model": model,
            "choices": choices, "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


def bind(host: str, port: int) -> Any:
    """A listening socket on host:port (port 0: any free port), so the real URL is known before serving."""
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def serve(config: ServeConfig, judge: Judge | None = None, on_ready: Any = None) -> JudgeMetrics:
    """Run the server until interrupted; `on_ready(url)` is called once it listens. Returns its metrics."""
    import asyncio
    import contextlib

    import uvicorn

    sock = bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{host}:{port}"
    app = create_app(config, judge)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started and on_ready is not None:
            on_ready(url)
        await task

    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled; the stop is normal
        asyncio.run(main())
    return app.state.metrics
