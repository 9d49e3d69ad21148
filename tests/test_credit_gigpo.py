"""GiGPO: anchor-state step advantages checked against hand-computed values (the episode level is the learner's)."""

from __future__ import annotations

import numpy as np
import pytest

import credit
from credo.config import ConfigError
from tests._credit_helpers import text_episode as episode


def batch():
    return [
        episode("A", "g", ["start", "hall", "door"], [0, 0, 1], success=True),
        episode("B", "g", ["start", "hall", "hall"], [0, 0, 0]),
        episode("C", "h", ["start", "hall"], [0, 1], success=True),
    ]


def gigpo(**kw):
    cls = credit.get("gigpo")
    return cls(cls.Config(**kw))


def test_hand_computed_mean_norm():
    out = gigpo(gamma=0.5).assign(batch())
    assert out.kind == "advantage"
    # Step returns (gamma .5): A [.25,.5,1], B [0,0,0].
    # Anchor "start" {.25, 0} -> +-.125; anchor "hall" {A:.5, B:0, B:0} mean 1/6; anchor "door" {A} alone -> 0.
    np.testing.assert_allclose(out.step_rewards[0], [0.125, 1 / 3, 0.0])
    np.testing.assert_allclose(out.step_rewards[1], [-0.125, -1 / 6, -1 / 6])
    # A group of one episode has no anchor shared with another trajectory: every step alone -> 0.
    np.testing.assert_allclose(out.step_rewards[2], [0.0, 0.0])
    assert out.metrics["anchor_group_size"] == pytest.approx(8 / 5)  # g: start 2, hall 3, door 1; h: start 1, hall 1


def test_mean_std_norm_divides_by_the_anchor_groups_std():
    out = gigpo(gamma=0.5, mode="mean_std_norm").assign(batch())
    sd_start = np.std([0.25, 0.0], ddof=1)
    sd_hall = np.std([0.5, 0.0, 0.0], ddof=1)
    np.testing.assert_allclose(out.step_rewards[0], [0.125 / sd_start, (1 / 3) / sd_hall, 0.0], rtol=1e-5)
    np.testing.assert_allclose(out.step_rewards[1][1:], [-(1 / 6) / sd_hall] * 2, rtol=1e-5)


def test_success_outcome_and_similarity_threshold():
    eps = [
        episode("A", "g", ["room 1", "key"], [0, 0], success=True),
        episode("B", "g", ["room 2", "lava"], [0, 0]),
    ]
    exact = gigpo(gamma=1.0, outcome="success").assign(eps)
    np.testing.assert_allclose(exact.step_rewards[0], [0.0, 0.0])  # no shared anchors: no step signal
    similar = gigpo(gamma=1.0, outcome="success", similarity_thresh=0.8).assign(eps)
    np.testing.assert_allclose(similar.step_rewards[0], [0.5, 0.0])  # "room 1" ~ "room 2": returns 1 vs 0
    np.testing.assert_allclose(similar.step_rewards[1], [-0.5, 0.0])


def test_bad_config_is_one_line_error():
    with pytest.raises(ConfigError, match="mode"):
        credit.get("gigpo").Config.build({"mode": "median"})
    with pytest.raises(ConfigError, match="gamma"):
        credit.get("gigpo").Config.build({"gamma": 0})


def test_empty_episode_and_batch():
    assert gigpo().assign([]).step_rewards == []
    out = gigpo().assign([episode("A", "g", [], []), episode("B", "g", ["x"], [1.0])])
    assert out.step_rewards[0].shape == (0,) and out.step_rewards[1].shape == (1,)
