"""What each credit module leaves in a run besides its per-step numbers (`runs/<name>/credit/<module>/`).

- LaRe: per generated-code folder, the accepted `code.py`, `meta.json` and the self-verification `dialogue.json`.
- ONI: `labels.jsonl` (every label the judge gave): counts per label value and the captions labelled helpful
  (single-caption rubrics), or which caption of each pair was preferred (ranking rubrics).
- Every module: its own logged metrics (`<module>/*` keys of metrics.jsonl, e.g. SPA's `spa/heldout_mse`), which
  the page plots over iterations, and the other files it saved (listed with their sizes).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from viewer.files import AppendedRows, read_json

CREDIT_DIR = "credit"
LARE_FILES = ("code.py", "meta.json", "dialogue.json")
ONI_LABELS = "labels.jsonl"
MAX_TEXT = 200_000
"""Longest code or dialogue text returned (a runaway LLM reply is cut, and says so)."""
MAX_MESSAGES = 500
"""Most helpful / preferred captions returned (the counts cover all of them)."""
HEADLINE = {"spa": "spa/heldout_mse", "oprl": "oprl/prm_loss", "lare": "lare/decoder_loss",
            "oni": "oni/labels_received", "gigpo": "gigpo/anchored_step_frac"}
"""The metric the page plots first for a module (SPA: the estimator's held-out error)."""


def modules_from_metrics(keys: list[str]) -> dict[str, list[str]]:
    """Credit modules of a run, from its metric keys (every module logs `<name>/seconds`), with their metrics."""
    names = [k.split("/", 1)[0] for k in keys if k.endswith("/seconds") and k.count("/") == 1]
    return {n: [k for k in keys if k.startswith(n + "/")] for n in dict.fromkeys(names)}


def _text(path: Path) -> str | None:
    try:
        text = path.read_text(errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return None
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"\n... [cut: {len(text)} characters in all]"


def lare(folder: Path) -> list[dict[str, Any]]:
    """One entry per generated-code folder under credit/lare/ (env, seed, mode and prompt hash in its name)."""
    out = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        meta, meta_error = read_json(sub / "meta.json")
        dialogue, dialogue_error = read_json(sub / "dialogue.json")
        errors = [e for e in (meta_error, dialogue_error) if e and not e.endswith("missing")]
        if dialogue is not None and not isinstance(dialogue, dict):
            dialogue, errors = None, [*errors, "dialogue.json: not a JSON object"]
        out.append({"key": sub.name, "code": _text(sub / "code.py"), "meta": meta if isinstance(meta, dict) else None,
                    "dialogue": dialogue, "errors": errors})
    return out


def oni(path: Path, rows_cache: AppendedRows) -> dict[str, Any] | None:
    """Label counts and the helpful (or preferred) captions from ONI's labels.jsonl; None when it has none."""
    rows, skipped = rows_cache.read(path)
    if not rows and not skipped:
        return None
    latest: dict[Any, Any] = {}
    for r in rows:  # a resumed run may append a label again: the last one counts
        item = r.get("item")
        key = tuple(item) if isinstance(item, list) else item
        if isinstance(key, str) or (isinstance(key, tuple) and len(key) == 2):
            latest[key] = r.get("label")
    pairs = any(isinstance(k, tuple) for k in latest)
    counts = Counter("unparseable" if v is None else f"{v:g}" if isinstance(v, (int, float)) else str(v)
                     for v in latest.values())
    if pairs:
        chosen = [k[0] if v == 0 else k[1] for k, v in latest.items()
                  if isinstance(k, tuple) and isinstance(v, (int, float)) and v in (0, 1)]
        ranked = Counter(chosen).most_common(MAX_MESSAGES)
        messages = [{"caption": c, "times": n} for c, n in ranked]
    else:
        helpful = [k for k, v in latest.items() if isinstance(v, (int, float)) and v > 0.5]
        messages = [{"caption": c} for c in reversed(helpful)][:MAX_MESSAGES]  # newest first
    return {"kind": "pair" if pairs else "single", "labels": len(latest), "label_rows": len(rows),
            "skipped_lines": skipped, "counts": dict(counts), "messages": messages,
            "messages_total": len(chosen) if pairs else sum(1 for v in latest.values()
                                                            if isinstance(v, (int, float)) and v > 0.5)}


def files(folder: Path) -> list[dict[str, Any]]:
    """Every file a module saved under its folder (path relative to it, size in bytes), at most 200."""
    out = []
    for p in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if p.is_file():
            out.append({"path": str(p.relative_to(folder)), "bytes": p.stat().st_size})
            if len(out) >= 200:
                break
    return out


def artefacts(run_path: Path, metric_keys: list[str], rows_cache: AppendedRows) -> dict[str, Any]:
    """Per module of the run: its metrics (and the headline one), saved files, and LaRe's / ONI's own views."""
    credit = run_path / CREDIT_DIR
    by_module = modules_from_metrics(metric_keys)
    on_disk = [p.name for p in sorted(credit.iterdir()) if p.is_dir()] if credit.is_dir() else []
    out: dict[str, Any] = {}
    for name in dict.fromkeys([*by_module, *on_disk]):
        keys = by_module.get(name, [])
        entry: dict[str, Any] = {"metrics": keys, "headline": HEADLINE.get(name) if HEADLINE.get(name) in keys
                                 else next((k for k in keys if not k.endswith("/seconds")), None),
                                 "files": files(credit / name)}
        if name == "lare":
            entry["lare"] = lare(credit / name)
        if name == "oni":
            entry["oni"] = oni(credit / name / ONI_LABELS, rows_cache)
        out[name] = entry
    return {"modules": out}
