"""The credit-module API: specs, registry errors, weighted composition, and credit/README.md kept true."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import credit
from credit.base import _REGISTRY, CreditModule, register_credit
from credo.config import ConfigError
from tests._credit_helpers import text_episode as episode

README = Path(credit.__file__).parent / "README.md"
MINE = ("spa", "oprl", "gigpo")


def test_parse_spec_weights_and_errors():
    assert credit.parse_spec("spa:1.0,oprl:0.5") == [("spa", 1.0), ("oprl", 0.5)]
    assert credit.parse_spec(" gigpo , outcome:2 ") == [("gigpo", 1.0), ("outcome", 2.0)]
    assert credit.parse_spec("oprl") == [("oprl", 0.1)]  # a bare name takes the module's default weight
    with pytest.raises(ConfigError, match="appears twice"):
        credit.parse_spec("spa,spa:2")
    with pytest.raises(ConfigError, match=r"unknown module 'sap'; known: .*spa") as err:
        credit.parse_spec("sap:1.0")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="weight of 'spa' must be a number"):
        credit.parse_spec("spa:lots")
    with pytest.raises(ConfigError, match="empty spec"):
        credit.parse_spec(" , ")
    assert set(MINE) | {"outcome"} <= set(credit.available())


def test_registering_twice_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_credit("spa")(type("Other", (CreditModule,), {"assign": lambda self, eps: None}))


def test_bad_module_config_is_one_line():
    for name in MINE:
        with pytest.raises(ConfigError, match=f"credit_config.{name}: nope: unknown key"):
            credit.get(name).Config.build({"nope": 1}, source=f"credit_config.{name}")


def test_assign_credit_records_modules_and_passes_weighted_signals_with_their_rules():
    """`--credit gigpo:2,outcome` through the trainer's credit step: weights, rules, Step.step_rewards."""
    from agents.credit_step import assign_credit

    eps = [episode("A", "g", ["s", "t"], [0, 1], success=True), episode("B", "g", ["s", "u"], [0, 0])]
    gig = credit.get("gigpo")
    modules = [("gigpo", 2.0, gig(gig.Config(gamma=1.0))), ("outcome", 1.0, credit.get("outcome")())]
    signals, metrics = assign_credit(modules, eps)
    assert [(s.name, s.rule, s.weight, s.kind) for s in signals] == [("gigpo", "step_advantage", 2.0, "advantage")]
    np.testing.assert_allclose(signals[0].values[0], [0.5, 0.0])  # anchor "s": returns 1 vs 0 -> +-0.5 (unweighted)
    assert eps[0].steps[0].step_rewards == {"gigpo": 0.5, "outcome": 0.0}
    assert "gigpo/anchor_group_size" in metrics


def test_every_module_declares_how_its_signal_reaches_the_learner():
    rules = {name: credit.get(name).signal for name in credit.available()}
    assert rules == {"outcome": "none", "spa": "redistribution", "lare": "redistribution",
                     "oprl": "step_advantage", "gigpo": "step_advantage", "oni": "intrinsic"}
    for name, rule in rules.items():  # and credit/README.md's table says the same
        assert re.search(rf"\| `{name}` \|[^\n]*\| {rule} \|", README.read_text()), name


def test_readme_example_module_runs():
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    try:
        exec(compile(code, str(README), "exec"), {"__name__": "credit_readme_example"})
        assert credit.parse_spec("explore:0.5") == [("explore", 0.5)]
        cls = credit.get("explore")
        ep = episode("A", "g", ["a", "b", "a"], [0, 0, 0])
        ep.steps[2].valid_action = False
        out = cls(cls.Config.build({"bonus": 0.2})).assign([ep])
        np.testing.assert_allclose(out.step_rewards[0], [0.2, 0.2, -0.1])
        with pytest.raises(ConfigError, match="bonus"):
            cls.Config.build({"bonus": -1})
    finally:
        _REGISTRY.pop("explore", None)


@pytest.mark.parametrize("name", MINE)
def test_readme_documents_every_config_field(name):
    text = README.read_text()
    for key, field in credit.get(name).Config.model_fields.items():
        assert field.description, f"{name}.{key} has no description"
        row = f"| `{key}` | `{field.default!r}` | {field.description} |"
        assert row in text, f"credit/README.md: the {name} table is out of date at {key!r}"


def test_train_end_to_end_writes_every_modules_step_rewards(tmp_path):
    """`credo train --credit spa,oprl:0.5,gigpo` on the tiny model: each module's per-step rewards reach the episodes file."""
    import json

    from agents.config import TrainConfig
    from agents.trainer import Trainer

    config = TrainConfig.build({
        "name": "e2e", "runs_root": str(tmp_path), "env": "credo/MiniHack-Room-5x5-v0", "env_kwargs": {"compact": True},
        "credit": "spa,oprl:0.5,gigpo", "advantage": "rloo", "group_size": 2, "num_envs": 2, "max_episode_steps": 4,
        "steps_per_iter": 8, "total_env_steps": 8, "torch_threads": 1, "progress": False, "log_episodes": 2,
        "credit_config": {"spa": {"lr": 1e-4, "head_lr": 1e-2}, "oprl": {"lr": 1e-3}},
    })
    summary = Trainer(config).train()
    run = Path(summary["run"])
    episodes = [json.loads(line) for line in (run / "episodes" / "iter_1.jsonl").read_text().splitlines()]
    for ep in episodes:
        for step in ep["steps"]:
            assert set(step["step_rewards"]) == {"spa", "oprl", "gigpo"}
    metrics = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert {"spa/heldout_mse", "oprl/prm_loss", "gigpo/anchor_group_size", "credit_share"} <= set(metrics)
    assert (run / "credit" / "spa" / "estimator.pt").exists()  # saved at close (online refit)
