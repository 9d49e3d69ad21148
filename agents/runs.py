"""A run folder, `runs/<name>/`: resolved config, metrics, TensorBoard events, sampled episodes, checkpoints.

Everything a long job writes goes through `RunDir`, so `credo runs list|show|plot|compare`, `credo eval` and
`credo train --resume` can rely on one layout (runs/README.md):

    runs/<name>/config.yaml            the resolved config (defaults + YAML + overrides)
    runs/<name>/metrics.jsonl          one JSON object per iteration: {"iteration": n, "time": unix, ...metrics}
                                       (every key is explained in docs/metrics.md)
    runs/<name>/events.out.tfevents.*  the same scalars for TensorBoard, against env steps (as `credo runs plot`)
    runs/<name>/episodes/iter_<n>.jsonl  sampled episodes (`Episode.to_dict()`), one per line
    runs/<name>/checkpoints/iter_<n>/  written into a temp folder, then renamed: a checkpoint is whole or absent
    runs/<name>/checkpoints/latest     the name of the newest checkpoint folder, replaced atomically

Why these choices: a `kill -9` can cut the last line of `metrics.jsonl` (readers skip it) or leave a temp
checkpoint folder behind (ignored, then cleaned), but never a half-written checkpoint under its final name.

Metric names the tools read (the trainer logs them; any other key is kept and plotted on request):
`env_steps` (cumulative env steps, the x axis of plots), `success`, `score`, `return`, `episode_length`,
`efficiency`, `wall_time` (cumulative seconds of training, resumes included).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from credo.config import Config

if TYPE_CHECKING:
    from credo.trajectory import Episode

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
EPISODES_DIR = "episodes"
CHECKPOINTS_DIR = "checkpoints"
LATEST_FILE = "latest"
_CKPT_RE = re.compile(r"^iter_(\d+)$")
_TMP_PREFIX = ".tmp-"


SAVED_POLICY_DEFAULTS: dict[str, Any] = {"candidate_score": "sum"}
"""Policy fields whose default is not the behaviour of configs saved before the field existed, and that behaviour:
before `candidate_score`, choose mode scored a candidate by its summed log-likelihood only, while the default
`auto` now means the head for the tiny model. A resumed run, or a policy loaded from its folder, must go on as it
was trained (a suite's runs resume across code changes)."""


def saved_policy_config(policy: dict[str, Any]) -> dict[str, Any]:
    """A saved policy config (a run's config.yaml `policy`, a policy folder's policy.yaml `config`) with the fields
    it predates set to their old behaviour (`SAVED_POLICY_DEFAULTS`); the fields it has are kept."""
    return {**SAVED_POLICY_DEFAULTS, **policy}


class RunNameTaken(ValueError):
    """`RunDir.create` was given the name of an existing run folder."""


def _slug(text: str) -> str:
    """A file-name-safe piece of a run name: `credo/MiniHack-Room-5x5-v0` -> `MiniHack-Room-5x5-v0`."""
    text = text.removeprefix("credo/")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "run"


def default_name(config: Config | dict[str, Any]) -> str:
    """`<env>-<credit>-<UTC timestamp>` from a config's `env` and `credit` fields (when it has them)."""
    data = config if isinstance(config, dict) else config.model_dump()
    parts = [_slug(str(data[k])) for k in ("env", "credit") if data.get(k)]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return "-".join([*parts, stamp])


def write_atomic(path: Path, text: str) -> None:
    """Write a small file so that readers see the old or the new content, never a mix."""
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}-{os.getpid()}")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _json_number(value: Any) -> Any:
    """Metrics are floats; numpy/torch scalars become Python numbers, and NaN/inf become None (valid JSON)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file, skipping lines that do not parse (the last one may have been cut by a kill -9)."""
    out: list[dict[str, Any]] = []
    try:
        text = path.read_text()
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            out.append(row)
    return out


class RunDir:
    """One run's folder. Create it for a new run, open it to resume, show, plot or evaluate."""

    def __init__(self, path: Path, label: str | None = None) -> None:
        self.path = Path(path)
        self.label = label or self.path.name
        """How listings name the run: its folder name, or `<suite>/<run>` for a run of a suite."""
        self._writer: Any = None
        self._purge_step: int | None = None

    # -- making and finding runs --------------------------------------------------------------------
    @classmethod
    def create(cls, name: str | None, config: Config, root: Path = Path("runs")) -> RunDir:
        """Make `root/<name>/` and write config.yaml. A name that is taken is a one-line `RunNameTaken` (a run is
        never silently renamed); None -> `<env>-<credit>-<timestamp>`, suffixed -2, -3... within one second."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        if name:
            path = root / _slug(name)
            try:
                path.mkdir()
            except FileExistsError:
                raise RunNameTaken(f"run name {name!r} is taken ({path}): continue it with `credo train --resume "
                                   f"{path}`, or choose another name") from None
        else:
            base = default_name(config)
            for k in range(1, 10_000):
                path = root / (base if k == 1 else f"{base}-{k}")
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    continue
            else:  # pragma: no cover - 10k runs started within one second
                raise RunNameTaken(f"run name {base!r} is taken 10000 times under {root}")
        run = cls(path)
        (path / EPISODES_DIR).mkdir()
        (path / CHECKPOINTS_DIR).mkdir()
        write_atomic(path / CONFIG_FILE, config.to_yaml())
        return run

    @classmethod
    def open_or_create(cls, name: str, config: Config, root: Path = Path("runs")) -> RunDir:
        """The run folder `root/<name>/` if there is one (results are added to it), else a new one."""
        path = Path(root) / _slug(name)
        return cls.open(path) if (path / CONFIG_FILE).is_file() else cls.create(name, config, root)

    def discard(self) -> None:
        """Remove a run folder this process just created and could not set up (no empty run folders left)."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)

    @classmethod
    def open(cls, path: str | Path, root: Path = Path("runs")) -> RunDir:
        """An existing run, by folder path or by name under `root`; a one-line error when it is not a run."""
        p = Path(path)
        if not (p / CONFIG_FILE).is_file() and (root / p / CONFIG_FILE).is_file():
            p = root / p
        if not (p / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{path}: not a run folder (no {CONFIG_FILE}); see `credo runs list`")
        run = cls(p)
        run._clean_tmp()
        return run

    @staticmethod
    def find_all(root: Path = Path("runs")) -> list[RunDir]:
        """Every run folder under `root`, oldest first: those directly under it and those of a suite folder
        (`runs/<suite>/<run>/`, as `credo bench credit` writes them; the suite holds a `suite.yaml`)."""
        root = Path(root)
        if not root.is_dir():
            return []
        folders = [p for p in root.iterdir() if p.is_dir()]
        suites = [p for p in folders if (p / "suite.yaml").is_file()]
        paths = [p for p in folders if (p / CONFIG_FILE).is_file()]
        paths += [p for suite in suites for p in suite.iterdir() if (p / CONFIG_FILE).is_file()]
        return [RunDir(p, label=str(p.relative_to(root)))
                for p in sorted(paths, key=lambda p: (p.stat().st_mtime, p.name))]

    @property
    def name(self) -> str:
        return self.path.name

    def config(self) -> dict[str, Any]:
        """The resolved config as a plain dict (the trainer rebuilds its own Config class from it); a policy saved
        before a field existed gets the field's old behaviour (`saved_policy_config`)."""
        data = yaml.safe_load((self.path / CONFIG_FILE).read_text())
        if not isinstance(data, dict):
            return {}
        if isinstance(data.get("policy"), dict):
            data["policy"] = saved_policy_config(data["policy"])
        return data

    # -- metrics ---------------------------------------------------------------------------------------
    def log_metrics(self, iteration: int, metrics: dict[str, float]) -> None:
        """Append one line to metrics.jsonl (flushed, so a kill loses at most this line) and TensorBoard scalars.

        TensorBoard's step is the row's env steps (the iteration where a row has none), the x axis of `credo runs
        plot` and the fair one across runs of different batch sizes; `iteration` is logged as a scalar too.
        """
        row = {"iteration": int(iteration), "time": time.time()}
        row.update({k: _json_number(v) for k, v in metrics.items()})
        with open(self.path / METRICS_FILE, "a") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
        writer = self._tensorboard()
        step = _tensorboard_step(row)
        for key, value in row.items():
            if key not in ("time", "env_steps") and isinstance(value, (int, float)) and not isinstance(value, bool):
                writer.add_scalar(key, value, step)
        writer.flush()

    def read_metrics(self) -> list[dict[str, Any]]:
        """All logged rows in order; a line cut by a crash is skipped."""
        return read_jsonl(self.path / METRICS_FILE)

    def truncate_metrics(self, iteration: int) -> None:
        """Keep only rows with `iteration <= iteration` (resume: drop what was logged after the checkpoint).

        TensorBoard events after the last kept row are purged (hidden) when the next scalar is written, so a
        resumed run reads as one curve: TensorBoard drops a killed process's events past the checkpoint.
        """
        keep = [r for r in self.read_metrics() if int(r.get("iteration", -1)) <= iteration]
        write_atomic(self.path / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in keep))
        self._purge_step = (_tensorboard_step(keep[-1]) if keep else 0) + 1
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _tensorboard(self) -> Any:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter  # heavy: only when a run logs

            self._writer = SummaryWriter(str(self.path), purge_step=self._purge_step)
        return self._writer

    # -- episodes --------------------------------------------------------------------------------------
    def write_episodes(self, iteration: int, episodes: Iterable[Episode]) -> Path:
        """Write `episodes/iter_<n>.jsonl` (one `Episode.to_dict()` per line), atomically."""
        path = self.path / EPISODES_DIR / f"iter_{int(iteration)}.jsonl"
        path.parent.mkdir(exist_ok=True)
        lines = (json.dumps(ep.to_dict(), default=_json_default) + "\n" for ep in episodes)
        write_atomic(path, "".join(lines))
        return path

    def read_episodes(self, iteration: int | None = None) -> list[dict[str, Any]]:
        """Episodes logged at `iteration` (default: the newest file) as dicts."""
        folder = self.path / EPISODES_DIR
        files = sorted(folder.glob("iter_*.jsonl"), key=lambda p: int(p.stem.split("_")[1]))
        if iteration is not None:
            files = [p for p in files if p.stem == f"iter_{iteration}"]
        return read_jsonl(files[-1]) if files else []

    # -- checkpoints -----------------------------------------------------------------------------------
    def save_checkpoint(self, iteration: int, write: Callable[[Path], None], keep: int = 2) -> Path:
        """`write(tmp_dir)` fills a temp folder, renamed to `checkpoints/iter_<n>`; `latest` then points at it.

        Only the newest `keep` checkpoints stay. A crash inside `write` leaves the previous checkpoint intact.
        """
        if keep < 1:
            raise ValueError(f"save_checkpoint: keep must be >= 1, got {keep}")
        folder = self.path / CHECKPOINTS_DIR
        folder.mkdir(exist_ok=True)
        final = folder / f"iter_{int(iteration)}"
        tmp = folder / f"{_TMP_PREFIX}{final.name}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        try:
            write(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if final.exists():  # re-saving an iteration after a resume: move the old one aside first
            old = folder / f"{_TMP_PREFIX}old-{final.name}-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        write_atomic(folder / LATEST_FILE, final.name + "\n")
        for _, old_path in self._checkpoints()[:-keep]:
            if old_path != final:
                shutil.rmtree(old_path, ignore_errors=True)
        return final

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint folder (from `latest`, else the highest `iter_<n>`), or None."""
        folder = self.path / CHECKPOINTS_DIR
        try:
            named = folder / (folder / LATEST_FILE).read_text().strip()
            if named.name and _CKPT_RE.match(named.name) and named.is_dir():
                return named
        except FileNotFoundError:
            pass
        found = self._checkpoints()
        return found[-1][1] if found else None

    @staticmethod
    def checkpoint_iteration(path: Path) -> int:
        """`checkpoints/iter_12` -> 12."""
        m = _CKPT_RE.match(Path(path).name)
        if not m:
            raise ValueError(f"{path}: not a checkpoint folder (expected iter_<n>)")
        return int(m.group(1))

    def _checkpoints(self) -> list[tuple[int, Path]]:
        folder = self.path / CHECKPOINTS_DIR
        if not folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CKPT_RE.match(p.name))]
        return sorted(found)

    def _clean_tmp(self) -> None:
        """Remove temp folders and files a killed process left behind."""
        for folder in (self.path / CHECKPOINTS_DIR, self.path / EPISODES_DIR, self.path):
            if folder.is_dir():
                for p in folder.glob(f"{_TMP_PREFIX}*"):
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    def summary(self) -> dict[str, Any]:
        """One row for `credo runs list`: env, credit, iterations, env steps, last success, wall time."""
        cfg = self.config()
        rows = self.read_metrics()
        last = rows[-1] if rows else {}
        times = [r["time"] for r in rows if isinstance(r.get("time"), (int, float))]
        wall = last.get("wall_time")
        if wall is None and len(times) > 1:
            wall = times[-1] - times[0]
        return {
            "name": self.label,
            "env": str(cfg.get("env", "")).removeprefix("credo/"),
            "credit": str(cfg.get("credit", "")),
            "iterations": len(rows),
            "env_steps": int(last["env_steps"]) if isinstance(last.get("env_steps"), (int, float)) else None,
            "success": last.get("success"),
            "wall_time": wall,
        }

    # -- other outputs ---------------------------------------------------------------------------------
    def write_json(self, filename: str, data: dict[str, Any]) -> Path:
        """Write a JSON result next to the run (e.g. `eval-<ts>.json`), atomically."""
        path = self.path / filename
        write_atomic(path, json.dumps(data, indent=2, default=_json_default) + "\n")
        return path

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tensorboard_step(row: dict[str, Any]) -> int:
    """A metrics row's TensorBoard step: its env steps, else its iteration."""
    steps = row.get("env_steps")
    return int(steps) if isinstance(steps, (int, float)) else int(row["iteration"])


def _json_default(value: Any) -> Any:
    """numpy scalars/arrays in episodes and results become plain JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
