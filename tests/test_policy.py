"""The policy: tiny default model, choose-mode scoring (packed == cached == full), acting, generate mode, save/load."""

from __future__ import annotations

import math

import pytest
import torch

from agents.backbones import score_head
from agents.config import TrainConfig
from agents.policy import Policy, PolicyConfig, parse_action
from credo.config import ConfigError
from credo.trajectory import Step
from tests._agent_helpers import ENV_ID, line_policy, randomize_head


def _prompts(policy: Policy) -> list[list[int]]:
    from agents.prompts import PromptBuilder

    b = PromptBuilder("test", policy.tokenizer)
    return [b.build("reach the goal", [], "goal 3 east"),
            b.build("reach the goal", [("goal 1 east", "east"), ("goal 2 west", "west")], "goal 2 west"),
            b.build("reach the goal", [], "goal here")]


CANDS = [["east", "west", "wait"], ["east", "west"], ["wait", "east", "west", "north east"]]


def test_tiny_model_is_cached_deterministic_and_word_level(cache_dir, policy, monkeypatch):
    from agents.tiny_model import tiny_model_path

    monkeypatch.setenv("CREDO_CACHE", str(cache_dir))  # the folder the policy fixture built it in
    path = tiny_model_path([ENV_ID])
    assert path.parent.parent == cache_dir and path == tiny_model_path([ENV_ID])
    assert policy.base == str(path)
    tokens = policy.tokenizer.tokenize("goal 3 east . action :")
    assert len(tokens) == 6, tokens  # env words are single tokens (BPE on a small corpus is word-level)
    assert policy.tokenizer.decode(policy.tokenizer("hello world!")["input_ids"]) == "hello world!"
    cfg = policy.model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size) == (128, 2, 4, 512)
    assert cfg.tie_word_embeddings and sum(p.numel() for p in policy.model.parameters()) < 1_000_000


def _with_random_head(policy: Policy) -> Policy:
    randomize_head(policy.model)
    return policy


@pytest.fixture(scope="module")
def scorers(cache_dir) -> dict[str, Policy]:
    return {"sum": line_policy(cache_dir, candidate_score="sum"),
            "head": _with_random_head(line_policy(cache_dir, candidate_score="head"))}


@pytest.mark.parametrize("score", ["sum", "head"])
@pytest.mark.parametrize(("attn", "masked_logits"), [("sdpa", True), ("eager", True), ("sdpa", False)])
def test_packed_and_cached_scoring_match_full_scoring_with_gradients(scorers, score, attn, masked_logits,
                                                                     monkeypatch):
    # masked_logits=False: transformers < 5 keeps logits by columns only, the union over the packed rows
    monkeypatch.setattr("agents.policy._keeps_masked_logits", lambda _model: masked_logits)
    policy = scorers[score]
    prompts = _prompts(policy)  # prompts of different lengths, candidates of 2 and 3 tokens
    prompts[1] = prompts[1] * 3  # one long prompt: packing puts the two short ones in one row
    grads, scores, hiddens, rows = {}, {}, {}, {}
    params = [policy.model.model.layers[0].self_attn.q_proj.weight]
    if score == "head":
        params += list(score_head(policy.model).parameters())
    policy.model.config._attn_implementation = attn  # packed scoring builds a boolean or an additive 4D mask
    hook = policy.model.register_forward_pre_hook(  # the first call of each path: how many rows it ran
        lambda _m, _a, kw: rows.setdefault(scoring, kw["input_ids"].shape[0]) and None, with_kwargs=True)
    try:
        for scoring in ("full", "cached", "packed"):
            policy.model.zero_grad()
            s, tok, hidden = policy.candidate_scores(prompts, CANDS, batching=scoring, need_hidden=True)
            (torch.cat(s) * torch.linspace(-1, 2, 9)).sum().backward()  # scores of one prompt differ in weight
            scores[scoring], hiddens[scoring] = torch.cat(s).detach(), hidden.detach()
            grads[scoring] = [p.grad.clone() for p in params]
    finally:
        policy.model.config._attn_implementation = "sdpa"
        hook.remove()
    assert rows["cached"] == 3 and rows["packed"] == 2  # the two short prompts share a row
    assert scores["full"].std() > 0
    for scoring in ("cached", "packed"):
        assert torch.allclose(scores[scoring], scores["full"], atol=1e-5), scoring
        assert torch.allclose(hiddens[scoring], hiddens["full"], atol=1e-5), scoring
        for g, g_full in zip(grads[scoring], grads["full"], strict=True):
            assert g.abs().sum() > 0 and torch.allclose(g, g_full, atol=1e-5), scoring
    policy.model.zero_grad()
    s, tok, _ = policy.candidate_scores(prompts[:1], CANDS[:1])
    if score == "sum":  # the candidate score is the sum of its tokens' log-probs, eos included
        assert tok[0].shape[1] == 2 and torch.allclose(s[0], tok[0].sum(1))
    else:  # the head predicts no token
        assert tok[0].shape == (3, 0)


def test_head_score_reads_the_candidate_in_context_and_its_tokens(scorers):
    """score = w.h_c + h_p W e_c + b: h_c at the candidate's last token (its eos left out) in a sequence holding the
    prompt and the candidate, h_p at the prompt's last token, e_c the mean embedding of the candidate's tokens (an
    empty action: h_c = h_p, e_c = 0). Same on every path."""
    policy = scorers["head"]
    head, embed = score_head(policy.model), policy.model.get_input_embeddings()
    prompt = _prompts(policy)[0]
    cands = [*CANDS[2], ""]
    with torch.no_grad():
        h_p = policy.model(input_ids=torch.tensor([prompt]), output_hidden_states=True).hidden_states[-1][0, -1]
        expected = []
        for action in cands:
            tokens = policy.candidate_ids(action)[:-1]
            h_c = policy.model(input_ids=torch.tensor([prompt + tokens]), output_hidden_states=True).hidden_states[-1][0, -1]
            e_c = embed(torch.tensor(tokens)).mean(0) if tokens else torch.zeros_like(h_p)
            expected.append(head.linear(h_c) + h_p @ head.bilinear @ e_c)
        expected = torch.cat(expected)
        for batching in ("full", "cached", "packed"):
            scores, _, _ = policy.candidate_scores([prompt], [cands], batching=batching)
            assert torch.allclose(scores[0], expected, atol=1e-4), batching


def test_untrained_head_scores_a_one_token_candidate_by_its_logit(cache_dir):
    """The tiny model ties its input and output embeddings: a fresh head (W = I, w = 0) scores a one-token action
    exactly by that token's logit after the prompt, the log-likelihood less its normalisation."""
    fresh = line_policy(cache_dir, candidate_score="head")
    prompt = _prompts(fresh)[0]
    with torch.no_grad():
        scores = fresh.candidate_scores([prompt], [CANDS[0]])[0][0]
        logits = fresh.model(input_ids=torch.tensor([prompt])).logits[0, -1]
    first = [fresh.candidate_ids(a)[0] for a in CANDS[0]]
    assert all(len(fresh.candidate_ids(a)) == 2 for a in CANDS[0])
    assert torch.allclose(scores, logits[first], atol=1e-4)


def test_untrained_head_does_not_favour_short_candidates(cache_dir, scorers):
    """An untrained model's log-likelihood puts the 3-token "north east" tens of nats below the 2-token actions;
    a fresh head scores it like the others (the mean of its tokens' embeddings, not their summed log-probs)."""
    fresh = line_policy(cache_dir, candidate_score="head")
    prompts = _prompts(fresh)
    samples = fresh.act(prompts, CANDS)
    uniform = -math.log(len(CANDS[2]))
    assert max(abs(lp - uniform) for lp in samples[2].candidate_logprobs) < 1.0
    with torch.no_grad():
        sums = torch.log_softmax(scorers["sum"].candidate_scores(prompts, CANDS)[0][2], 0)
    assert sums[3] < uniform - 10  # "north east"
    assert all(s.token_logprobs == [] for s in samples)
    steps = [Step("e", "g", 0, "", p, s.action_ids, s.text, s.logprob, s.token_logprobs, candidates=c)
             for p, s, c in zip(prompts, samples, CANDS, strict=True)]
    lp = fresh.action_logprobs(steps)
    assert lp.requires_grad and torch.allclose(lp.detach(), torch.tensor([s.logprob for s in samples]), atol=1e-6)


@pytest.mark.parametrize("score", ["sum", "head"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_bfloat16_weights_score_like_float32_on_every_path(cache_dir, scorers, score, attn):
    from agents.tiny_model import tiny_model_path

    policy = scorers[score]
    half = line_policy(cache_dir, model=str(tiny_model_path([ENV_ID])), dtype="bfloat16", candidate_score=score)
    if score == "head":  # the head stays float32 on bfloat16 weights
        score_head(half.model).load_state_dict(score_head(policy.model).state_dict())
        assert score_head(half.model).bilinear.dtype == torch.float32 and half.model.dtype == torch.bfloat16
    half.model.config._attn_implementation = attn  # eager: the additive mask is made in the weights' dtype
    prompts = _prompts(half)
    with torch.no_grad():
        ref = torch.cat(policy.candidate_scores(prompts, CANDS, batching="full")[0])
        for batching in ("full", "cached", "packed"):
            scores = torch.cat(half.candidate_scores(prompts, CANDS, batching=batching)[0])
            assert scores.dtype == torch.float32  # log-probs are taken in float32 whatever the weights
            assert torch.allclose(scores, ref, atol=0.1), (batching, (scores - ref).abs().max())


@pytest.mark.parametrize("score", ["sum", "head"])
def test_act_choose_samples_and_rescoring_matches(scorers, score):
    policy = scorers[score]
    torch.manual_seed(0)
    prompts = _prompts(policy)
    samples = policy.act(prompts, CANDS)
    assert [s.text in c for s, c in zip(samples, CANDS, strict=True)] == [True] * 3
    greedy = policy.act(prompts, CANDS, greedy=True)
    with torch.no_grad():
        scores, _, _ = policy.candidate_scores(prompts, CANDS)
    assert [g.text for g in greedy] == [c[int(s.argmax())] for c, s in zip(CANDS, scores, strict=True)]
    steps = [Step("e", "g", 0, "", p, s.action_ids, s.text, s.logprob, s.token_logprobs, candidates=c)
             for p, s, c in zip(prompts, samples, CANDS, strict=True)]
    lp = policy.action_logprobs(steps)
    assert lp.requires_grad
    assert torch.allclose(lp.detach(), torch.tensor([s.logprob for s in samples]), atol=1e-5)
    if score == "sum":  # the head takes no token log-probs
        tok = policy.token_logprobs(steps)
        assert all(torch.allclose(t.detach(), torch.tensor(s.token_logprobs), atol=1e-5)
                   for t, s in zip(tok, samples, strict=True))
    assert policy.action_hidden(steps).shape == (3, policy.model.config.hidden_size)
    # the candidate distribution sums to one and the sampled frequencies follow it
    with torch.no_grad():
        probs = torch.softmax(scores[0], 0)
    counts = torch.zeros(3)
    rows: list[int] = []  # a batch that repeats one prompt 300 times scores it once; each env samples on its own
    hook = policy.model.register_forward_pre_hook(lambda _m, _a, kw: rows.append(kw["input_ids"].shape[0]),
                                                  with_kwargs=True)
    try:
        samples = policy.act(prompts[:1] * 300 + prompts[1:2], CANDS[:1] * 300 + CANDS[1:2])
    finally:
        hook.remove()
    assert len(rows) == 1 and rows[0] <= 2 and samples[-1].text in CANDS[1]
    for s in samples[:300]:
        counts[CANDS[0].index(s.text)] += 1
    assert torch.allclose(counts / 300, probs, atol=0.1)


def test_mean_candidate_score_is_length_normalised(cache_dir, scorers):
    policy = scorers["sum"]
    mean = line_policy(cache_dir, candidate_score="mean")
    prompts = _prompts(mean)
    with torch.no_grad():
        sums, tokens, _ = policy.candidate_scores(prompts, CANDS)
        means, _, _ = mean.candidate_scores(prompts, CANDS)
    lengths = torch.tensor([len(policy.candidate_ids(a)) for a in CANDS[2]], dtype=torch.float32)
    assert lengths.max() > lengths.min()  # "north east" is longer: the normalisation matters
    assert torch.allclose(means[2], sums[2] / lengths, atol=1e-6)
    assert torch.allclose(means[2], tokens[2].sum(1) / lengths, atol=1e-6)
    samples = mean.act(prompts, CANDS)  # acting and re-scoring use the same normalised distribution
    steps = [Step("e", "g", 0, "", p, s.action_ids, s.text, s.logprob, s.token_logprobs, candidates=c)
             for p, s, c in zip(prompts, samples, CANDS, strict=True)]
    assert torch.allclose(mean.action_logprobs(steps).detach(), torch.tensor([s.logprob for s in samples]), atol=1e-5)


def test_temperature_sharpens_choice(cache_dir):
    cold = line_policy(cache_dir, temperature=1e-3, candidate_score="sum")
    prompts = _prompts(cold)[:1]
    greedy = cold.act(prompts, CANDS[:1], greedy=True)[0]
    assert all(cold.act(prompts, CANDS[:1])[0].text == greedy.text for _ in range(20))
    assert greedy.logprob > -1e-3


def test_generate_mode_never_crashes_and_logprobs_match(cache_dir):
    gen = line_policy(cache_dir, mode="generate", max_new_tokens=8)
    from agents.prompts import PromptBuilder

    b = PromptBuilder("test", gen.tokenizer, generate=True)
    prompts = [b.build("reach the goal", [], "goal 3 east", ["east", "west"]), b.build("x", [], "goal here", None)]
    torch.manual_seed(1)
    samples = gen.act(prompts)
    for s in samples:
        assert 1 <= len(s.action_ids) <= 8 and len(s.token_logprobs) == len(s.action_ids)
        assert s.valid == (parse_action(s.raw) is not None)
        if not s.valid:
            assert s.text == ""
    steps = [Step("e", "g", 0, "", p, s.action_ids, s.text, s.logprob, s.token_logprobs)
             for p, s in zip(prompts, samples, strict=True)]
    assert torch.allclose(gen.action_logprobs(steps).detach(), torch.tensor([s.logprob for s in samples]), atol=1e-4)
    # a group's repeated prompt is encoded once; each copy still samples its own text
    rows: list[int] = []
    hook = gen.model.register_forward_pre_hook(lambda _m, _a, kw: rows.append(kw["input_ids"].shape[0]),
                                               with_kwargs=True)
    try:
        group = gen.act([prompts[0]] * 6 + [prompts[1]])
    finally:
        hook.remove()
    assert rows[0] == 2 and all(r == 7 for r in rows[1:])
    assert len({tuple(s.action_ids) for s in group[:6]}) > 1
    steps = [Step("e", "g", 0, "", p, s.action_ids, s.text, s.logprob, s.token_logprobs)
             for p, s in zip([prompts[0]] * 6 + [prompts[1]], group, strict=True)]
    assert torch.allclose(gen.action_logprobs(steps).detach(), torch.tensor([s.logprob for s in group]), atol=1e-4)


def test_parse_action():
    assert parse_action("<think>go</think><action> east </action>") == "east"
    assert parse_action("<think>x</think><ACTION>click[buy]</ACTION> more") == "click[buy]"
    assert parse_action("no tags at all") is None
    assert parse_action("<action></action>") is None
    assert parse_action("<action>unclosed") is None


@pytest.mark.parametrize("score", ["sum", "head"])
@pytest.mark.parametrize("lora", [False, True])
def test_save_load_roundtrip(cache_dir, tmp_path, lora, score):
    p = line_policy(cache_dir, lora=lora, candidate_score=score)
    trained = [n for n, w in p.model.named_parameters() if w.requires_grad]
    assert any("credo_head" in n for n in trained) == (score == "head")  # with LoRA too: the head trains in full
    with torch.no_grad():  # make the trained part differ from the base so a wrong load is visible
        for _name, param in p.model.named_parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn_like(param))
        before = torch.cat(p.candidate_scores(_prompts(p), CANDS)[0])
    p.save(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / ("adapter_config.json" if lora else "config.json")).is_file()
    assert (tmp_path / "ckpt" / "credo_head.safetensors").is_file() == (score == "head" and not lora)
    q = Policy.load(tmp_path / "ckpt")
    with torch.no_grad():
        after = torch.cat(q.candidate_scores(_prompts(q), CANDS)[0])
    assert torch.allclose(before, after, atol=1e-5)
    assert q.config.lora == lora and q.config.candidate_score == score
    # `policy.model=<folder>` with the default candidate_score keeps the folder's own
    assert Policy.from_config(PolicyConfig(model=str(tmp_path / "ckpt"))).config.candidate_score == score
    copy = q.copy_model()
    assert not hasattr(copy, "peft_config")  # merged
    with torch.no_grad():
        merged = torch.cat(q.candidate_scores(_prompts(q), CANDS, model=copy)[0])
        assert torch.allclose(merged, after, atol=1e-4)
        changed = score_head(copy).bilinear if score == "head" else next(copy.parameters())
        changed.add_(1.0)  # the copy's own head (or weights): the policy does not move, the copy's scores do
        assert torch.allclose(torch.cat(q.candidate_scores(_prompts(q), CANDS)[0]), after, atol=1e-6)
        assert not torch.allclose(torch.cat(q.candidate_scores(_prompts(q), CANDS, model=copy)[0]), after, atol=1e-3)


def test_a_policy_saved_before_candidate_score_existed_loads_as_sum(cache_dir, tmp_path):
    """Its policy.yaml has no candidate_score: it scored by the summed log-likelihood, the only score there was,
    and must not load as `auto` (a fresh head for the tiny model)."""
    import yaml

    from agents.policy import POLICY_FILE

    p = line_policy(cache_dir, candidate_score="sum")
    with torch.no_grad():
        before = torch.cat(p.candidate_scores(_prompts(p), CANDS)[0])
    p.save(tmp_path / "old")
    saved = yaml.safe_load((tmp_path / "old" / POLICY_FILE).read_text())
    del saved["config"]["candidate_score"]
    (tmp_path / "old" / POLICY_FILE).write_text(yaml.safe_dump(saved))
    for q in (Policy.load(tmp_path / "old"), Policy.from_config(PolicyConfig(model=str(tmp_path / "old")))):
        assert q.config.candidate_score == "sum" and score_head(q.model) is None
        with torch.no_grad():
            assert torch.allclose(torch.cat(q.candidate_scores(_prompts(q), CANDS)[0]), before, atol=1e-5)
    # an explicit choice still wins over the saved one
    assert Policy.from_config(PolicyConfig(model=str(tmp_path / "old"), candidate_score="head")).head


def test_bad_inputs_are_one_line_errors(policy, tmp_path):
    with pytest.raises(ConfigError, match="policy.model: cannot load"):
        Policy.from_config(PolicyConfig(model=str(tmp_path / "nope")))
    with pytest.raises(ValueError, match="candidate"):
        policy.act(_prompts(policy)[:1], None)
    with pytest.raises(ValueError, match="no candidate"):
        policy.act(_prompts(policy)[:1], [[]])
    with pytest.raises(ConfigError, match="mode"):
        PolicyConfig.build({"mode": "talk"})
    with pytest.raises(ConfigError, match=r"^config: policy: candidate_score=head applies to choose mode only"):
        TrainConfig.build({"policy": {"mode": "generate", "candidate_score": "head"}})
