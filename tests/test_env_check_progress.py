"""Issue 18.16: `credo envs check all` printed a search library's tqdm bars, and its slow TextWorld part showed
neither progress nor an estimate in a log."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

import envs
from credo.cli import cli
from envs.cli import _interleave
from tests.test_env_check_cli import DialEnv


class NoisyDialEnv(DialEnv):
    """A correct env whose reset draws a library progress bar on stderr (as bm25s does while indexing)."""

    def _reset(self, seed, options):
        from tqdm import tqdm

        for _ in tqdm(range(3), desc="Split strings"):
            time.sleep(0.01)
        return super()._reset(seed, options)


for _k in range(3):
    envs.register(f"credo-test/NoisyDial-{_k}-v0", entry_point="tests.test_env_check_progress:NoisyDialEnv",
                  family="noisy", instruction_example="Turn the dial to 2.")


def test_check_output_holds_no_library_progress_bars_and_shows_progress_with_an_estimate(monkeypatch):
    monkeypatch.setattr("credo.progress.LINE_EVERY_S", 0.0)  # a line per finished check: nothing to wait for
    monkeypatch.setenv("COLUMNS", "80")
    out = CliRunner().invoke(cli, ["envs", "check", "all", "--family", "noisy", "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert "Split strings" not in out.output and "it/s" not in out.output
    lines = out.output.splitlines()
    assert lines[0] == "checking 3 envs: 0/3"
    assert any(line.startswith("checking 3 envs: 1/3  0:00:0") and " left  (last: credo-test/NoisyDial-" in line
               for line in lines), lines
    assert "checking 3 envs: 3/3 done in 0:00:" in out.output and "3/3 envs pass" in out.output


@pytest.mark.skipif("credo/TextWorld-Simple-Dense-Detailed-v0" not in envs.cards(), reason="no TextWorld")
def test_families_are_spread_through_the_check_order_so_the_estimate_holds():
    ids = _interleave(list(envs.cards()))
    families = [envs.card(i).family for i in ids]
    first_fifth = families[: len(ids) // 5]
    assert "textworld" in first_fifth and "nethack" in first_fifth  # not all MiniHack first, TextWorld last
    assert sorted(ids) == sorted(envs.cards())


@pytest.mark.skipif("credo/TextWorld-Simple-Dense-Detailed-v0" not in envs.cards(), reason="no TextWorld")
def test_the_check_says_when_textworld_games_must_be_generated_first(tw_cache):
    from envs.cli import _cold_textworld

    ids = ["credo/TextWorld-TreasureHunter-L1-v0", "credo/TextWorld-CoinCollector-L1-v0", "credo/WebShop-v0"]
    assert _cold_textworld(ids, seed=0) == 1  # tw_cache holds Treasure Hunter L1 games 0 and 1 only
    assert _cold_textworld(ids[:1], seed=101) == 0  # seed 101 plays game 1
