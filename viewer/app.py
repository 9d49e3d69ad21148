"""The viewer's HTTP server: a small read-only JSON API over a runs root, and the static page that uses it.

API (every path under /api; with an API key, send it as `X-API-Key: KEY`, `Authorization: Bearer KEY` or `?key=KEY`):

    GET /api/runs                                 the runs table (one summary row per run) and the suite names
    GET /api/run?run=ID                           one run: summary, config, metric keys, iterations with episodes
    GET /api/metrics?run=ID[&run=ID2...][&key=K...][&since=N]
                                                  metric columns per run (iteration, time, env_steps, wall_time
                                                  always; `key` adds others, none = all); `since`: rows after it
    GET /api/episodes?run=ID[&iteration=N][&offset=0&limit=50]
                                                  a page of episode summaries of one iteration (default: newest)
    GET /api/episode?run=ID&index=I[&iteration=N] one whole episode: steps with observation, candidates and their
                                                  log-probs, action, env reward, step_rewards per module, advantage
    GET /api/artefacts?run=ID                     per credit module: its metrics, saved files, LaRe's code and
                                                  dialogue, ONI's label counts and helpful captions
    GET /api/suite?suite=S                        a suite: report (report.md as HTML, report.json), figures, groups
    GET /api/suite/bands?suite=S&key=K[&x=env_steps]
                                                  mean and min-max over seeds of K per (task, arm)
    GET /api/suite/figure?suite=S&name=F          a figure file of the suite folder

A run id is the run's folder relative to the runs root: `<name>` or `<suite>/<name>`. Anything that is not there
(run, suite, iteration, episode, figure) is a 404 with a one-line `detail`; corrupt JSONL lines are skipped and
counted (`skipped_lines`). Status (`viewer.catalog.run_status`), from the files alone:

- `finished`: `summary.json` exists, or the last metrics row reached the config's stop criterion
  (env_steps >= total_env_steps, or wall_time >= 60 * max_minutes);
- `live`: otherwise, when something in the run folder (metrics, TensorBoard events, episodes/, checkpoints/) was
  written within max(300 s, 3 x the last iteration's duration);
- `stopped`: otherwise: crashed, killed or interrupted (`credo train --resume` continues it).
"""

from __future__ import annotations

import hmac
import time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from agents.runs import METRICS_FILE
from viewer import artefacts, catalog, suites
from viewer.catalog import NotFound
from viewer.episodes import Episodes, iterations
from viewer.files import AppendedRows

X_COLUMNS = ("iteration", "time", "env_steps", "wall_time")
"""Columns every metrics answer carries: the possible x axes."""

def _key_of(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.query_params.get("key") or ""


def create_app(runs_root: Path | str = "runs", api_key: str | None = None) -> FastAPI:
    """The viewer over `runs_root`; with `api_key`, every /api request must carry it (see the module docstring)."""
    root = Path(runs_root)
    metrics_rows = AppendedRows()
    episodes = Episodes()
    static = resources.files("viewer") / "static"

    def authorise(request: Request) -> None:
        if api_key and not hmac.compare_digest(_key_of(request).encode(), api_key.encode()):
            raise HTTPException(401, "missing or wrong API key: send X-API-Key: KEY, Authorization: Bearer KEY "
                                     "or ?key=KEY")

    app = FastAPI(title="credo runs", description=__doc__, docs_url="/api/docs", openapi_url="/api/openapi.json")

    @app.exception_handler(NotFound)
    async def not_found(_: Request, err: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=404)

    api = [Depends(authorise)]

    def run(run_id: str) -> catalog.RunRef:
        """A run by id (`<name>` or `<suite>/<name>`), or a 404."""
        return catalog.resolve_run(root, run_id)

    def metric_table(ref: catalog.RunRef, keys: list[str] | None, since: int | None) -> dict[str, Any]:
        rows, skipped = metrics_rows.read(ref.path / METRICS_FILE)
        if since is not None:
            rows = [r for r in rows if isinstance(r.get("iteration"), (int, float)) and r["iteration"] > since]
        wanted = list(dict.fromkeys([*X_COLUMNS, *(keys if keys else _keys(rows))]))
        return {"run": ref.id, "skipped_lines": skipped, "columns": {k: [r.get(k) for r in rows] for k in wanted}}

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((static / "index.html").read_text(), headers={"Cache-Control": "no-cache"})

    @app.get("/api/runs", dependencies=api)
    def runs() -> dict[str, Any]:
        """Every run under the root (one summary row each, O(1) bytes read per run) and the suite names."""
        now = time.time()
        return {"root": str(root), "now": now, "runs": [catalog.summarize(r, now) for r in catalog.find_runs(root)],
                "suites": catalog.find_suites(root)}

    @app.get("/api/run", dependencies=api)
    def run_detail(run_id: Annotated[str, Query(alias="run")]) -> dict[str, Any]:
        """One run: its summary row, resolved config, every metric key it logged and the iterations with episodes."""
        ref = run(run_id)
        config, _ = catalog.read_config(ref.path)
        rows, skipped = metrics_rows.read(ref.path / METRICS_FILE)
        return {"summary": catalog.summarize(ref), "config": config, "metric_keys": _keys(rows),
                "metrics_skipped_lines": skipped, "iterations": iterations(ref.path)}

    @app.get("/api/metrics", dependencies=api)
    def metrics(run_ids: Annotated[list[str], Query(alias="run")],
                key: Annotated[list[str] | None, Query(description="Metric keys (none: all).")] = None,
                since: Annotated[int | None, Query(description="Only rows with a later iteration.")] = None,
                ) -> dict[str, Any]:
        """Metric columns of one or several runs (for curves and comparisons)."""
        return {"runs": [metric_table(run(r), key, since) for r in run_ids]}

    @app.get("/api/episodes", dependencies=api)
    def episode_page(run_id: Annotated[str, Query(alias="run")], iteration: int | None = None,
                     offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                     ) -> dict[str, Any]:
        """A page of episode summaries (id, length, return, success, modules) of one iteration."""
        return episodes.page(run(run_id).path, iteration, offset, limit)

    @app.get("/api/episode", dependencies=api)
    def episode(run_id: Annotated[str, Query(alias="run")], index: Annotated[int, Query(ge=0)],
                iteration: int | None = None) -> dict[str, Any]:
        """One whole episode as the run wrote it."""
        return episodes.episode(run(run_id).path, iteration, index)

    @app.get("/api/artefacts", dependencies=api)
    def run_artefacts(run_id: Annotated[str, Query(alias="run")]) -> dict[str, Any]:
        """Each credit module's own outputs."""
        ref = run(run_id)
        rows, _ = metrics_rows.read(ref.path / METRICS_FILE)
        return artefacts.artefacts(ref.path, _keys(rows), metrics_rows)

    def suite_runs(name: str) -> tuple[Path, list[catalog.RunRef]]:
        folder = catalog.resolve_suite(root, name)
        return folder, [r for r in catalog.find_runs(root) if r.suite == folder.name]

    @app.get("/api/suite", dependencies=api)
    def suite(name: Annotated[str, Query(alias="suite")]) -> dict[str, Any]:
        """A `credo bench credit` suite: report, figures and runs grouped by (task, arm)."""
        return suites.suite_info(*suite_runs(name))

    @app.get("/api/suite/bands", dependencies=api)
    def suite_bands(name: Annotated[str, Query(alias="suite")], key: str, x: str = "env_steps") -> dict[str, Any]:
        """Seed bands of metric `key` per (task, arm)."""
        _, refs = suite_runs(name)
        return {"key": key, "x": x, "bands": suites.bands({r.id: r for r in refs}, suites.groups(refs), key, x,
                                                           metrics_rows)}

    @app.get("/api/suite/figure", dependencies=api)
    def suite_figure(name: Annotated[str, Query(alias="suite")], figure: Annotated[str, Query(alias="name")]
                     ) -> FileResponse:
        """A figure of the suite folder (png, svg, jpg)."""
        found = suites.figure(catalog.resolve_suite(root, name), figure)
        if found is None:
            raise NotFound(f"suite {name!r}: no figure {figure!r}")
        return FileResponse(found[0], media_type=found[1])

    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app


def _keys(rows: list[dict[str, Any]]) -> list[str]:
    """Every metric key logged in `rows`, in first-logged order, without the bookkeeping columns."""
    seen: dict[str, None] = {}
    for r in rows:
        seen.update(dict.fromkeys(r))
    return [k for k in seen if k not in ("iteration", "time")]
