"""A suite's results, kept apart from its run folders, so a suite can go on in another session or machine.

Run folders hold checkpoints and sampled episodes (megabytes each) and live under `runs/`, which is not versioned.
`save` copies what the report and the runner need from every *finished* run (config, cell label, summary,
held-out evaluations, metrics) plus the suite's own files into a small folder that can be committed or copied;
`restore` puts them back under `runs/<suite>/`, where the runner counts those cells as finished (their
`summary.json` is there) and trains only the rest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from agents.bench.report import BARS_PNG, CURVES_PNG
from agents.bench.runner import CELL_FILE, is_finished

RUN_FILES = ("config.yaml", CELL_FILE, "summary.json", "eval.jsonl", "metrics.jsonl")
SUITE_FILES = ("suite.yaml", "diagnostic.json", "report.json", "report.md", BARS_PNG, CURVES_PNG)


def _copy(src: Path, dst: Path, names: tuple[str, ...]) -> int:
    dst.mkdir(parents=True, exist_ok=True)
    copied = 0
    for name in names:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
            copied += 1
    return copied


def save(suite_dir: Path, dest: Path) -> int:
    """Copy the finished runs' result files (and the suite's files) into `dest/<suite>/`; returns runs saved."""
    suite_dir, out = Path(suite_dir), Path(dest) / Path(suite_dir).name
    _copy(suite_dir, out, SUITE_FILES)
    saved = 0
    for run in sorted(p for p in suite_dir.iterdir() if p.is_dir() and (p / CELL_FILE).is_file()):
        if is_finished(run):
            _copy(run, out / run.name, RUN_FILES)
            saved += 1
    return saved


def restore(src: Path, suite_dir: Path) -> int:
    """Put archived runs back under `suite_dir` (a run already there is left alone); returns runs restored."""
    src, suite_dir = Path(src) / Path(suite_dir).name, Path(suite_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no archived results of suite {suite_dir.name} there")
    restored = 0
    for run in sorted(p for p in src.iterdir() if p.is_dir()):
        target = suite_dir / run.name
        if is_finished(target):
            continue
        if target.exists():  # an unfinished attempt of a cell that finished elsewhere: the finished one wins
            shutil.rmtree(target)
        _copy(run, target, RUN_FILES)
        restored += 1
    for name in SUITE_FILES:
        if (src / name).is_file() and not (suite_dir / name).is_file():
            shutil.copy2(src / name, suite_dir / name)
    return restored
