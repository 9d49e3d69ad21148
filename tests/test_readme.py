"""The README's `credo train` examples are valid configs, and the NetHack one is sized to show progress within a
minute on a 2-core CPU machine (issue 18.10: the old line printed nothing for 400 s)."""

from __future__ import annotations

import re
import shlex
import sys
import types
from pathlib import Path

from typer.testing import CliRunner

from agents.config import TrainConfig
from credo.cli import cli

REPO = Path(__file__).resolve().parents[1]
MEASURED_STEPS_PER_S = 30  # benchmarks/RESULTS.md, "First minute": the compact NetHack text, tiny model, 2 CPUs


def readme_commands(prefix: str) -> list[list[str]]:
    """Every command of the README's code blocks starting with `prefix` after any `VAR=value` words (continuations
    joined, comments cut), from its second word on; a `torchrun ... -m credo.cli ...` line from after `credo.cli`."""
    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = re.sub(r"^([A-Z_]+=\S*\s+)+", "", line.split("  #", 1)[0].strip())
        if line.startswith(prefix):
            words = shlex.split(line)
            out.append(words[words.index("credo.cli") + 1:] if words[0] == "torchrun" else words[1:])
    return out


def test_readme_train_examples_build_valid_configs(monkeypatch):
    built: list[TrainConfig] = []

    def build_only(config_path, overrides, resume):
        if not resume:
            built.append(TrainConfig.from_yaml(config_path, overrides))

    monkeypatch.chdir(REPO)
    monkeypatch.setitem(sys.modules, "agents.trainer", types.SimpleNamespace(train_from_cli=build_only))
    commands = readme_commands("credo train")
    assert len(commands) >= 5
    for argv in commands:
        out = CliRunner().invoke(cli, argv)
        assert out.exit_code == 0, (argv, out.output)
    nethack = [c for c in built if c.env == "credo/NetHackScore-v0"]
    distributed = readme_commands("torchrun")  # README "Scale": the FSDP2 learner's runs
    assert len(distributed) >= 3 and all(argv[0] == "train" for argv in distributed)
    single = len(built)
    for argv in distributed:
        out = CliRunner().invoke(cli, argv)
        assert out.exit_code == 0, (argv, out.output)
    assert len(built) == single + len(distributed) and all(c.scale.learner == "fsdp" for c in built[single:])
    assert len(nethack) == 1
    c = nethack[0]
    assert c.env_kwargs.get("compact") is True and c.credit == "oni"
    first_iteration = max(c.steps_per_iter, c.num_envs * c.max_episode_steps)  # whole episodes are collected
    assert first_iteration / MEASURED_STEPS_PER_S < 60

