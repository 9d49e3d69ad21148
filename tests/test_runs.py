"""RunDir: unique names, metrics that survive a cut line, atomic checkpoints, episodes, resume truncation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import Field

from agents.runs import RunDir, RunNameTaken
from credo.config import Config
from credo.trajectory import Episode, Step


class _Cfg(Config):
    env: str = Field("credo/MiniHack-Room-5x5-v0", description="env id")
    credit: str = Field("outcome", description="credit spec")
    lr: float = Field(1e-3, description="learning rate")


def test_create_writes_config_and_a_taken_name_is_an_error(tmp_path: Path) -> None:
    a = RunDir.create("exp", _Cfg(lr=0.5), root=tmp_path)
    with pytest.raises(RunNameTaken, match=r"run name 'exp' is taken .*credo train --resume"):
        RunDir.create("exp", _Cfg(), root=tmp_path)  # issue 18.11: it used to become exp-2 silently
    assert a.config()["lr"] == 0.5
    assert _Cfg.build(a.config()) == _Cfg(lr=0.5)
    autos = [RunDir.create(None, _Cfg(credit="spa:1.0,oprl:0.5"), root=tmp_path) for _ in range(2)]
    assert autos[0].name.startswith("MiniHack-Room-5x5-v0-spa-1.0-oprl-0.5-")
    assert autos[1].name != autos[0].name  # default names (a timestamp) are made unique
    assert {r.name for r in RunDir.find_all(tmp_path)} == {"exp", autos[0].name, autos[1].name}
    suite = tmp_path / "mysuite"
    suite.mkdir()
    (suite / "suite.yaml").write_text("name: mysuite\n")
    RunDir.create("cell-s0", _Cfg(), suite)
    assert "mysuite/cell-s0" in {r.summary()["name"] for r in RunDir.find_all(tmp_path)}  # a suite's runs are listed


def test_open_by_name_or_path_and_bad_path(tmp_path: Path) -> None:
    run = RunDir.create("r", _Cfg(), root=tmp_path)
    assert RunDir.open(run.path).path == run.path
    assert RunDir.open("r", root=tmp_path).path == run.path
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        RunDir.open(tmp_path / "nope", root=tmp_path)


def test_metrics_roundtrip_tolerates_cut_last_line_and_truncates(tmp_path: Path) -> None:
    import numpy as np

    run = RunDir.create("m", _Cfg(), root=tmp_path)
    for it in range(4):
        run.log_metrics(it, {"success": it / 4, "env_steps": 100 * (it + 1), "kl": float("nan"),
                             "loss": np.float32(0.5)})
    with open(run.path / "metrics.jsonl", "a") as fh:  # what a kill -9 mid-write leaves
        fh.write('{"iteration": 4, "succ')
    rows = RunDir.open(run.path).read_metrics()
    assert [r["iteration"] for r in rows] == [0, 1, 2, 3]
    assert rows[2]["success"] == 0.5 and rows[2]["env_steps"] == 300
    assert rows[0]["kl"] is None and rows[0]["loss"] == 0.5
    run.truncate_metrics(1)
    assert [r["iteration"] for r in run.read_metrics()] == [0, 1]
    run.log_metrics(2, {"success": 1.0})
    assert [r["iteration"] for r in run.read_metrics()] == [0, 1, 2]
    run.close()
    assert list(run.path.glob("events.out.tfevents.*")), "TensorBoard events were not written"


def test_tensorboard_scalars_are_readable(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = RunDir.create("tb", _Cfg(), root=tmp_path)
    for it in range(3):
        run.log_metrics(it, {"success": float(it)})
    run.close()
    acc = EventAccumulator(str(run.path))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("success")] == [(0, 0.0), (1, 1.0), (2, 2.0)]  # no env_steps


def test_tensorboard_steps_are_env_steps_and_a_resume_reads_as_one_curve(tmp_path: Path) -> None:
    """Issue 18.15: TensorBoard's x axis was the iteration while `credo runs plot` uses env steps; a resumed run
    must not show the killed process's points past the checkpoint next to the new ones."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = RunDir.create("tb", _Cfg(), root=tmp_path)
    for it, steps in ((1, 512), (2, 1024), (3, 1536)):  # the process is killed after iteration 3's row...
        run.log_metrics(it, {"success": it / 10, "env_steps": steps})
    run.close()
    resumed = RunDir.open(run.path)  # ...and resumed, in a new process, from the checkpoint of iteration 2
    resumed.truncate_metrics(2)
    for it, steps in ((3, 1600), (4, 2200)):  # episodes restart, so the new iteration 3 ends at another count
        resumed.log_metrics(it, {"success": it / 10 + 0.05, "env_steps": steps})
    resumed.close()
    acc = EventAccumulator(str(run.path))
    acc.Reload()
    curve = [(e.step, round(e.value, 3)) for e in acc.Scalars("success")]
    assert curve == [(512, 0.1), (1024, 0.2), (1600, 0.35), (2200, 0.45)]
    assert [e.step for e in acc.Scalars("iteration")] == [512, 1024, 1600, 2200]
    assert "env_steps" not in acc.Tags()["scalars"]  # it is the axis


def _write_files(n: int):
    def write(folder: Path) -> None:
        (folder / "weights.txt").write_text(f"weights {n}")
        (folder / "state.json").write_text(json.dumps({"iteration": n}))
    return write


def test_checkpoints_atomic_keep_k_and_latest(tmp_path: Path) -> None:
    run = RunDir.create("c", _Cfg(), root=tmp_path)
    assert run.latest_checkpoint() is None
    for it in (1, 2, 3):
        path = run.save_checkpoint(it, _write_files(it), keep=2)
        assert path.name == f"iter_{it}"
    assert run.latest_checkpoint() == run.path / "checkpoints" / "iter_3"
    assert sorted(p.name for p in (run.path / "checkpoints").iterdir()) == ["iter_2", "iter_3", "latest"]

    def crash(folder: Path) -> None:
        (folder / "weights.txt").write_text("half")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError):
        run.save_checkpoint(4, crash)
    latest = run.latest_checkpoint()
    assert latest is not None and (latest / "weights.txt").read_text() == "weights 3"
    assert not (run.path / "checkpoints" / "iter_4").exists()
    # a re-save of an existing iteration (after resume) replaces it whole
    run.save_checkpoint(3, _write_files(33))
    assert (run.latest_checkpoint() / "weights.txt").read_text() == "weights 33"  # type: ignore[operator]
    assert RunDir.checkpoint_iteration(run.latest_checkpoint()) == 3  # type: ignore[arg-type]


def test_latest_falls_back_and_stale_tmp_is_cleaned(tmp_path: Path) -> None:
    run = RunDir.create("f", _Cfg(), root=tmp_path)
    run.save_checkpoint(5, _write_files(5))
    run.save_checkpoint(6, _write_files(6))
    (run.path / "checkpoints" / "latest").unlink()  # e.g. an older run without the pointer
    stale = run.path / "checkpoints" / ".tmp-iter_7-999"
    stale.mkdir()
    (stale / "weights.txt").write_text("partial")
    reopened = RunDir.open(run.path)
    assert reopened.latest_checkpoint() == run.path / "checkpoints" / "iter_6"
    assert not stale.exists()
    (run.path / "checkpoints" / "latest").write_text("iter_99\n")  # points at a missing folder
    assert reopened.latest_checkpoint() == run.path / "checkpoints" / "iter_6"


def test_write_and_read_episodes(tmp_path: Path) -> None:
    run = RunDir.create("e", _Cfg(), root=tmp_path)
    steps = [Step("ep0", "g0", i, f"obs {i}", [1, 2], [3], f"act {i}", -0.5, reward=float(i == 1),
                  step_rewards={"spa": 0.25 * i}) for i in range(2)]
    ep = Episode("ep0", "g0", "credo/X-v0", 7, "do it", steps, success=True, score=1.0)
    path = run.write_episodes(3, [ep])
    assert path.name == "iter_3.jsonl"
    (row,) = run.read_episodes()
    assert row["success"] is True and row["return"] == 1.0 and row["length"] == 2
    assert [s["step_rewards"]["spa"] for s in row["steps"]] == [0.0, 0.25]
    assert "prompt_ids" not in row["steps"][0]
    assert run.read_episodes(iteration=9) == []
