"""The viewer's HTTP API (`credo runs serve`) on run folders written like `credo train` writes them.

Every endpoint, the run status rules, half-written and corrupt files, missing things (a 404 with one line, never a
500), the API key, suites (report, figures, seed bands) and the bound on what listing the runs reads.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from credo.cli import cli
from tests._viewer_helpers import MODULES, credit_value, make_run, make_suite, metrics_row
from viewer.app import create_app
from viewer.cli import is_loopback
from viewer.files import tail_rows

HOUR = 3600.0


def client(root: Path, **kwargs: object) -> TestClient:
    return TestClient(create_app(root, **kwargs), raise_server_exceptions=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make_run(tmp_path, "done", iterations=3)
    make_run(tmp_path, "training", iterations=2, config={"total_env_steps": 10**6})
    make_run(tmp_path, "crashed", iterations=2, config={"total_env_steps": 10**6}, age_s=2 * HOUR)
    evaluated = make_run(tmp_path, "evaluated", iterations=1, config={"total_env_steps": 10**6}, age_s=2 * HOUR)
    (evaluated / "summary.json").write_text("{}")
    return tmp_path


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in rows}


def test_runs_table_rows_and_status_from_the_files(root: Path) -> None:
    res = client(root).get("/api/runs")
    assert res.status_code == 200
    runs = by_id(res.json()["runs"])
    assert set(runs) == {"done", "training", "crashed", "evaluated"}
    assert runs["done"]["status"] == "finished" and "total_env_steps" in runs["done"]["status_reason"]
    assert runs["evaluated"]["status"] == "finished" and "summary.json" in runs["evaluated"]["status_reason"]
    assert runs["training"]["status"] == "live"
    assert runs["crashed"]["status"] == "stopped" and "--resume" in runs["crashed"]["status_reason"]
    row = runs["done"]
    assert row["env"] == "MiniHack-Room-5x5-v0" and row["credit"] == "spa:1.0,gigpo:1.0"
    assert row["advantage"] == "rloo" and row["model"] == "tiny"
    last = metrics_row(3)
    assert (row["iterations"], row["env_steps"], row["success"], row["wall_time"]) == (
        3, last["env_steps"], last["success"], last["wall_time"])


def test_a_long_iteration_keeps_a_run_live(tmp_path: Path) -> None:
    """Live = written within max(300 s, 3 iterations): a run whose iterations take 20 minutes is live at 30."""
    path = make_run(tmp_path, "slow", iterations=2, config={"total_env_steps": 10**6}, age_s=1800)
    rows = [dict(metrics_row(1), time=1e9), dict(metrics_row(2), time=1e9 + 1200)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.utime(path / "metrics.jsonl", (os.path.getmtime(path), os.path.getmtime(path)))
    assert client(tmp_path).get("/api/runs").json()["runs"][0]["status"] == "live"


def test_suite_runs_are_listed_one_level_down(root: Path) -> None:
    cell = {"suite": "s1", "task": "room", "arm": "spa", "seed": 0}
    make_run(root, "s1/room-spa-s0", cell=cell)
    (root / "s1" / "suite.yaml").write_text("tasks: [room]\n")
    make_run(root, "s1/deeper/too-deep")  # two levels down: not a run of this root
    body = client(root).get("/api/runs").json()
    runs = by_id(body["runs"])
    assert runs["s1/room-spa-s0"]["suite"] == "s1" and runs["s1/room-spa-s0"]["cell"] == cell
    assert "s1/deeper/too-deep" not in runs and body["suites"] == ["s1"]
    assert client(root).get("/api/run", params={"run": "s1/room-spa-s0"}).json()["iterations"] == [1, 2, 3]


def test_half_written_run(tmp_path: Path) -> None:
    """A run that has only written its config (the first iteration is still running)."""
    (tmp_path / "starting" / "episodes").mkdir(parents=True)
    (tmp_path / "starting" / "config.yaml").write_text("env: credo/MiniHack-Room-5x5-v0\ncredit: oni\n")
    c = client(tmp_path)
    row = c.get("/api/runs").json()["runs"][0]
    assert (row["status"], row["iterations"], row["env_steps"], row["credit"]) == ("live", 0, None, "oni")
    detail = c.get("/api/run", params={"run": "starting"}).json()
    assert detail["iterations"] == [] and detail["metric_keys"] == []
    assert c.get("/api/metrics", params={"run": "starting"}).json()["runs"][0]["columns"]["iteration"] == []
    res = c.get("/api/episodes", params={"run": "starting"})
    assert res.status_code == 404 and "no episodes logged yet" in res.json()["detail"]
    assert c.get("/api/artefacts", params={"run": "starting"}).json() == {"modules": {}}


def test_corrupt_config_and_json_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = make_run(tmp_path, "r", iterations=3, episodes_per_iter=3)
    (path / "config.yaml").write_text("env: [unclosed\n")
    lines = (path / "metrics.jsonl").read_text().splitlines()
    lines.insert(1, '{"iteration": 9, "success": ')  # a corrupt line in the middle
    (path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"iteration": 4, "suc')  # and a cut last line
    eps = (path / "episodes" / "iter_3.jsonl").read_text().splitlines()
    (path / "episodes" / "iter_3.jsonl").write_text("\n".join([eps[0], "{not json", eps[1], "[1, 2]", eps[2]]) + "\n")
    c = client(tmp_path)
    row = c.get("/api/runs").json()["runs"][0]
    assert row["error"].startswith("config.yaml: unreadable") and row["iterations"] == 3
    detail = c.get("/api/run", params={"run": "r"}).json()
    assert detail["metrics_skipped_lines"] == 1 and detail["config"] == {}
    assert c.get("/api/metrics", params={"run": "r"}).json()["runs"][0]["columns"]["iteration"] == [1, 2, 3]
    page = c.get("/api/episodes", params={"run": "r", "iteration": 3}).json()
    assert page["skipped_lines"] == 2 and [e["episode_id"] for e in page["episodes"]] == ["i3e0", "i3e1", "i3e2"]
    assert c.get("/api/episode", params={"run": "r", "iteration": 3, "index": 2}).json()["episode_id"] == "i3e2"


@pytest.mark.parametrize(("path", "params", "needle"), [
    ("/api/run", {"run": "nope"}, "no such run"),
    ("/api/run", {"run": "../etc"}, "not a run id"),
    ("/api/run", {"run": "/etc"}, "not a run id"),
    ("/api/run", {"run": "a/b/c"}, "not a run id"),
    ("/api/metrics", {"run": ["done", "nope"]}, "no such run"),
    ("/api/episodes", {"run": "done", "iteration": 7}, "no episodes at iteration 7 (logged: 1..3"),
    ("/api/episode", {"run": "done", "iteration": 1, "index": 4}, "has 4 episodes, no episode 4"),
    ("/api/artefacts", {"run": "nope"}, "no such run"),
    ("/api/suite", {"suite": "done"}, "no such suite"),
    ("/api/suite", {"suite": ".."}, "not a suite id"),
    ("/api/suite/bands", {"suite": "nope", "key": "success"}, "no such suite"),
])
def test_missing_things_are_404_with_one_line(root: Path, path: str, params: dict, needle: str) -> None:
    res = client(root).get(path, params=params)
    assert res.status_code == 404, res.text
    detail = res.json()["detail"]
    assert needle in detail and "\n" not in detail


@pytest.mark.parametrize(("path", "params"), [
    ("/api/run", {}), ("/api/episodes", {"run": "done", "limit": 0}), ("/api/episodes", {"run": "done", "offset": -1}),
    ("/api/episode", {"run": "done"}), ("/api/episode", {"run": "done", "index": "x"}), ("/api/suite/bands", {"suite": "s"}),
])
def test_bad_parameters_are_4xx(root: Path, path: str, params: dict) -> None:
    assert client(root).get(path, params=params).status_code == 422


def test_metrics_columns_keys_since_and_several_runs(root: Path) -> None:
    c = client(root)
    body = c.get("/api/metrics", params={"run": ["done", "training"], "key": "success"}).json()
    done, training = body["runs"]
    assert (done["run"], training["run"]) == ("done", "training")
    assert set(done["columns"]) == {"iteration", "time", "env_steps", "wall_time", "success"}
    assert done["columns"]["success"] == [metrics_row(i)["success"] for i in (1, 2, 3)]
    assert len(training["columns"]["iteration"]) == 2
    since = c.get("/api/metrics", params={"run": "done", "since": 2}).json()["runs"][0]["columns"]
    assert since["iteration"] == [3] and "spa/heldout_mse" in since
    assert "spa/heldout_mse" in c.get("/api/run", params={"run": "done"}).json()["metric_keys"]


def test_metrics_follow_appends_and_a_resume_that_rewrites_the_file(root: Path) -> None:
    c = client(root)
    path = root / "training" / "metrics.jsonl"

    def cols() -> dict:
        return c.get("/api/metrics", params={"run": "training", "key": "success"}).json()["runs"][0]["columns"]

    assert cols()["iteration"] == [1, 2]
    with open(path, "a") as fh:
        fh.write(json.dumps(metrics_row(3)) + "\n" + '{"iteration": 4, "succ')  # row 4 is still being written
    assert cols()["iteration"] == [1, 2, 3]
    with open(path, "a") as fh:
        fh.write('ess": 0.4}\n')
    assert cols()["iteration"] == [1, 2, 3, 4] and cols()["success"][-1] == 0.4
    path.write_text(json.dumps(metrics_row(1)) + "\n")  # `credo train --resume` from iteration 1
    assert cols()["iteration"] == [1]
    tmp = path.with_name("new")  # an atomic rewrite to a longer file: a new inode, read from the start
    tmp.write_text("".join(json.dumps(dict(metrics_row(i), success=0.9)) + "\n" for i in (1, 2, 3)))
    os.replace(tmp, path)
    assert cols()["success"] == [0.9, 0.9, 0.9]


def test_episode_pages_and_whole_episodes(tmp_path: Path) -> None:
    make_run(tmp_path, "r", iterations=2, episodes_per_iter=7, length=5)
    c = client(tmp_path)
    page = c.get("/api/episodes", params={"run": "r", "offset": 5, "limit": 5}).json()
    assert page["iteration"] == 2 and page["total"] == 7  # default: the newest iteration
    assert [e["index"] for e in page["episodes"]] == [5, 6]
    first = page["episodes"][0]
    assert (first["episode_id"], first["length"], first["success"], first["modules"]) == ("i2e5", 5, True, list(MODULES))
    ep = c.get("/api/episode", params={"run": "r", "iteration": 1, "index": 3}).json()
    assert (ep["episode_id"], ep["iteration"], ep["index"], ep["modules"]) == ("i1e3", 1, 3, list(MODULES))
    assert len(ep["steps"]) == 5
    for t, s in enumerate(ep["steps"]):
        assert s["step_rewards"] == {m: credit_value(m, t) for m in MODULES}
        assert s["advantage"] == 0.5 - 0.25 * t and s["candidates"] == ["north", "east", "south", "west"]
        assert len(s["candidate_logprobs"]) == 4 and s["action_text"] == "east" and "|.@.>|" in s["observation"]


def test_artefacts_of_lare_oni_and_spa(tmp_path: Path) -> None:
    path = make_run(tmp_path, "r", config={"credit": "spa,lare,oni"})
    lare = path / "credit" / "lare" / "MiniHack-seed0-factors-abc123"
    lare.mkdir(parents=True)
    (lare / "code.py").write_text("def evaluate(state):\n    return [state['hp']]\n")
    (lare / "meta.json").write_text(json.dumps({"n_factors": 1, "source": "replies"}))
    dialogue = {"calls": [{"purpose": "sample", "n": 5, "temperature": 1.0, "messages": [{"role": "user", "content": "hi"}],
                           "replies": ["{...}"], "checks": ["ok"]}], "after": [], "accepted": True}
    (lare / "dialogue.json").write_text(json.dumps(dialogue))
    broken = path / "credit" / "lare" / "other"
    broken.mkdir()
    (broken / "dialogue.json").write_text("{cut")
    oni = path / "credit" / "oni"
    oni.mkdir()
    labels = [{"item": "You kill the newt!", "label": 1.0}, {"item": "It's a wall.", "label": 0.0},
              {"item": "12 gold pieces.", "label": 0.0}, {"item": "12 gold pieces.", "label": 1.0},  # relabelled
              {"item": "???", "label": None}]
    (oni / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labels) + "{cut\n")
    (path / "credit" / "spa").mkdir()
    (path / "credit" / "spa" / "estimator.pt").write_bytes(b"x" * 10)
    mods = client(tmp_path).get("/api/artefacts", params={"run": "r"}).json()["modules"]
    assert list(mods) == ["spa", "gigpo", "lare", "oni"]
    assert mods["spa"]["headline"] == "spa/heldout_mse" and "spa/heldout_mse" in mods["spa"]["metrics"]
    assert mods["spa"]["files"] == [{"path": "estimator.pt", "bytes": 10}]
    good, bad = sorted(mods["lare"]["lare"], key=lambda e: e["key"])
    assert good["code"].startswith("def evaluate") and good["meta"]["n_factors"] == 1
    assert good["dialogue"] == dialogue and good["errors"] == []
    assert bad["code"] is None and bad["dialogue"] is None and "not valid JSON" in bad["errors"][0]
    o = mods["oni"]["oni"]
    assert (o["kind"], o["labels"], o["skipped_lines"]) == ("single", 4, 1)
    assert o["counts"] == {"1": 2, "0": 1, "unparseable": 1}
    assert [m["caption"] for m in o["messages"]] == ["12 gold pieces.", "You kill the newt!"]


def test_oni_pair_labels_count_the_preferred_caption(tmp_path: Path) -> None:
    path = make_run(tmp_path, "r")
    (path / "credit" / "oni").mkdir(parents=True)
    rows = [{"item": ["a", "b"], "label": 0.0}, {"item": ["c", "a"], "label": 1.0}, {"item": ["b", "c"], "label": 0.5}]
    (path / "credit" / "oni" / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    o = client(tmp_path).get("/api/artefacts", params={"run": "r"}).json()["modules"]["oni"]["oni"]
    assert o["kind"] == "pair" and o["counts"] == {"0": 1, "1": 1, "0.5": 1}
    assert o["messages"] == [{"caption": "a", "times": 2}] and o["messages_total"] == 2


def test_suite_report_groups_and_figures(tmp_path: Path) -> None:
    make_suite(tmp_path)
    c = client(tmp_path)
    info = c.get("/api/suite", params={"suite": "s"}).json()
    assert [(g["task"], g["arm"], g["seeds"]) for g in info["groups"]] == [("room", "outcome", [0, 1]), ("room", "spa", [0, 1])]
    html = info["report_html"]
    assert "<table>" in html and "<td>spa</td>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html  # raw HTML in report.md is shown, never run
    assert info["report_json"] is None and info["report_error"] is None and info["figures"] == ["curves.png"]
    fig = c.get("/api/suite/figure", params={"suite": "s", "name": "curves.png"})
    assert fig.status_code == 200 and fig.headers["content-type"] == "image/png" and fig.content.startswith(b"\x89PNG")
    for name in ("notes.txt", "../s/curves.png", "room-spa-s0/config.yaml", "missing.png"):
        assert c.get("/api/suite/figure", params={"suite": "s", "name": name}).status_code == 404
    (tmp_path / "s" / "report.json").write_text('{"schema": 1, "rows": []}')
    assert c.get("/api/suite", params={"suite": "s"}).json()["report_json"] == {"schema": 1, "rows": []}


def test_seed_bands_on_the_range_every_seed_covers(tmp_path: Path) -> None:
    make_suite(tmp_path)
    body = client(tmp_path).get("/api/suite/bands", params={"suite": "s", "key": "success"}).json()
    outcome, spa = body["bands"]
    assert (outcome["arm"], outcome["n"], spa["arm"]) == ("outcome", 2, "spa")
    # seed 0 reads x / 1000 at x = 100..400, seed 1 reads x / 1000 + 0.05 at x = 150..450: the common range
    # is 150..400, where seed 0 is interpolated halfway between its points
    assert outcome["x"] == [150.0, 200.0, 250.0, 300.0, 350.0, 400.0]
    s0 = [x / 1000 for x in outcome["x"]]
    s1 = [x / 1000 + 0.05 for x in outcome["x"]]
    assert outcome["lo"] == pytest.approx(s0) and outcome["hi"] == pytest.approx(s1)
    assert outcome["mean"] == pytest.approx([(a + b) / 2 for a, b in zip(s0, s1, strict=True)])
    assert spa["mean"] == pytest.approx([2 * m for m in outcome["mean"]])


def test_api_key_is_required_in_every_accepted_form(root: Path) -> None:
    c = client(root, api_key="s3cret")
    assert c.get("/api/runs").status_code == 401
    assert "X-API-Key" in c.get("/api/runs", headers={"X-API-Key": "wrong"}).json()["detail"]
    assert c.get("/api/runs", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert c.get("/api/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/api/runs", params={"key": "s3cret"}).status_code == 200
    assert c.get("/api/episode", params={"run": "done", "index": 0}).status_code == 401
    assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200  # the page itself is public


def test_page_and_static_files_are_served(root: Path) -> None:
    c = client(root)
    page = c.get("/")
    assert page.status_code == 200 and "static/app.js" in page.text and "http" not in page.text.replace(
        "http-equiv", "")  # nothing loaded from the network
    for name in ("app.js", "plot.js", "style.css"):
        assert c.get(f"/static/{name}").status_code == 200


def test_serve_refuses_a_public_bind_without_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDO_VIEWER_API_KEY", raising=False)
    runner = CliRunner()
    res = runner.invoke(cli, ["runs", "serve", "--runs-root", str(tmp_path), "--host", "0.0.0.0"])
    assert res.exit_code == 2 and "needs --api-key" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["runs", "serve", "--runs-root", str(tmp_path / "none")])
    assert res.exit_code == 2 and "no such folder" in res.output
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


def test_tail_rows_reads_only_the_end(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    rows = [json.dumps({"i": i, "pad": "x" * 3000}) for i in range(50)]
    path.write_text("\n".join(rows) + "\n" + '{"i": 50, "cut')
    assert [r["i"] for r in tail_rows(path, 2)] == [48, 49]
    assert [r["i"] for r in tail_rows(path, 100)] == list(range(50))
    assert tail_rows(tmp_path / "missing.jsonl", 2) == []


def _bytes_read() -> int:
    """Bytes this process has read through read() calls so far (Linux /proc/self/io)."""
    return int(next(line for line in Path("/proc/self/io").read_text().splitlines() if line.startswith("rchar:")).split()[1])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io to count bytes read")
def test_listing_reads_a_bounded_amount_per_run_and_never_opens_episode_files(tmp_path: Path) -> None:
    """A 1,000-iteration run with 100k logged episodes lists by reading a few kB (its timing: benchmarks/)."""
    big = make_run(tmp_path / "big", "big", iterations=1000, episodes_per_iter=100, length=1)
    size = sum(p.stat().st_size for p in big.rglob("*") if p.is_file())
    assert size > 50e6
    make_run(tmp_path / "warm", "warm", iterations=2)
    client(tmp_path / "warm").get("/api/runs")  # imports and first-call work, outside the measurement
    opened: list[str] = []
    watching = [True]

    def hook(event: str, args: tuple) -> None:
        if watching[0] and event == "open" and isinstance(args[0], str):
            opened.append(args[0])

    sys.addaudithook(hook)
    c = client(tmp_path / "big")
    before = _bytes_read()
    try:
        res = c.get("/api/runs")
        read = _bytes_read() - before
    finally:
        watching[0] = False
    row = res.json()["runs"][0]
    assert (row["iterations"], row["env_steps"]) == (1000, 512_000.0)
    assert not [p for p in opened if "episodes" in Path(p).parts], opened
    assert read < 256 * 1024, f"listing one run read {read} bytes of a {size / 1e6:.0f} MB run"
    its = c.get("/api/run", params={"run": "big"}).json()["iterations"]
    assert its == list(range(1, 1001))
    page = c.get("/api/episodes", params={"run": "big", "iteration": 500, "offset": 90, "limit": 50}).json()
    assert page["total"] == 100 and [e["episode_id"] for e in page["episodes"]][:2] == ["i500e90", "i500e91"]
