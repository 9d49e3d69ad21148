"""A small OpenAI-compatible generation engine served by credo: vLLM's token-id contract on credo's own sampler.

Generate mode can act through any engine that speaks vLLM's `/v1/completions` contract (agents/engine_client.py):
token-id prompts in, sampled token ids (`logprobs.tokens` as "token_id:N" with `return_tokens_as_token_ids`) and
their log-probs out. On a GPU box that engine is vLLM itself (`vllm serve`). This one serves a `Policy` through
credo's KV-cached sampler with the same contract, plus a weight-update endpoint, so that the engine path runs and
is tested where vLLM cannot (CPU-only machines, CI), and so a CPU user can split acting from learning.

    POST /v1/completions     {"prompt": [[ids...], ...], "max_tokens", "temperature", "top_p": 1, "top_k": -1|0,
                              "logprobs": 0, "return_tokens_as_token_ids": true}
    POST /update_weights?version=N   body: safetensors bytes of the trainable weights (409 when N is not newer)
    GET  /health             {"status": "ok", "version": N}

Only full-distribution sampling is served (top_p=1, no top-k): truncated sampling biases the log-probs the learner
compares against (research/scale.md, "Rollout vs trainer log-probs").
"""

from __future__ import annotations

import threading
from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from agents.policy import Policy
from agents.publish import StaleWeights, check_newer, trainable_weights
from credo.config import Config


class CompletionRequest(Config):
    """The fields of vLLM's completions request that the token-id contract uses (others are refused)."""

    model: str = Field("", description="Served model name (ignored: one model).")
    prompt: list[list[int]] | list[int] = Field(..., description="Token-id prompt(s).")
    max_tokens: int = Field(16, ge=1, description="Most tokens generated per prompt.")
    temperature: float = Field(1.0, ge=0, description="Sampling temperature (0: greedy).")
    top_p: float = Field(1.0, description="Must be 1: the full distribution.")
    top_k: int = Field(-1, description="Must be -1 or 0: no top-k.")
    logprobs: int | None = Field(0, description="0: the sampled tokens' log-probs only.")
    return_tokens_as_token_ids: bool = Field(True, description="Tokens as 'token_id:N'.")
    n: int = Field(1, ge=1, le=1, description="One sample per prompt.")
    skip_special_tokens: bool = Field(True, description="Text only; the token ids are returned either way.")


def create_engine_app(policy: Policy) -> FastAPI:
    """The FastAPI app of the engine (module docstring); requests are served one at a time."""
    if policy.config.mode != "generate":
        raise ValueError("the engine serves a generate-mode policy")
    app = FastAPI(title="credo engine")
    lock = threading.Lock()
    state = {"version": 0}

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        try:
            req = CompletionRequest.build(await request.json(), source="request")
        except ValueError as err:
            return error(400, str(err))
        if req.top_p != 1.0 or req.top_k not in (-1, 0):
            return error(400, "request: the credo engine samples the full distribution only (top_p=1, top_k=-1)")
        prompts = [req.prompt] if req.prompt and isinstance(req.prompt[0], int) else req.prompt
        if not prompts or any(not p for p in prompts):
            return error(400, "request: prompt: every prompt needs at least one token id")
        if any(t < 0 or t >= policy.vocab_size for p in prompts for t in p):
            return error(400, f"request: prompt: token ids must lie in [0, {policy.vocab_size})")
        greedy = req.temperature == 0
        with lock:
            saved = policy.config
            policy.config = saved.model_copy(update={"max_new_tokens": req.max_tokens,
                                                     **({} if greedy else {"temperature": req.temperature})})
            try:
                samples = policy.act([list(p) for p in prompts], greedy=greedy)
            finally:
                policy.config = saved
        choices = []
        for i, s in enumerate(samples):
            finish = "stop" if s.action_ids and s.action_ids[-1] == policy.eos_id else "length"
            choices.append({"index": i, "text": s.raw, "finish_reason": finish,
                            "logprobs": {"tokens": [f"token_id:{t}" for t in s.action_ids],
                                         "token_logprobs": s.token_logprobs}})
        return {"object": "text_completion", "model": req.model, "choices": choices}

    @app.post("/update_weights")
    async def update_weights(request: Request, version: int) -> Any:
        from safetensors.torch import load

        try:
            weights = load(await request.body())
        except Exception as err:  # noqa: BLE001  (any unreadable body is the client's error)
            return error(400, f"update_weights: body is not safetensors: {type(err).__name__}")
        with lock:
            try:
                check_newer(version, state["version"], "update_weights")
            except StaleWeights as err:
                return error(409, str(err))
            mine = trainable_weights(policy.model)
            if set(weights) != set(mine):
                return error(400, f"update_weights: {len(set(weights) ^ set(mine))} weight names differ from "
                                  "the served model's trainable weights")
            with torch.no_grad():
                for name, t in weights.items():
                    mine[name].copy_(t)
            state["version"] = version
        return {"version": version}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": state["version"]}

    return app
