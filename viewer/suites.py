"""`credo bench credit` suites (`runs/<suite>/`): the report, the runs grouped by (task, arm), and seed bands.

A suite folder holds `suite.yaml`, `report.json`, `report.md` and figures; its runs are ordinary run folders
one level down, each with `suite_cell.json` = {"suite", "task", "arm", "seed"}. A run without that file is
grouped by its env (task) and credit spec (arm). Bands are computed here so every client draws the same ones:
each seed's curve is interpolated linearly onto a common x grid over the range all seeds of the group cover,
then the mean and the min–max over seeds are taken at each grid point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.runs import METRICS_FILE
from viewer.catalog import SUITE_CELL_FILE, RunRef, read_config
from viewer.files import AppendedRows, read_json

REPORT_MD = "report.md"
REPORT_JSON = "report.json"
FIGURE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")
MEDIA_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
GRID_POINTS = 200
"""Most points of a band's x grid."""


def cell_of(ref: RunRef) -> dict[str, Any]:
    """The run's (task, arm, seed): from suite_cell.json, else from its config (env, credit, seed)."""
    cell, _ = read_json(ref.path / SUITE_CELL_FILE)
    if isinstance(cell, dict) and "task" in cell and "arm" in cell:
        return {"task": str(cell["task"]), "arm": str(cell["arm"]), "seed": cell.get("seed")}
    config, _ = read_config(ref.path)
    return {"task": str(config.get("env") or "?").removeprefix("credo/"), "arm": str(config.get("credit") or "?"),
            "seed": config.get("seed")}


def groups(runs: list[RunRef]) -> list[dict[str, Any]]:
    """The suite's runs grouped by (task, arm), in first-seen order, each with its runs' ids and seeds."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for ref in runs:
        cell = cell_of(ref)
        g = out.setdefault((cell["task"], cell["arm"]), {"task": cell["task"], "arm": cell["arm"], "runs": [],
                                                         "seeds": []})
        g["runs"].append(ref.id)
        g["seeds"].append(cell["seed"])
    return list(out.values())


def render_markdown(text: str) -> str:
    """report.md as HTML: CommonMark with tables, raw HTML escaped (markdown-it-py comes with rich)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def suite_info(folder: Path, runs: list[RunRef]) -> dict[str, Any]:
    """The suite page's data: report (HTML from report.md, and report.json as it is), figures and groups."""
    report_json, json_error = read_json(folder / REPORT_JSON)
    try:
        md = (folder / REPORT_MD).read_text(errors="replace")
    except FileNotFoundError:
        md = None
    return {
        "suite": folder.name, "groups": groups(runs), "runs": [r.id for r in runs],
        "report_html": render_markdown(md) if md is not None else None,
        "report_json": report_json,
        "report_error": None if json_error is None or json_error.endswith("missing") else json_error,
        "figures": sorted(p.name for p in folder.iterdir() if p.suffix.lower() in FIGURE_SUFFIXES and p.is_file()),
    }


def figure(folder: Path, name: str) -> tuple[Path, str] | None:
    """(path, media type) of a figure directly in the suite folder, or None (no sub-paths, only image types)."""
    path = folder / name
    if "/" in name or "\\" in name or name.startswith(".") or path.suffix.lower() not in MEDIA_TYPES \
            or not path.is_file():
        return None
    return path, MEDIA_TYPES[path.suffix.lower()]


def _xy(rows: list[dict[str, Any]], x: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(r[x], r[key]) for r in rows if all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)
                                               for k in (x, key))]
    pts = [p for p in pts if np.isfinite(p).all()]
    if not pts:
        return np.zeros(0), np.zeros(0)
    arr = np.array(sorted(pts), dtype=np.float64)
    return arr[:, 0], arr[:, 1]


def bands(refs: dict[str, RunRef], grouped: list[dict[str, Any]], key: str, x: str,
          rows_cache: AppendedRows) -> list[dict[str, Any]]:
    """Per (task, arm): mean and min–max over seeds of metric `key` against `x`, on a common grid."""
    out = []
    for g in grouped:
        curves = [_xy(rows_cache.read(refs[r].path / METRICS_FILE)[0], x, key) for r in g["runs"]]
        curves = [c for c in curves if c[0].size]
        entry: dict[str, Any] = {"task": g["task"], "arm": g["arm"], "n": len(curves), "x": [], "mean": [],
                                 "lo": [], "hi": []}
        if curves:
            start, stop = max(c[0][0] for c in curves), min(c[0][-1] for c in curves)
            xs = np.unique(np.concatenate([c[0] for c in curves]))
            xs = xs[(xs >= start) & (xs <= stop)]
            if xs.size > GRID_POINTS:
                xs = np.linspace(start, stop, GRID_POINTS)
            if xs.size:
                ys = np.stack([np.interp(xs, cx, cy) for cx, cy in curves])
                entry.update(x=xs.tolist(), mean=ys.mean(0).tolist(), lo=ys.min(0).tolist(), hi=ys.max(0).tolist())
        out.append(entry)
    return out
