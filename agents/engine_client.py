"""Generate mode on an OpenAI-compatible engine: vLLM (`vllm serve`), or credo's own (agents/engine.py).

`EngineBackend` is an action backend: `act(prompts)` sends the token-id prompts in one `/v1/completions` request
(vLLM's OpenAI server, no re-tokenising: `return_tokens_as_token_ids`), forces full-distribution sampling
(top_p=1, top_k=-1) and keeps the returned token ids and their log-probs as the step's behaviour log-probs. The
learner does not trust them as the old policy's (a bf16 engine and a trainer differ: research/scale.md); with
`learner.behaviour_logprobs=recompute` it recomputes the old log-probs itself and uses the engine's only in a
truncated importance weight min(exp(old - behaviour), tis_cap), as verl and TRL do.

Why the OpenAI server and not vLLM's in-process engine: the engine then lives on GPU nodes of its own (or another
venv), several trainers or judges can share it, and the contract is testable against any server that speaks it.

Weights reach the engine behind the same `publish(weights, version)` as every `WeightPublisher`:
- `sync="http"` (credo's engine): one `POST /update_weights?version=N` with the trainable weights as safetensors;
- `sync="vllm_nccl"` (vLLM with `--weight-transfer-config '{"backend": "nccl"}'` and `VLLM_SERVER_DEV_MODE=1`):
  vLLM's native weight-transfer API, NCCL broadcast from the learner's rank 0 (GPU only; unmeasured here).
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
import torch

from agents.policy import ActionSample, Policy, parse_action
from agents.publish import StaleWeights, check_newer
from credo.config import ConfigError


class EngineBackend:
    """Acts for a generate-mode policy through an engine at `url` (module docstring)."""

    needs_weights = True

    def __init__(self, policy: Policy, url: str, *, model: str = "", timeout_s: float = 600.0,
                 sync: Literal["http", "vllm_nccl"] = "http", nccl_address: str = "",
                 engine_gpus: int = 1) -> None:
        if policy.config.mode != "generate":
            raise ConfigError("an engine acts in generate mode only (choose mode acts on scoring actors)")
        self.policy, self.model, self.sync = policy, model, sync
        self.url = url.rstrip("/").removesuffix("/v1")
        self.http = httpx.Client(timeout=timeout_s)
        self.version = 0
        """The weights version the engine serves (0: the checkpoint it loaded)."""
        self._vllm: Any = None
        if sync == "vllm_nccl":
            self._vllm = _vllm_trainer_engine(policy.model, self.url, nccl_address, engine_gpus)

    def act(self, prompts: list[list[int]], candidates: list[list[str]] | None = None,
            greedy: bool = False) -> list[ActionSample]:
        if not prompts:
            return []
        c = self.policy.config
        body = {"model": self.model, "prompt": [list(p) for p in prompts], "max_tokens": c.max_new_tokens,
                "temperature": 0.0 if greedy else c.temperature, "top_p": 1.0, "top_k": -1, "logprobs": 0,
                "return_tokens_as_token_ids": True, "skip_special_tokens": False}
        resp = self.http.post(f"{self.url}/v1/completions", json=body)
        if resp.status_code != 200:
            raise RuntimeError(f"engine {self.url}: HTTP {resp.status_code}: {resp.text[:300]}")
        choices = sorted(resp.json()["choices"], key=lambda ch: ch["index"])
        if len(choices) != len(prompts):
            raise RuntimeError(f"engine {self.url}: {len(choices)} completions for {len(prompts)} prompts")
        out = []
        for ch in choices:
            lp = ch.get("logprobs") or {}
            ids = [int(str(t).rsplit(":", 1)[1]) for t in lp.get("tokens", [])]
            token_lps = [float(x) for x in lp.get("token_logprobs", [])]
            if len(ids) != len(token_lps):
                raise RuntimeError(f"engine {self.url}: token ids and log-probs differ in length")
            raw = self.policy.tokenizer.decode(ids, skip_special_tokens=True)
            action = parse_action(raw)
            out.append(ActionSample(action or "", ids, float(sum(token_lps)), token_lps, action is not None, raw))
        return out

    def publish(self, weights: dict[str, torch.Tensor], version: int) -> None:
        """The engine serves `weights` as `version` from its next request on."""
        check_newer(version, self.version, "publish")
        if self._vllm is not None:
            self._vllm.send_weights()
        else:
            from safetensors.torch import save

            data = save({k: v.detach().to("cpu").contiguous() for k, v in weights.items()})
            resp = self.http.post(f"{self.url}/update_weights", params={"version": version}, content=data,
                                  headers={"Content-Type": "application/octet-stream"})
            if resp.status_code == 409:
                raise StaleWeights(resp.json()["error"]["message"])
            if resp.status_code != 200:
                raise RuntimeError(f"engine {self.url}: weight update failed: HTTP {resp.status_code}: "
                                   f"{resp.text[:300]}")
        self.version = version

    def close(self) -> None:
        self.http.close()


def _vllm_trainer_engine(model: Any, url: str, address: str, engine_gpus: int) -> Any:
    """vLLM's trainer-side NCCL weight-transfer engine over its HTTP control plane (rank 0 sends; the engine's
    workers sit at ranks 1..engine_gpus). LoRA adapters would need vLLM's adapter API: refused for now."""
    if hasattr(model, "peft_config"):
        raise ConfigError("engine.sync=vllm_nccl sends full weights; a LoRA policy is not supported there yet")
    try:
        from vllm.distributed.weight_transfer.base import ModuleSource
        from vllm.distributed.weight_transfer.clients import HTTPVLLMWeightSyncClient
        from vllm.distributed.weight_transfer.factory import WeightTransferTrainerFactory
        from vllm.distributed.weight_transfer.nccl_engine import NCCLTrainerInitInfo
    except ImportError as err:
        raise ConfigError(f"engine.sync=vllm_nccl needs vLLM's weight-transfer API (pip install 'credo[vllm]'): "
                          f"{err}") from None
    host, port = address.rsplit(":", 1)
    info = NCCLTrainerInitInfo(master_address=host, master_port=int(port), world_size=1 + engine_gpus, rank=0)
    return WeightTransferTrainerFactory.trainer_init(info, client=HTTPVLLMWeightSyncClient(url),
                                                     source=ModuleSource(model))
