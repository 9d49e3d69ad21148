"""`credo runs serve` in a real browser: headless Chromium (Debian's package) driven by Playwright.

The test trains two tiny runs itself, serves them, and walks the pages a person would: the runs table, a run's
episode with the credit strip (one cell per step holding the stored value), keyboard navigation, a shared URL,
the comparison of two runs, and a live run updating without a reload. Screenshots go to the test's tmp dir.
Without Chromium it skips, saying how to enable it (`apt-get install chromium`; CI's `.ci/run` does).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.runs import RunDir
from tests._agent_helpers import line_config, line_policy
from tests._viewer_helpers import make_run, make_suite, metrics_row

CHROMIUM = os.environ.get("CREDO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]

if not Path(CHROMIUM).is_file():
    pytest.skip("browser test skipped: no Chromium found; enable it with `apt-get install chromium` (or set "
                "CREDO_CHROMIUM=/path/to/chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser test skipped: `pip install playwright` "
                               "(in credo's dev extra) to enable it")


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny trained runs on the line env (GiGPO with groups of 4; outcome only), a synthetic live run and a
    synthetic `credo bench credit` suite."""
    from agents.trainer import Trainer

    root = tmp_path_factory.mktemp("runs")
    line_policy(tmp_path_factory.mktemp("credo_cache"))
    # summed scores: this seeded run's logged episodes of the last iteration then differ in outcome, so GiGPO's
    # values there are not all zero (with the tiny model's head all four fail, and every value is 0)
    Trainer(line_config(root, name="gigpo-run", credit="gigpo", advantage="grpo", group_size=4,
                        log_episodes=4, policy={"candidate_score": "sum"})).train()
    Trainer(line_config(root, name="outcome-run", log_episodes=2)).train()
    make_run(root, "live-run", iterations=2, config={"total_env_steps": 10**6})
    make_suite(root)
    return root


@pytest.fixture(scope="module")
def server(runs_root: Path) -> Iterator[str]:
    import uvicorn

    from viewer.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(runs_root), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the viewer did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    pg.on("pageerror", lambda err: errors.append(str(err)))
    pg.errors = errors
    yield pg
    pg.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def stored_episodes(root: Path, run: str) -> tuple[int, list[dict]]:
    """(newest iteration with episodes, its episodes) as the run wrote them."""
    folder = root / run / "episodes"
    last = max(int(p.stem.split("_")[1]) for p in folder.glob("iter_*.jsonl"))
    return last, RunDir(root / run).read_episodes(last)


def cell_values(page: Any, row: str) -> list[float | None]:
    values = page.eval_on_selector_all(f'#strip .strip-row[data-module="{row}"] .cell', "cs => cs.map(c => c.dataset.value)")
    return [None if v == "" else float(v) for v in values]


def test_runs_table_episode_credit_strip_and_keyboard(page: Any, server: str, runs_root: Path, tmp_path: Path) -> None:
    page.goto(server)
    page.wait_for_selector("#runs-table tbody tr")
    rows = page.eval_on_selector_all("#runs-table tbody tr", "rs => rs.map(r => r.dataset.run)")
    assert sorted(rows) == ["gigpo-run", "live-run", "outcome-run", "s/room-outcome-s0", "s/room-outcome-s1",
                            "s/room-spa-s0", "s/room-spa-s1"]
    assert page.text_content('#runs-table tr[data-run="gigpo-run"] .badge') == "finished"
    assert page.text_content('#runs-table tr[data-run="live-run"] .badge') == "live"
    page.fill("#filter", "gigpo-run")
    assert page.eval_on_selector_all("#runs-table tbody tr", "rs => rs.length") == 1
    page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)

    page.click('#runs-table tr[data-run="gigpo-run"] a')
    page.wait_for_selector("#episodes-table tbody tr")
    iteration, episodes = stored_episodes(runs_root, "gigpo-run")
    index = max(range(len(episodes)), key=lambda i: len(episodes[i]["steps"]))  # the longest episode
    ep = episodes[index]
    steps = ep["steps"]
    assert len(steps) >= 3
    page.click(f'#episodes-table tr[data-index="{index}"]')
    page.wait_for_selector("#strip .cell")
    assert page.text_content("#step-index") == f"step 1 / {len(steps)}"

    # the credit strip: one cell per step, per module, holding the values stored on the steps
    assert "gigpo" in steps[0]["step_rewards"]
    for name in steps[0]["step_rewards"]:
        assert cell_values(page, name) == pytest.approx([s["step_rewards"][name] for s in steps], abs=1e-12)
    assert any(s["step_rewards"]["gigpo"] != 0 for e in episodes for s in e["steps"])
    assert cell_values(page, "advantage") == pytest.approx([s["advantage"] for s in steps], abs=1e-12)
    assert cell_values(page, "reward") == pytest.approx([s["reward"] for s in steps], abs=1e-12)
    page.screenshot(path=str(tmp_path / "episode.png"), full_page=True)

    # keyboard: right twice = step 3, with its observation, action and candidates; the URL follows
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.text_content("#step-index") == f"step 3 / {len(steps)}"
    s = steps[2]
    assert page.text_content("#action") == s["action_text"]
    assert page.text_content("#observation") == s["observation"]
    cands = page.eval_on_selector_all("#candidates li", "ls => ls.map(l => [l.querySelector('.cand').textContent, "
                                                        "+l.dataset.prob, l.classList.contains('chosen')])")
    probs = [math.exp(lp) for lp in s["candidate_logprobs"]]
    assert [c[0] for c in cands] == s["candidates"] and [c[1] for c in cands] == pytest.approx(probs)
    assert [c[0] for c in cands if c[2]] == [s["action_text"]]
    assert page.eval_on_selector("#strip .cell.current", "c => c.dataset.step") == "2"
    assert re.search(rf"[?&]run=gigpo-run&iter={iteration}&ep={index}&step=2\b", page.url), page.url
    page.keyboard.press("ArrowLeft")
    assert page.text_content("#step-index") == f"step 2 / {len(steps)}"
    page.keyboard.press("End")
    assert page.text_content("#step-index") == f"step {len(steps)} / {len(steps)}"

    # j / k: the next and previous episode of the iteration
    other = index + 1 if index + 1 < len(episodes) else index - 1
    page.keyboard.press("j" if other > index else "k")
    page.wait_for_function(f"(document.querySelector('#episode h3')?.textContent || '').startsWith('episode {episodes[other]['episode_id']} ')")
    assert f"ep={other}&step=0" in page.url
    assert len(cell_values(page, "gigpo")) == len(episodes[other]["steps"])

    # a shared URL opens the same run, iteration, episode and step
    shared = f"{server}?run=gigpo-run&iter={iteration}&ep={index}&step=1"
    page.goto(shared)
    page.wait_for_selector("#step-index")
    assert page.text_content("#step-index") == f"step 2 / {len(steps)}"
    assert page.text_content("#action") == steps[1]["action_text"]


def test_compare_two_runs(page: Any, server: str, runs_root: Path, tmp_path: Path) -> None:
    page.goto(server)
    page.wait_for_selector("#runs-table tbody tr")
    for run in ("gigpo-run", "outcome-run"):
        page.check(f'#runs-table tr[data-run="{run}"] input.sel')
    page.click("#compare-btn")
    page.wait_for_selector("#compare-chart path.series")
    names = page.eval_on_selector_all("#compare-chart path.series", "ps => ps.map(p => p.dataset.name)")
    assert names == ["gigpo-run", "outcome-run"]
    assert all(page.eval_on_selector_all("#compare-chart path.series", "ps => ps.map(p => p.getAttribute('d').length > 3)"))
    last = {run: RunDir(runs_root / run).read_metrics()[-1] for run in names}
    table = page.eval_on_selector_all("#compare-table tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    assert [r[0] for r in table] == names
    assert [float(r[3]) for r in table] == pytest.approx([last[n]["return"] for n in names], abs=1e-3)
    page.select_option("#compare-metric", "episode_length")
    page.wait_for_function("location.search.includes('metric=episode_length')")
    page.wait_for_selector("#compare-chart path.series")
    assert "compare=gigpo-run%2Coutcome-run" in page.url or "compare=gigpo-run,outcome-run" in page.url
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    assert all((tmp_path / f).stat().st_size > 10_000 for f in ("compare.png",))


def test_a_live_run_updates_without_a_reload(page: Any, server: str, runs_root: Path, tmp_path: Path) -> None:
    page.goto(f"{server}?run=live-run")
    page.wait_for_selector("#curves svg")
    page.evaluate("window.notReloaded = true")
    assert "iterations 2" in page.text_content("#run-head .facts")
    with open(runs_root / "live-run" / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps(metrics_row(3)) + "\n")
    page.wait_for_function("document.querySelector('#run-head .facts').textContent.includes('iterations 3')",
                           timeout=15_000)
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(tmp_path / "live.png"), full_page=True)


def test_suite_page_shows_report_bands_and_groups(page: Any, server: str, tmp_path: Path) -> None:
    page.goto(server)
    page.click("#suites a")
    page.wait_for_selector("#bands path.series")
    assert page.eval_on_selector_all("#bands path.series", "ps => ps.map(p => p.dataset.name)") == [
        "outcome (n=2)", "spa (n=2)"]
    assert page.eval_on_selector_all("#bands polygon.band", "ps => ps.length") == 2
    assert page.text_content("#report .markdown table td") == "spa"
    assert page.eval_on_selector_all("#report .markdown script", "s => s.length") == 0
    assert "<script>alert(1)</script>" in page.text_content("#report .markdown")  # shown as text, not run
    assert page.eval_on_selector_all("#suite-groups tbody tr", "rs => rs.map(r => r.cells[1].textContent)") == [
        "outcome", "spa"]
    assert "suite=s" in page.url
    page.screenshot(path=str(tmp_path / "suite.png"), full_page=True)
