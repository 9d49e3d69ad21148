"""Issue 18.9: a run's progress is visible in a file or a pipe, keeps the bar and the elapsed time at 80
columns, says "filling" instead of zeros, and the summary always has a success row."""

from __future__ import annotations

import io
import re
import time
from types import SimpleNamespace

from rich.console import Console

from agents.trainer import StartOrderWindow, Trainer, print_summary
from credo.progress import TrainProgress, fit_fields
from tests._agent_helpers import line_config

FIELDS = ["success 0.43", "len 7.9", "return 0.43", "it 12", "145 steps/s", "KL 0.2471", "8649 tok/s"]


def _plain(console: Console) -> str:
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_a_file_gets_plain_lines_throttled_with_the_first_and_last_always():
    console = Console(file=io.StringIO(), width=80)  # not a terminal: what `credo train > log` gets
    with TrainProgress("run-a", 1000, console=console, line_every_s=3600, heartbeat_s=3600) as progress:
        for k in range(1, 6):
            progress.update(100 * k, k, FIELDS)
    lines = _plain(console).splitlines()
    assert len(lines) == 3, lines  # at once, iteration 1, then (throttled) only the last
    assert lines[0] == "run-a  0/1,000 env steps (0%)  starting"
    assert lines[1].startswith("run-a  100/1,000 env steps (10%)  0:00:00  success 0.43  len 7.9")
    assert lines[2].startswith("run-a  500/1,000 env steps (50%)") and "\x1b" not in _plain(console)


def test_a_long_iteration_in_a_file_gets_heartbeat_lines():
    console = Console(file=io.StringIO(), width=80)
    with TrainProgress("run-b", None, console=console, heartbeat_s=0.2):
        time.sleep(0.7)  # the first iteration has not ended yet
    assert "run-b  iteration 1 running  0 env steps  0:00:00" in _plain(console)


def test_at_80_columns_the_bar_count_and_elapsed_time_stay_visible():
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    progress = TrainProgress("MiniHack-Room-Random-5x5-v0-outcome-20261205-143000", 60_000, console=console)
    with progress:
        progress.update(19_000, 12, FIELDS)
        out = Console(file=io.StringIO(), width=80, color_system=None)
        out.print(progress._bar.make_tasks_table(progress._bar.tasks))  # type: ignore[union-attr]
    (line,) = _plain(out).splitlines()
    assert len(line) <= 80 and "━" in line and "19000/60000" in line and re.search(r"0:00:0\d", line)
    assert "success 0.43" in line and "tok/s" not in line  # the last fields are dropped, not the bar
    assert fit_fields(FIELDS, 21) == "success 0.43  len 7.9" and fit_fields(["a very long field"], 8) == "a very …"


def test_the_window_says_filling_instead_of_zeros():
    fake = SimpleNamespace(window=StartOrderWindow(100, min_fill=16), iteration=1)
    fields = Trainer._progress_fields(fake, {"env_steps_per_s": 50.0, "kl": 0.01, "tokens_per_s": 900.0})
    assert fields[0] == "window filling 0/16 episodes" and not any("0.00" in f for f in fields[:2])


def test_the_summary_always_has_a_success_row_and_fits_80_columns():
    for summary in ({"run": "runs/short-nethack", "env_steps": 64, "wall_time": 12.0, "window_episodes": 0},
                    {"run": "runs/x" * 20, "env_steps": 10**6, "wall_time": 4000.0, "window_episodes": 200,
                     "success": 0.97, "episode_length": 3.1, "return": 0.9,
                     "eval": {k: {"success": 0.5, "episode_length": 9.0, "score": 0.5, "efficiency": 0.3}
                              for k in ("random", "before", "after")}}):
        console = Console(file=io.StringIO(), width=80, color_system=None)
        print_summary(summary, console)
        title, *lines = _plain(console).splitlines()
        assert title == f"credo train: {summary['run']}"  # whole, however long: it names the run
        assert max(map(len, lines)) <= 80
        success = next(line for line in lines if line.startswith("│ success "))
        assert ("no episode finished" in success) == ("success" not in summary)
        assert any("│ episodes in window │" in line for line in lines)


def test_a_training_run_into_a_pipe_prints_progress_lines(cache_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CREDO_CACHE", str(cache_dir))
    summary = Trainer(line_config(tmp_path, name="piped", progress=True, total_env_steps=128)).train()
    out = capsys.readouterr().out
    assert re.search(r"^piped  \d+/128 env steps \(\d+%\)  0:00:\d\d  ", out, flags=re.M), out
    assert "credo train:" in out and "│ success " in out and summary["iterations"] == 2
