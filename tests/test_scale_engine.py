"""Generate mode on an OpenAI-compatible engine (credo's engine: vLLM's token-id/log-prob contract): the recorded
log-probs equal the learner's recompute and the truncated importance weight is 1; weights published to the engine
are served from the next request; stale versions and truncated sampling are refused."""

from __future__ import annotations

import httpx
import pytest
import torch

from agents.engine import create_engine_app
from agents.engine_client import EngineBackend
from agents.learner import Learner, LearnerConfig
from agents.policy import Policy
from agents.publish import StaleWeights, trainable_weights
from credo.trajectory import Step
from llm_judges.testing import serve_in_thread
from tests._agent_helpers import line_policy

TEXTS = ["goal 3 east", "goal 1 west", "goal here", "goal 2 east", "goal 3 east"]


@pytest.fixture(scope="module")
def served(cache_dir, tmp_path_factory):
    """The learner's generate-mode policy and an engine serving a separate copy of the same weights."""
    policy = line_policy(cache_dir, mode="generate", max_new_tokens=8)
    folder = tmp_path_factory.mktemp("engine") / "policy"
    policy.save(folder)
    engine_policy = Policy.load(folder)
    with serve_in_thread(create_engine_app(engine_policy)) as url:
        yield policy, engine_policy, url


def _steps(policy: Policy, backend: EngineBackend) -> list[Step]:
    prompts = [policy.tokenizer(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    samples = backend.act(prompts)
    assert len(samples) == len(prompts) and all(s.action_ids for s in samples)
    return [Step(episode_id=f"e{i}", group_id="g", step_index=0, observation=t, prompt_ids=p,
                 action_ids=s.action_ids, action_text=s.text, logprob=s.logprob, token_logprobs=s.token_logprobs)
            for i, (t, p, s) in enumerate(zip(TEXTS, prompts, samples, strict=True))]


def _recompute_gap(policy: Policy, steps: list[Step]) -> float:
    with torch.no_grad():
        ev = policy.evaluate(steps)
    return max(float((lp - torch.tensor(s.token_logprobs)).abs().max()) for lp, s in zip(ev.token_logprobs, steps,
                                                                                            strict=True))


def test_engine_logprobs_equal_the_learners_recompute_and_the_weight_is_one(served):
    policy, _, url = served
    backend = EngineBackend(policy, url)
    steps = _steps(policy, backend)
    assert _recompute_gap(policy, steps) < 1e-5
    learner = Learner(policy, LearnerConfig(behaviour_logprobs="recompute", epochs=1))
    before = {k: v.detach().clone() for k, v in trainable_weights(policy.model).items()}
    stats = learner.update(steps, [1.0, -1.0, 0.5, 0.0, 1.0])
    assert stats["behaviour_kl"] < 1e-8 and stats["tis_clip_frac"] == 0.0  # exp(old - behaviour) == 1
    assert any(not torch.equal(v, before[k]) for k, v in trainable_weights(policy.model).items())

    # the learner has moved on, the engine has not: its log-probs are now behaviour, not old, log-probs
    stale = _steps(policy, backend)
    assert _recompute_gap(policy, stale) > 1e-4
    stats = Learner(policy, LearnerConfig(behaviour_logprobs="recompute", epochs=1)).update(stale, [1.0] * 5)
    assert stats["behaviour_kl"] > 1e-8

    backend.publish(trainable_weights(policy.model), 1)  # now the engine serves the learner's weights
    assert _recompute_gap(policy, _steps(policy, backend)) < 1e-5
    assert httpx.get(f"{url}/health").json()["version"] == 1
    with pytest.raises(StaleWeights):
        backend.publish(trainable_weights(policy.model), 1)
    with pytest.raises(StaleWeights, match="not newer"):  # another client with an old version: the engine refuses
        EngineBackend(policy, url).publish(trainable_weights(policy.model), 1)
    backend.close()


def test_engine_refuses_truncated_sampling_and_bad_requests(served):
    _, _, url = served
    r = httpx.post(f"{url}/v1/completions", json={"prompt": [[1, 2]], "top_p": 0.9})
    assert r.status_code == 400 and "full distribution" in r.json()["error"]["message"]
    r = httpx.post(f"{url}/v1/completions", json={"prompt": [[10**9]]})
    assert r.status_code == 400 and "token ids" in r.json()["error"]["message"]
    r = httpx.post(f"{url}/update_weights", params={"version": 5}, content=b"not safetensors")
    assert r.status_code == 400
