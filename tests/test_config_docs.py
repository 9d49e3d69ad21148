"""`credo config` and docs/config.md: every field of every command's config, listed from its description."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from credo.cli import cli
from credo.config import ConfigError, field_rows
from credo.config_docs import _markdown, _sections

DOCS = Path(__file__).resolve().parent.parent / "docs" / "config.md"


def test_docs_config_md_is_the_generated_listing():
    assert DOCS.read_text().rstrip("\n") == _markdown(_sections()).rstrip("\n"), (
        "docs/config.md is stale: regenerate it with `credo config --markdown > docs/config.md`")


def test_every_field_of_every_section_has_a_one_line_doc():
    sections = _sections()
    assert {"train", "sft", "eval", "judge", "credit.spa", "credit.oprl", "credit.lare", "credit.oni"} <= set(sections)
    for name, (cls, prefix, _reader) in sections.items():
        rows = field_rows(cls, prefix)
        assert rows, name
        for key, _type, _default, doc in rows:
            assert doc and "\n" not in doc, f"{name}: {key} has no one-line description"


def test_keys_listed_are_the_keys_overrides_take():
    from agents.config import TrainConfig

    rows = {key: default for key, _t, default, _d in field_rows(TrainConfig)}
    assert rows["policy.gradient_checkpointing"] == "False" and rows["learner.lr"] == "0.001"
    overrides = ["policy.gradient_checkpointing=true", "learner.lr=0.5", "credit=spa", "credit_config.spa.alpha=2"]
    config = TrainConfig.build({}, overrides)
    assert config.policy.gradient_checkpointing and config.learner.lr == 0.5
    assert config.credit_config == {"spa": {"alpha": 2}}


def test_unknown_keys_suggest_the_closest_known_one():
    from agents.config import TrainConfig

    with pytest.raises(ConfigError, match=r"policy.lora_rr: unknown key \(did you mean 'lora_r'\?\)"):
        TrainConfig.build({}, ["policy.lora_rr=4"])
    with pytest.raises(ConfigError, match=r"polcy: unknown key \(did you mean 'policy'\?\)"):
        TrainConfig.build({}, ["polcy.lora=true"])
    with pytest.raises(ConfigError, match=r"zzz: unknown key$"):  # nothing close: no guess
        TrainConfig.build({}, ["zzz=1"])


def test_credo_config_command_lists_a_section():
    runner = CliRunner()
    res = runner.invoke(cli, ["config", "credit.oprl"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "credit_config.oprl.detach_prm_grad" in res.output and "credit.spa" not in res.output
    res = runner.invoke(cli, ["config", "nope"])
    assert res.exit_code != 0 and "unknown section 'nope'" in str(res.exception)
