"""GiGPO: episode- and anchor-level group-relative advantages checked against hand-computed values."""

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
    return cls(cls.Config(**({"episode_level": True} | kw)))


def test_hand_computed_mean_norm():
    out = gigpo(gamma=0.5).assign(batch())
    assert out.kind == "advantage"
    # Episode level: R_A=1, R_B=0 -> +-0.5. Step returns (gamma .5): A [.25,.5,1], B [0,0,0].
    # Anchor "start" {.25, 0} -> +-.125; anchor "hall" {A:.5, B:0, B:0} mean 1/6; anchor "door" {A} alone -> 0.
    np.testing.assert_allclose(out.step_rewards[0], [0.5 + 0.125, 0.5 + 1 / 3, 0.5])
    np.testing.assert_allclose(out.step_rewards[1], [-0.5 - 0.125, -0.5 - 1 / 6, -0.5 - 1 / 6])
    # A group of one episode has nothing to compare with (paper).
    np.testing.assert_allclose(out.step_rewards[2], [0.0, 0.0])
    assert out.metrics["anchor_group_size"] == pytest.approx(8 / 5)  # g: start 2, hall 3, door 1; h: start 1, hall 1


def test_step_weight_mean_std_norm_and_singleton_raw():
    out = gigpo(gamma=0.5, step_advantage_w=0.0, mode="mean_std_norm", singleton="raw").assign(batch())
    s = 0.5 / np.std([1.0, 0.0], ddof=1)
    np.testing.assert_allclose(out.step_rewards[0], [s, s, s], rtol=1e-5)
    np.testing.assert_allclose(out.step_rewards[1], [-s, -s, -s], rtol=1e-5)
    np.testing.assert_allclose(out.step_rewards[2], [1.0, 1.0])  # verl-agent: a lone episode keeps its raw return
    out = gigpo(gamma=0.5, singleton="raw").assign(batch()[2:])
    np.testing.assert_allclose(out.step_rewards[0], [1.0 + 0.5, 1.0 + 1.0])
    out = gigpo(gamma=0.5, step_advantage_w=2.0, episode_level=False).assign(batch())
    np.testing.assert_allclose(out.step_rewards[1], [-0.25, -1 / 3, -1 / 3])  # 2 * A^S only


def test_success_outcome_and_similarity_threshold():
    eps = [
        episode("A", "g", ["room 1", "key"], [0, 0], success=True),
        episode("B", "g", ["room 2", "lava"], [0, 0]),
    ]
    exact = gigpo(gamma=1.0, outcome="success").assign(eps)
    np.testing.assert_allclose(exact.step_rewards[0], [0.5, 0.5])  # no shared anchors: episode level only
    similar = gigpo(gamma=1.0, outcome="success", similarity_thresh=0.8).assign(eps)
    np.testing.assert_allclose(similar.step_rewards[0], [1.0, 0.5])  # "room 1" ~ "room 2": returns 1 vs 0
    np.testing.assert_allclose(similar.step_rewards[1], [-1.0, -0.5])


def test_bad_config_is_one_line_error():
    with pytest.raises(ConfigError, match="mode"):
        credit.get("gigpo").Config.build({"mode": "median"})
    with pytest.raises(ConfigError, match="gamma"):
        credit.get("gigpo").Config.build({"gamma": 0})


def test_empty_episode_and_batch():
    assert gigpo().assign([]).step_rewards == []
    out = gigpo().assign([episode("A", "g", [], []), episode("B", "g", ["x"], [1.0])])
    assert out.step_rewards[0].shape == (0,) and out.step_rewards[1].shape == (1,)
