"""ONI: the three reward models, captions, count decay and mixing, label flow, and a judge that is down."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from credit.oni import LABELS_FILE, ONI, ONIConfig, caption, default_extrinsic_coeff, episode_counts
from credit.oni_reward_models import ClassificationModel, RankingModel, RetrievalModel, encode_messages
from credo.config import ConfigError
from credo.trajectory import Episode, Step
from llm_judges.base import Item, Judge, Label, UpstreamError

HELPFUL = ("gold", "kill")


def helpfulness(text: str) -> int:
    return sum(w in text.lower() for w in HELPFUL)


class RuleJudge(Judge):
    """In-process judge labelling by rule: a message is helpful when it mentions gold or a kill; a pair prefers
    the more helpful message (tie 0.5). `down`: every call fails as an outage; `hang`: calls never return."""

    name = "rule"

    def __init__(self) -> None:
        self.down = False
        self.hang = False
        self.items: list[Item] = []

    async def annotate(self, items: list[Item], rubric: str) -> list[Label]:
        self.items += items
        if self.hang:
            await asyncio.sleep(3600)
        if self.down:
            raise UpstreamError("rule judge: scripted outage")
        out = []
        for item in items:
            if isinstance(item, tuple):
                a, b = helpfulness(item[0]), helpfulness(item[1])
                out.append(Label(0.0 if a > b else 1.0 if b > a else 0.5))
            else:
                out.append(Label(float(helpfulness(item) > 0)))
        return out

    async def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> list[str]:
        return ["unused"]


MONSTERS = ["newt", "jackal", "goblin", "rat", "bat", "gnome", "kobold", "lichen", "hobbit", "dwarf", "orc", "fox",
            "yellow mold", "grid bug", "sewer rat", "giant rat", "gecko", "acid blob", "coyote", "hill orc"]
THINGS = ["apple", "rock", "dagger", "scroll", "ring", "wand", "potion", "food ration", "spellbook", "arrow"]


def labelled_messages(seed: int = 0) -> dict[str, float]:
    """NetHack-like messages labelled by the rule (helpful iff they mention gold or a kill)."""
    rng = random.Random(seed)
    data: dict[str, float] = {}
    for i, m in enumerate(MONSTERS):
        n, thing = rng.randrange(2, 200), THINGS[i % len(THINGS)]
        for text in (f"You kill the {m}!", f"{n} gold pieces.", f"You see here {n} gold pieces.",
                     f"You kill the {m}! Welcome to experience level {n % 9 + 2}."):
            data[text] = 1.0
        for text in (f"You miss the {m}.", f"The {m} bites!", f"You see here a {thing}.", f"There is a {thing} here."):
            data[text] = 0.0
    data["It's a wall."] = data["That door is closed."] = 0.0
    return data


def nethack_episode(eid: str, messages: list[str], rewards: list[float] | None = None) -> Episode:
    rewards = rewards or [0.0] * len(messages)
    steps = [Step(episode_id=eid, group_id="g", step_index=t, observation=f"{m}\nstats...", prompt_ids=[1],
                  action_ids=[2], action_text="north", logprob=0.0, reward=r, state={"message": m}, caption=m,
                  done=t == len(messages) - 1)
             for t, (m, r) in enumerate(zip(messages, rewards, strict=True))]
    return Episode(episode_id=eid, group_id="g", env_id="credo/NetHackScore-v0", seed=0, instruction="",
                   steps=steps)


def make_oni(judge: Judge, env_id: str = "credo/NetHackScore-v0", run_dir: Path | None = None,
             **overrides: Any) -> ONI:
    from credit.base import CreditContext

    config = ONIConfig.build({"background": False, "judge_retry_s": 0.05, **overrides})
    return ONI(config, CreditContext(env_id=env_id, seed=0, run_dir=run_dir), judge=judge)


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


# --- reward models ---------------------------------------------------------------------------------------------

def test_encoding_is_nle_bytes_cut_to_256():
    ids = encode_messages(["ab", "x" * 300, "café"])
    assert ids.shape == (3, 256)
    assert ids[0, :3].tolist() == [97, 98, 0]
    assert (ids[1] == ord("x")).all()
    assert ids[2, 3].item() == 0xE9  # latin-1, as NLE decodes its message bytes


def test_retrieval_returns_stored_labels_and_zero_otherwise():
    model = RetrievalModel()
    assert model.add({"You kill the newt!": 1.0, "It's a wall.": 0.0}) == 2
    assert model.add({"You kill the newt!": 1.0}) == 0
    assert model.score(["You kill the newt!", "It's a wall.", "never labelled", ""]).tolist() == [1, 0, 0, 0]
    assert model.knows("It's a wall.") and not model.knows("never labelled")


def test_classifier_reaches_high_accuracy_on_held_out_messages():
    torch.set_num_threads(1)
    data = labelled_messages()
    held_out_monsters = MONSTERS[15:]
    held = [m for m in data if any(x in m for x in held_out_monsters)]
    train = {m: v for m, v in data.items() if m not in held}
    truth = np.array([data[m] for m in held])
    model = ClassificationModel(lr=2e-3, batch_size=32, seed=0)
    model.add(train)
    before = (model.score(held) == truth).mean()
    metrics = model.train(60)
    accuracy = (model.score(held) == truth).mean()
    assert accuracy >= 0.9, (before, accuracy, metrics)
    assert set(np.unique(model.score(held))) <= {0.0, 1.0}
    assert metrics["rm_loss"] > 0 and model.updates == 60


def test_ranking_model_orders_messages_like_its_preferences():
    torch.set_num_threads(1)
    rng = random.Random(0)
    messages = list(labelled_messages())
    pairs: dict[tuple[str, str], float] = {}
    while len(pairs) < 300:
        a, b = rng.sample(messages, 2)
        ha, hb = helpfulness(a), helpfulness(b)
        pairs[(a, b)] = 0.0 if ha > hb else 1.0 if hb > ha else 0.5
    model = RankingModel(lr=3e-3, batch_size=16, seed=0)
    model.add(pairs)
    metrics = model.train(30)
    r = dict(zip(messages, model.raw_reward(messages), strict=True))
    decided = [(a, b, y) for (a, b), y in pairs.items() if y != 0.5]
    agree = np.mean([(r[b] > r[a]) == (y == 1.0) for a, b, y in decided])
    assert agree >= 0.9, (agree, metrics)
    # the helpful messages as a group score above the unhelpful ones
    good = [r[m] for m in messages if helpfulness(m)]
    bad = [r[m] for m in messages if not helpfulness(m)]
    assert np.mean(good) > np.mean(bad)


def test_ranking_reward_is_standardised_and_thresholded_unless_raw():
    model = RankingModel(seed=0, threshold=-0.5)
    msgs = [f"message {i}" for i in range(40)]
    raw = model.raw_reward(msgs)
    scored = model.score(msgs)
    z = (raw - model.stats.mean) / np.sqrt(model.stats.var + 1e-8)
    np.testing.assert_allclose(scored, np.where(z > -0.5, z, 0.0), atol=1e-6)
    assert model.stats.mean == pytest.approx(raw.mean(), rel=1e-3)  # the first batch dominates the 1e-4 prior
    released = RankingModel(seed=0, raw=True)
    np.testing.assert_allclose(released.score(msgs), released.raw_reward(msgs))


def test_ranking_ties_are_soft_targets_not_dropped():
    model = RankingModel(seed=0, lr=1e-3, batch_size=8)
    model.add({("a", "b"): 0.5, ("c", "d"): 0.5})
    assert len(model) == 2
    metrics = model.train(3)
    assert "rm_accuracy" not in metrics and metrics["rm_loss"] == pytest.approx(np.log(2), abs=0.05)


# --- the module ------------------------------------------------------------------------------------------------

def test_count_decay_and_mixing_match_the_formula():
    oni = make_oni(RuleJudge(), extrinsic_coeff=0.1, llm_coeff=0.4, beta=3.0, reward_clip=10.0)
    try:
        oni.model.add({"5 gold pieces.": 1.0, "It's a wall.": 0.0})
        msgs = ["5 gold pieces.", "It's a wall.", "5 gold pieces.", "5 gold pieces.", "unlabelled"]
        env = [1.0, 0.0, 20.0, -30.0, 0.0]
        out = oni.assign([nethack_episode("e1", msgs, env), nethack_episode("e2", msgs[:1])])
        n = np.array([1, 1, 2, 3, 1])
        label = np.array([1, 0, 1, 1, 0])
        intrinsic = 0.4 * label * n ** -3.0
        extrinsic = 0.1 * np.clip(env, -10, 10)
        # what the learner ends up with (env reward + this module's step reward) is ONI's reward
        np.testing.assert_allclose(np.array(env) + out.step_rewards[0], extrinsic + intrinsic)
        np.testing.assert_allclose(out.step_rewards[1], [0.4])  # counts reset for every episode
        assert np.allclose(episode_counts(["a", "", "a", ""]), [1, 1, 2, 2])  # the empty message is a key too
        assert out.metrics["intrinsic_mean"] == pytest.approx(np.concatenate([intrinsic, [0.4]]).mean())
    finally:
        oni.close()


def test_intrinsic_only_when_extrinsic_rescaling_is_off():
    oni = make_oni(RuleJudge(), rescale_extrinsic=False)
    try:
        oni.model.add({"5 gold pieces.": 1.0})
        ep = nethack_episode("e", ["5 gold pieces.", "x"], [3.0, 1.0])
        out = oni.assign([ep])
        np.testing.assert_allclose(out.step_rewards[0], [0.4, 0.0])
        assert ep.steps[0].step_rewards["oni/intrinsic"] == pytest.approx(0.4)
    finally:
        oni.close()


def test_paper_extrinsic_coefficients_per_task():
    assert default_extrinsic_coeff("credo/NetHackScore-v0") == 0.1
    assert default_extrinsic_coeff("credo/NetHackStaircaseLvl3-v0") == 10.0
    assert default_extrinsic_coeff("credo/NetHackOracle-v0") == 10.0
    assert default_extrinsic_coeff("credo/MiniHack-Room-5x5-v0") == 1.0


def test_labels_flow_from_the_judge_into_rewards_without_resending():
    judge = RuleJudge()
    oni = make_oni(judge, label_wait_s=0)  # ONI's learner: never waits, labels count from the next iteration
    try:
        msgs = ["12 gold pieces.", "It's a wall.", "12 gold pieces."]
        first = oni.assign([nethack_episode("e", msgs)])
        assert first.metrics["unlabelled_frac"] == 1.0
        np.testing.assert_allclose(first.step_rewards[0], 0.0)  # nothing labelled yet, no extrinsic reward
        wait_for(lambda: oni.client.stats()["in_flight"] == 0)
        assert sorted(judge.items) == ["12 gold pieces.", "It's a wall."]  # unique captions, each asked once
        second = oni.assign([nethack_episode("e", msgs)])
        assert second.metrics["labels_received"] == 2 and second.metrics["unlabelled_frac"] == 0.0
        np.testing.assert_allclose(second.step_rewards[0], [0.4, 0.0, 0.4 / 8])
        oni.assign([nethack_episode("e", msgs)])
        assert len(judge.items) == 2  # labelled captions are never sent again
    finally:
        oni.close()


@pytest.mark.parametrize("background", [False, True])
def test_a_batch_is_scored_with_its_own_labels(background):
    """The default learner waits (bounded) for the labels of the captions it just sent: a caption is rewarded in
    the iteration that first shows it (before: only from the next one, so a short run never saw a label)."""
    oni = make_oni(RuleJudge(), background=background)
    try:
        first = oni.assign([nethack_episode("e", ["12 gold pieces.", "It's a wall.", "12 gold pieces."])])
        assert first.metrics["labels_received"] == 2 and first.metrics["unlabelled_frac"] == 0.0
        np.testing.assert_allclose(first.step_rewards[0], [0.4, 0.0, 0.4 / 8])
        # a caption first seen later is rewarded at once too
        later = oni.assign([nethack_episode("e", ["It's a wall.", "You kill the newt!"])])
        np.testing.assert_allclose(later.step_rewards[0], [0.0, 0.4])
    finally:
        oni.close()


def test_label_shuffler_is_a_uniform_permutation_grown_one_label_at_a_time():
    from itertools import permutations

    from credit.oni_labels import LabelShuffler

    true = {"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0}
    counts = dict.fromkeys(permutations(true.values()), 0)
    for seed in range(6000):
        shuffler, table = LabelShuffler(seed), {}
        for item, value in true.items():  # labels arrive one by one
            table.update(shuffler.add({item: value}))
        assert sorted(table) == sorted(true) and sorted(table.values()) == sorted(true.values())
        counts[tuple(table[k] for k in true)] += 1
    assert min(counts.values()) > 6000 / 24 * 0.75 and max(counts.values()) < 6000 / 24 * 1.25  # uniform over 4!
    shuffler = LabelShuffler(0)
    shuffler.add(true)
    assert shuffler.add({"a": 5.0}) == {}  # a caption labelled again keeps its place
    copy = LabelShuffler(1)
    copy.load_state_dict(shuffler.state_dict())
    assert copy.add({"e": 4.0}) == shuffler.add({"e": 4.0})


def test_shuffled_labels_keep_the_rate_and_lose_the_meaning():
    data = labelled_messages()
    msgs = list(data)
    real, shuffled = make_oni(RuleJudge()), make_oni(RuleJudge(), shuffle_labels=True)
    try:
        for oni in (real, shuffled):
            oni.assign([nethack_episode("e", msgs)])
        assert real.model.labels == data
        assert sorted(shuffled.model.labels) == sorted(data)  # the same captions are labelled ...
        assert sorted(shuffled.model.labels.values()) == sorted(data.values())  # ... with the same labels ...
        agree = np.mean([shuffled.model.labels[m] == data[m] for m in msgs])
        assert agree < 0.8  # ... not their own (chance agreement with half helpful labels is ~0.5)
        state = shuffled.state_dict()
        assert state["shuffler"]["items"] and "shuffler" not in real.state_dict()
    finally:
        real.close()
        shuffled.close()
    with pytest.raises(ConfigError, match="ranking"):
        ONIConfig.build({"shuffle_labels": True, "reward_model": "ranking"})


def test_intrinsic_only_arm_drops_the_env_reward():
    """extrinsic_coeff=0 (ONI's reward-free setting): env reward + this module's step reward = r_int alone."""
    oni = make_oni(RuleJudge(), extrinsic_coeff=0.0)
    try:
        env = [1.0, 0.0, 10.0]
        out = oni.assign([nethack_episode("e", ["12 gold pieces.", "It's a wall.", "You kill the newt!"], env)])
        np.testing.assert_allclose(np.array(env) + out.step_rewards[0], [0.4, 0.0, 0.4])
        assert out.metrics["extrinsic_coeff"] == 0.0
    finally:
        oni.close()
    with pytest.raises(ConfigError, match="no effect with rescale_extrinsic=false"):
        ONIConfig.build({"extrinsic_coeff": 0.0, "rescale_extrinsic": False})


def test_received_labels_are_appended_to_the_run_folder(tmp_path):
    oni = make_oni(RuleJudge(), run_dir=tmp_path)
    try:
        msgs = ["12 gold pieces.", "It's a wall."]
        oni.assign([nethack_episode("e", msgs)])
        wait_for(lambda: oni.client.stats()["in_flight"] == 0)
        oni.assign([nethack_episode("e", msgs)])
    finally:
        oni.close()
    rows = [json.loads(line) for line in (tmp_path / "credit" / "oni" / LABELS_FILE).read_text().splitlines()]
    assert {r["item"]: r["label"] for r in rows} == {"12 gold pieces.": 1.0, "It's a wall.": 0.0}
    assert all(isinstance(r["time"], float) for r in rows)


def test_classification_trains_on_arrivals_with_the_early_schedule():
    judge = RuleJudge()
    oni = make_oni(judge, reward_model="classification", steps_per_label_batch=2, judge_batch_size=4,
                   batch_size=8, lr=1e-3)
    try:
        msgs = list(labelled_messages())[:12]
        oni.assign([nethack_episode("e", msgs)])
        wait_for(lambda: oni.client.stats()["in_flight"] == 0)
        out = oni.assign([nethack_episode("e", msgs)])
        assert out.metrics["dataset_size"] == 12
        assert out.metrics["rm_updates"] == 2 * 3  # 2 steps per batch of 4 labels, 12 labels
        assert "rm_loss" in out.metrics and set(np.unique(out.step_rewards[0])) <= {0.0, 0.4, 0.4 / 8, 0.4 / 27}
    finally:
        oni.close()


def test_ranking_module_sends_sampled_pairs_and_learns_from_them():
    judge = RuleJudge()
    oni = make_oni(judge, reward_model="ranking", pair_subsample=2, pairs_per_iteration=6, batch_size=8,
                   steps_per_label_batch=1)
    try:
        msgs = list(labelled_messages())[:10]
        oni.assign([nethack_episode("e", msgs)])
        assert len(oni.pool) == 5
        wait_for(lambda: oni.client.stats()["in_flight"] == 0)
        asked = set(judge.items)
        assert all(isinstance(i, tuple) and i[0] in oni.pool and i[1] in oni.pool for i in asked)
        out = oni.assign([nethack_episode("e", msgs)])  # sends more pairs and waits for them
        assert out.metrics["dataset_size"] == len(judge.items) > len(asked) > 0
        assert out.metrics["rm_updates"] >= 1
    finally:
        oni.close()


def test_judge_down_never_blocks_and_labels_arrive_when_it_returns():
    judge = RuleJudge()
    judge.down = True
    oni = make_oni(judge, extrinsic_coeff=0.1)
    try:
        ep = nethack_episode("e", ["100 gold pieces.", "It's a wall."], [5.0, 0.0])
        out = oni.assign([ep])
        np.testing.assert_allclose(np.array([5.0, 0.0]) + out.step_rewards[0], [0.5, 0.0])  # extrinsic only
        wait_for(lambda: oni.client.stats()["retries"] > 0)
        out = oni.assign([nethack_episode("e", ["100 gold pieces.", "It's a wall."], [5.0, 0.0])])
        assert out.metrics["labels_received"] == 0 and out.metrics["label_backlog"] == 2
        assert out.metrics["unlabelled_frac"] == 1.0
        judge.down = False
        wait_for(lambda: oni.client.stats()["received"] == 2)
        out = oni.assign([nethack_episode("e", ["100 gold pieces.", "It's a wall."], [5.0, 0.0])])
        np.testing.assert_allclose(np.array([5.0, 0.0]) + out.step_rewards[0], [0.5 + 0.4, 0.0])
    finally:
        oni.close()


def test_hanging_judge_and_unreachable_server_do_not_block_assign():
    judge = RuleJudge()
    judge.hang = True
    oni = make_oni(judge, background=True, label_wait_s=0.5)  # the learner waits for labels at most this long
    try:
        start = time.monotonic()
        for _ in range(3):
            out = oni.assign([nethack_episode("e", ["5 gold pieces."])])
        assert time.monotonic() - start < 5.0
        assert out.metrics["label_backlog"] == 1
    finally:
        oni.close()
    from credit.base import CreditContext

    for protocol in ("credo", "openai"):
        config = ONIConfig.build({"judge_protocol": protocol, "judge_retry_s": 0.05, "judge_timeout_s": 1.0})
        remote = ONI(config, CreditContext(env_id="credo/NetHackScore-v0", judge_url="http://127.0.0.1:9"))
        try:
            start = time.monotonic()
            out = remote.assign([nethack_episode("e", ["5 gold pieces."], [1.0])])
            assert time.monotonic() - start < 5.0
            np.testing.assert_allclose(1.0 + out.step_rewards[0], [0.1])
        finally:
            remote.close()


def test_captions_per_family():
    step = Step(episode_id="e", group_id="g", step_index=0, observation="\n\nYou open the door.\nYou see a key.",
                prompt_ids=[], action_ids=[], action_text="open door", logprob=0.0)
    assert caption(step, "textworld") == "You open the door."
    step.state = {"page": "results", "query": "red shoes", "num_results": 50, "asin": "", "options": {}}
    assert caption(step, "webshop") == "results page for 'red shoes', 50 results"
    step.state = {"page": "item", "query": "red shoes", "asin": "B01", "options": {"size": "9"}}
    assert caption(step, "webshop") == "item page for 'red shoes', item B01, chosen size: 9"
    step.state, step.caption = {"message": "You kill the newt!"}, ""
    assert caption(step, "nethack") == "You kill the newt!"
    step.state = {"message": ""}
    assert caption(step, "minihack") == ""
    step.caption = "x" * 400
    assert len(caption(step, "other")) == 256


def test_bad_config_is_a_one_line_error():
    with pytest.raises(ConfigError, match="needs a pair rubric"):
        make_oni(RuleJudge(), reward_model="ranking", rubric="oni-cls-gold")
    with pytest.raises(ConfigError, match="rubric"):
        make_oni(RuleJudge(), rubric="no-such-rubric")
    with pytest.raises(ConfigError, match="reward_model"):
        ONIConfig.build({"reward_model": "bogus"}, source="credit_config.oni")


def test_state_dict_round_trip_resumes_the_reward_model():
    first = make_oni(RuleJudge(), reward_model="classification", batch_size=4)
    second = make_oni(RuleJudge(), reward_model="classification", batch_size=4)
    try:
        first.model.add({"5 gold pieces.": 1.0, "It's a wall.": 0.0})
        first.model.train(2)
        second.load_state_dict(first.state_dict())
        msgs = ["5 gold pieces.", "It's a wall.", "new message"]
        np.testing.assert_allclose(second.model.probability(msgs), first.model.probability(msgs))
        assert second.model.knows("It's a wall.") and second.model.updates == 2
    finally:
        first.close()
        second.close()
