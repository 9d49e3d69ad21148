"""docs/metrics.md explains every key a training run logs, and lists no key a run no longer logs."""

from __future__ import annotations

import re
from pathlib import Path

from agents.runs import RunDir
from agents.trainer import Trainer
from tests._agent_helpers import line_config

DOCS = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"


def test_every_logged_metric_is_documented(cache_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CREDO_CACHE", str(cache_dir))
    learner = {"minibatch_size": 64, "micro_batch_size": 32, "kl_coef": 0.05}  # kl_ref too
    logged: set[str] = set()
    for name, fields in (("gae", {"advantage": "gae"}),  # value_loss
                         ("gigpo", {"advantage": "rloo", "credit": "gigpo", "group_size": 2}),
                         # behaviour_kl, tis_clip_frac: the engine path's truncated importance weight, here with
                         # credo's own sampler as the behaviour policy
                         ("recompute", {"policy": {"mode": "generate", "max_new_tokens": 4},
                                        "learner": {**learner, "behaviour_logprobs": "recompute"}})):
        Trainer(line_config(tmp_path, name=name, **{"learner": learner, **fields})).train()
        logged |= set().union(*(row.keys() for row in RunDir.open(tmp_path / name).read_metrics()))
    logged = {re.sub(r"^[^/]+/seconds$", "<module>/seconds", k) for k in logged}
    documented = set(re.findall(r"^\| `([^`]+)` \|", DOCS.read_text(), flags=re.M))
    assert logged - documented == set(), "logged but not explained in docs/metrics.md"
    core = {k for k in documented if "/" not in k}
    assert core - logged == {"progression"}, "documented but no longer logged"  # progression: NetHack-family only
    assert {k for k in logged if k.startswith("gigpo/")} == {k for k in documented if k.startswith("gigpo/")}
