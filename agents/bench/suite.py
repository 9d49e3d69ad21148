"""A benchmark suite: tasks x arms x seeds, each cell one ordinary training run (agents/bench/README.md).

A suite is a YAML file validated by `SuiteConfig` (a wrong key or value is a one-line error naming it). The
suites shipped with credo live in `agents/bench/suites/` and are named by their file stem (`--suite credit`);
`--suite path/to/mine.yaml` takes a user's own. A cell's training config is, in order of precedence:

    the arm's per-task settings (task.arm_config[arm])  >  the arm  >  the task  >  the suite's `train`
    > TrainConfig defaults

and the harness then sets what makes a cell a cell: name `<task>-<arm>-s<seed>`, `seed`, `runs_root` =
runs/<suite>/, no progress bar, and `torch_threads` (1 unless the suite says otherwise).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from agents.config import TrainConfig
from credo.config import Config, ConfigError

SUITES_DIR = Path(__file__).resolve().parent / "suites"
CELL_FILE = "suite_cell.json"
SUITE_FILE = "suite.yaml"
BASELINE_ARM = "outcome"
"""Every arm is compared with the arm of this name (outcome-only) on the same task."""


class ArmSpec(Config):
    """One credit-assignment variant: a credit spec and its modules' settings (plus any training overrides)."""

    credit: str = Field("outcome", description="Credit spec, e.g. 'outcome', 'spa', 'oprl:0.1' (the weight is "
                        "the module's w or scale).")
    credit_config: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per-module settings, "
                                                     "e.g. {spa: {refit: frozen}}.")
    train: dict[str, Any] = Field(default_factory=dict, description="Other TrainConfig fields this arm changes "
                                  "(keep them to what the method needs: every arm shares the task's budget).")
    description: str = Field("", description="What the arm tests (shown in the report).")


class DiagnosticSpec(Config):
    """The credit-quality diagnostic of a task (`--diagnostic`): no RL, a frozen batch, an oracle advantage."""

    oracle: Literal["room", "keyroom"] = Field(..., description="Oracle value: room (shortest path to the "
                                               "stairs) or keyroom (remaining path key -> door -> stairs).")
    batches: int = Field(5, ge=2, description="Independent batches (the CI is over batches).")
    groups: int = Field(8, ge=1, description="Groups of group_size episodes per batch.")
    warmup_batches: int = Field(2, ge=0, description="Batches each module fits its model on before the scored "
                                "one (what it would have seen in training before that iteration).")
    policy: str = Field("initial", description="Who plays: 'initial' (the arm's untrained policy at the cell's "
                        "seed, near-uniform) or a policy folder (a checkpoint's policy/).")


class TaskSpec(Config):
    """One env at one budget, and which arms run on it."""

    env: str = Field(..., description="Env id, e.g. credo/MiniHack-KeyRoom-Fixed-S5-v0.")
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig fields of this task (budget, "
                                  "step cap, env_kwargs, evaluation points...).")
    arms: list[str] = Field(default_factory=list, description="Arm names run on this task (empty: every arm).")
    seeds: int | None = Field(None, ge=1, description="Seeds 0..n-1 of this task (None: the suite's).")
    arm_config: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per-arm settings on this "
                                                  "task only (e.g. a task's LaRe code file or ONI goal), merged "
                                                  "over the arm.")
    diagnostic: DiagnosticSpec | None = Field(None, description="The credit-quality diagnostic (tasks with an "
                                              "oracle only).")


class SuiteConfig(Config):
    """A comparison of credit methods: tasks x arms x seeds, and what they share."""

    name: str = Field(..., description="Suite name: its runs go to runs/<name>/.")
    description: str = Field("", description="What the suite is for (shown in the report).")
    seeds: int = Field(5, ge=1, description="Seeds 0..n-1 per (task, arm) cell; `--seeds N` overrides.")
    torch_threads: int = Field(1, ge=1, description="torch threads of each run (1: runs side by side do not "
                            "fight over cores).")
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig fields every run shares (policy, "
                                  "estimator, PPO settings...).")
    tasks: dict[str, TaskSpec] = Field(..., description="Tasks by short name (used in run names).")
    arms: dict[str, ArmSpec] = Field(..., description="Arms by short name (used in run names); the baseline "
                                     "arm is named 'outcome'.")
    tuning: str = Field("", description="What was tuned, for which arm, and how much (reported).")

    @model_validator(mode="after")
    def _check(self) -> SuiteConfig:
        for label, names in (("tasks", self.tasks), ("arms", self.arms)):
            for name in names:
                if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
                    raise ValueError(f"{label}.{name}: names are letters, digits, '.', '_' and '-' (run names)")
        for tname, task in self.tasks.items():
            for arm in [*task.arms, *task.arm_config]:
                if arm not in self.arms:
                    raise ValueError(f"tasks.{tname}: unknown arm {arm!r}; arms: {', '.join(self.arms)}")
        return self

    def task_arms(self, task: str) -> list[str]:
        return self.tasks[task].arms or list(self.arms)

    def task_seeds(self, task: str, override: int | None = None) -> list[int]:
        return list(range(override or self.tasks[task].seeds or self.seeds))


@dataclass(frozen=True)
class Cell:
    """One (task, arm, seed) of a suite and the training config that runs it."""

    suite: str
    task: str
    arm: str
    seed: int
    root: Path
    """runs/<suite>/: the folder the cell's run folder is in."""
    config: TrainConfig | None
    """None when the arm's module settings do not validate here (see `error`)."""
    error: str | None = None

    @property
    def name(self) -> str:
        return f"{self.task}-{self.arm}-s{self.seed}"

    def problem(self) -> str | None:
        """Why this cell cannot run (its config error or a missing file it names), as one line; else None."""
        return self.error or missing_file(self)

    def label(self) -> dict[str, Any]:
        """What `suite_cell.json` holds (the run viewer reads exactly these keys)."""
        return {"suite": self.suite, "task": self.task, "arm": self.arm, "seed": self.seed}


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into a copy of `base`, nested dicts key by key (so an arm can set one credit_config key)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def find_suite(name_or_file: str) -> Path:
    """A shipped suite by name (`credit`, `smoke`) or a YAML file; a one-line error listing the shipped ones."""
    path = Path(name_or_file)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"--suite {name_or_file}: no such file")
        return path
    shipped = SUITES_DIR / f"{name_or_file}.yaml"
    if not shipped.is_file():
        raise ConfigError(f"--suite {name_or_file!r}: not a shipped suite ({', '.join(shipped_suites())}) nor a "
                          "YAML file")
    return shipped


def shipped_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def load_suite(name_or_file: str) -> SuiteConfig:
    return SuiteConfig.from_yaml(find_suite(name_or_file))


def cells(suite: SuiteConfig, runs_root: Path, seeds: int | None = None, tasks: list[str] | None = None,
          arms: list[str] | None = None) -> list[Cell]:
    """Every cell of the suite in run order: seed-major (a partial suite holds whole seeds of every arm), then
    task and arm in file order; `tasks`/`arms` keep only those. Each cell's config is validated here, so a bad
    suite fails before any run."""
    for label, wanted, known in (("--tasks", tasks, suite.tasks), ("--arms", arms, suite.arms)):
        for name in wanted or []:
            if name not in known:
                raise ConfigError(f"{label}: {name!r} is not in suite {suite.name} ({', '.join(known)})")
    out = []
    root = Path(runs_root) / suite.name
    for seed in range(max(len(suite.task_seeds(t, seeds)) for t in suite.tasks)):
        for tname, task in suite.tasks.items():
            if seed not in suite.task_seeds(tname, seeds) or (tasks and tname not in tasks):
                continue
            for arm_name in suite.task_arms(tname):
                if arms and arm_name not in arms:
                    continue
                arm = suite.arms[arm_name]
                data = deep_merge(suite.train, task.train)
                data["env"] = task.env
                arm_data = deep_merge({"credit": arm.credit, "credit_config": arm.credit_config, **arm.train},
                                      task.arm_config.get(arm_name, {}))
                data = deep_merge(data, arm_data)
                data.update(name=f"{tname}-{arm_name}-s{seed}", seed=seed, runs_root=str(root), progress=False,
                            torch_threads=suite.torch_threads)
                try:
                    config = TrainConfig.build(data, source=f"suite {suite.name}: task {tname}, arm {arm_name}")
                except ConfigError as err:
                    if "credit" not in str(err):  # a bad suite: one error, before anything runs
                        raise
                    # a module setting this install does not know (a rubric, a newer option): the cell fails
                    # with this line and the rest of the suite runs
                    out.append(Cell(suite.name, tname, arm_name, seed, root, None, str(err)))
                    continue
                out.append(Cell(suite.name, tname, arm_name, seed, root, config))
    return out


def missing_file(cell: Cell) -> str | None:
    """A file the cell's arm names (LaRe's code_file, ONI's rubrics_file, SPA's estimator_path...) that does not
    exist, as the one-line error the cell fails with (before training, not an hour into the suite); else None."""
    for module, cfg in (cell.config.credit_config if cell.config else {}).items():
        for key, value in cfg.items():
            if (key.endswith(("_file", "_path")) or key == "replies") and value and not Path(value).exists():
                return f"credit_config.{module}.{key}: no such file {value}"
    return None


def config_difference(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> str | None:
    """The first key where a run's config `a` and the suite's `b` differ ('learner.lr: 0.001 vs 0.0005'), ignoring
    runs_root and progress, and keys `a` lacks: fields added to credo after the run was made (a suite resumed
    across sessions and code changes keeps its runs; a new field must default to the old behaviour)."""
    for key in sorted(a):
        if not prefix and key in ("runs_root", "progress"):
            continue
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            found = config_difference(x, y, f"{prefix}{key}.")
            if found:
                return found
        elif x != y:
            return f"{prefix}{key}: {x!r} vs {y!r}"
    return None


def resolved_yaml(suite: SuiteConfig, seeds: int | None) -> str:
    """The suite as run (seeds override applied), written to runs/<suite>/suite.yaml."""
    data = suite.model_dump(mode="json")
    if seeds is not None:
        data["seeds"] = seeds
        for task in data["tasks"].values():
            task["seeds"] = None
    return yaml.safe_dump(data, sort_keys=False)
