"""Issue 18.14: tables at 80 columns and in a pipe. `COLUMNS=80 credo envs list` was 6,695 lines (the id column
took 63 characters and the others folded one letter per line); `runs list` and `runs compare` broke names and ids.

These are width snapshots, not byte snapshots: every line fits 80 columns (a key longer than that excepted),
and every name and id appears whole, so the tests do not break with rich's drawing characters."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from typer.testing import CliRunner

import envs
from credo.cli import cli
from credo.tables import Col, fit, print_table
from tests.test_cli_agents import _make_run

LONG_RUN = "MiniHack-Room-Random-5x5-v0-spa-1.0-gigpo-1.0-20261205-143000"


@pytest.fixture
def at_80(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("COLUMNS", "80")  # CliRunner output is a pipe: rich takes its width from COLUMNS
    return CliRunner()


def _lines(output: str) -> list[str]:
    return output.rstrip("\n").splitlines()


def test_envs_list_at_80_columns_keeps_every_id_whole_on_one_line(at_80):
    out = at_80.invoke(cli, ["envs", "list"])
    assert out.exit_code == 0
    lines = _lines(out.output)
    cards = envs.cards()
    assert len(lines) <= len(cards) + 10  # one line per env (it was 6,695 lines)
    assert max(map(len, lines)) <= 80
    for env_id in cards:
        assert sum(f"│ {env_id} " in line for line in lines) == 1, env_id
    assert "not shown at 80 columns: family, instruction example" in out.output.replace("\n", " ")


def test_envs_list_shows_more_columns_when_there_is_room(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out = CliRunner().invoke(cli, ["envs", "list", "--family", "webshop"])
    header = next(line for line in _lines(out.output) if "│" in line or "┃" in line)
    assert all(c in header for c in ("id", "action mode", "family", "instruction example"))


def test_envs_list_of_an_unknown_family_is_an_error(at_80):
    out = at_80.invoke(cli, ["envs", "list", "--family", "nosuch"])
    assert out.exit_code == 2 and "no env of family 'nosuch'; families: " in out.output
    # the families named are the registered ones (other tests may have registered families of their own first)
    assert all(f in out.output for f in ("minihack", "nethack", "textworld", "webshop"))


@pytest.mark.parametrize("argv", [["runs", "list"], ["runs", "compare", "quick", LONG_RUN], ["runs", "show", "quick"],
                                  ["runs", "show", LONG_RUN]])
def test_run_tables_at_80_columns_never_break_names_or_ids(at_80, tmp_path, argv):
    for name in (LONG_RUN, "quick"):
        _make_run(tmp_path, name, [0.2, 0.5, 0.9], credit="spa:1.0,gigpo:1.0")
    out = at_80.invoke(cli, [*argv, "--root", str(tmp_path)])
    assert out.exit_code == 0, out.output
    lines = _lines(out.output)
    assert max(len(line) for line in lines if LONG_RUN not in line) <= 80
    shown = [n for n in (LONG_RUN, "quick") if n in argv or argv[1] != "show"]
    for name in shown:
        assert any(line.strip(" │").split(" │")[0].strip(":") in (name, f"{name}: config") or name in line
                   for line in lines), name
    assert LONG_RUN[:40] not in out.output.replace(LONG_RUN, "")  # never folded into pieces
    if argv[1] != "show":
        assert "MiniHack-Room-5x5-v0" in out.output and "spa:1.0,gigpo:1.0" in out.output


def test_eval_table_and_train_summary_fit_80_columns(at_80, tmp_path):
    out = at_80.invoke(cli, ["eval", "--policy", "random", "--env", "credo-test/Line-v0", "--episodes", "4",
                             "--root", str(tmp_path)])
    assert out.exit_code == 0, out.output
    table = [line for line in _lines(out.output) if line[:1] in "┏┃┡│└"]
    assert table and max(map(len, table)) <= 80 and any("over " in line for line in table)


def test_layout_rules():
    cols = [Col("id", key=True), Col("mode"), Col("family", drop=1), Col("note", drop=2, min_width=10)]
    rows = [["x" * 30, "admissible", "minihack", "a long note " * 5]]
    assert fit(cols, rows, 200) == [(0, 30), (1, 10), (2, 8), (3, 60)]  # everything, whole
    assert [k for k, _ in fit(cols, rows, 80)] == [0, 1, 2, 3]  # the note is cut, not dropped
    assert dict(fit(cols, rows, 80))[3] < 60
    assert [k for k, _ in fit(cols, rows, 52)] == [0, 1, 2]  # cut to min_width before anything is dropped
    assert [k for k, _ in fit(cols, rows, 45)] == [0, 1]  # then optional columns dropped, the highest drop first
    assert fit(cols, rows, 30) is None  # the key alone does not fit: blocks
    console = Console(file=io.StringIO(), width=30)
    print_table("t", cols, rows, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "x" * 30 in text and "  mode: admissible" in text and "│" not in text
