"""`credo judge serve|annotate|rubrics`: run the annotator server, label a file, list rubrics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from llm_judges.base import Judge
    from llm_judges.config import JudgeConfig

judge_app = typer.Typer(help="LLM judges: the annotator server, batch annotation, rubrics.", no_args_is_help=True)

Backend = Annotated[str | None, typer.Option("--backend", help="openai | local | embedding (default: embedding).")]
Model = Annotated[str | None, typer.Option("--model", help="Model name (openai), checkpoint folder or 'tiny' (local).")]
BaseUrl = Annotated[str | None, typer.Option("--base-url", help="openai back-end: the upstream URL ending in /v1.")]
Rubrics = Annotated[Path | None, typer.Option("--rubrics", help="YAML file of your own rubrics.")]
Overrides = Annotated[list[str] | None, typer.Argument(
    help="KEY=VALUE config overrides, e.g. judge.temperature=0.3 max_batch_size=32.")]


def _flags(prefix: str, **values: object) -> list[str]:
    """Shortcut flags as KEY=VALUE overrides (only the ones given)."""
    return [f"{prefix}{k}={v}" for k, v in values.items() if v is not None]


@judge_app.command()
def serve(
    config: Annotated[Path | None, typer.Option("--config", help="ServeConfig YAML file.")] = None,
    backend: Backend = None, model: Model = None, base_url: BaseUrl = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="TCP port (default 8100; 0 = any free port).")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help="Require this key from clients.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run folder runs/<name>/ (config, label store).")] = None,
    rubrics: Rubrics = None,
    overrides: Overrides = None,
) -> None:
    """Serve a judge back-end with batching, de-duplication, a persistent label store and the OpenAI protocol."""
    from rich.console import Console

    from llm_judges.config import ServeConfig
    from llm_judges.server import serve as run_server

    flags = _flags("judge.", backend=backend, model=model, base_url=base_url)
    flags += _flags("", host=host, port=port, api_key=api_key, name=name, rubrics_file=rubrics)
    cfg = ServeConfig.from_yaml(config, [*flags, *(overrides or [])])
    run_dir = Path("runs") / cfg.name
    run_dir.mkdir(parents=True, exist_ok=True)
    secret = {"api_key": "***"} if cfg.api_key else {}  # keys never land in run folders
    masked = cfg.judge.model_copy(update={"api_key": "***"}) if cfg.judge.api_key != "EMPTY" else cfg.judge
    cfg.model_copy(update={**secret, "judge": masked}).to_yaml(run_dir / "config.yaml")
    console = Console(stderr=True)
    store = cfg.store or run_dir / "labels.sqlite"
    console.print(f"[bold]credo judge[/] back-end={cfg.judge.backend} model={cfg.judge.model or '(default)'} "
                  f"store={store} batch<={cfg.max_batch_size} wait<={cfg.max_wait_ms:g}ms")

    def ready(url: str) -> None:
        console.print(f"listening on {url}  (POST /v1/annotate, OpenAI API at {url}/v1, /health, /metrics)",
                      soft_wrap=True)

    judge = _build_judge(cfg.judge)
    try:
        metrics = run_server(cfg, judge, on_ready=ready)
    except OSError as err:
        _fail(f"cannot listen on {cfg.host}:{cfg.port}: {err.strerror or err}")
    summary = {name: metrics.registry.get_sample_value(f"credo_judge_{name}_total") or 0 for name in
               ("items", "cache_hits", "dedup_joins", "upstream_calls", "upstream_errors", "unparseable")}
    console.print("server stopped: " + ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in summary.items()))


def _fail(message: str) -> None:
    """Report a one-line error and exit with status 2 (as credo's config errors do)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _build_judge(config: JudgeConfig) -> Judge:
    """The back-end, or a one-line error when it cannot be built (missing model, missing extra...)."""
    from llm_judges.backends import make_judge
    from llm_judges.base import JudgeError

    try:
        return make_judge(config)
    except JudgeError as err:
        _fail(str(err))


@judge_app.command()
def annotate(
    items_file: Annotated[Path, typer.Argument(
        help="Text file: one item per line; pair rubrics: two texts separated by a tab.")],
    rubric: Annotated[str, typer.Option("--rubric", help="Rubric name (see `credo judge rubrics`).")],
    url: Annotated[str | None, typer.Option(
        "--url", help="A running `credo judge serve` (default: the back-end in-process).")] = None,
    api_key: Annotated[str, typer.Option("--api-key", help="The server's API key.")] = "",
    config: Annotated[Path | None, typer.Option("--config", help="JudgeConfig YAML (in-process back-end).")] = None,
    backend: Backend = None, model: Model = None, base_url: BaseUrl = None, rubrics: Rubrics = None,
    name: Annotated[str, typer.Option("--name", help="Output goes to runs/<name>/labels.jsonl.")] = "judge-annotate",
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Give up on items still unlabelled after this many seconds.")] = 600.0,
    overrides: Overrides = None,
) -> None:
    """Label every line of a file with a rubric and write runs/<name>/labels.jsonl plus a summary."""
    import json
    import time
    from collections import Counter

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from llm_judges.client import JudgeClient
    from llm_judges.config import JudgeConfig
    from llm_judges.rubrics import get_rubric, load_rubrics

    if rubrics:
        load_rubrics(rubrics)
    spec = get_rubric(rubric)
    lines = [ln for ln in items_file.read_text().splitlines() if ln.strip()]
    if spec.kind == "pair":
        bad = [i + 1 for i, ln in enumerate(lines) if ln.count("\t") != 1]
        if bad:
            raise typer.BadParameter(f"{items_file}: line {bad[0]} is not two texts separated by one tab")
    items = list(dict.fromkeys(tuple(ln.split("\t")) if spec.kind == "pair" else ln for ln in lines))
    if url:
        target: str | Judge = url
    else:
        flags = _flags("", backend=backend, model=model, base_url=base_url)
        target = _build_judge(JudgeConfig.from_yaml(config, [*flags, *(overrides or [])]))
    out_dir = Path("runs") / name
    out_dir.mkdir(parents=True, exist_ok=True)
    labels: dict = {}
    start = time.monotonic()
    with JudgeClient(target, rubric, api_key=api_key, max_queue=max(len(items), 1)) as client, Progress() as bar:
        task = bar.add_task(f"annotating with {rubric}", total=len(items))
        client.submit(items)
        while len(labels) < len(items) and time.monotonic() - start < timeout:
            stats = client.stats()
            if stats["in_flight"] == 0 and stats["queued"] == 0:
                break  # every item answered or failed for good
            time.sleep(0.1)
            labels.update(client.poll())
            bar.update(task, completed=len(labels))
        labels.update(client.poll())
        stats, last_error = client.stats(), client.last_error
    with (out_dir / "labels.jsonl").open("w") as f:
        for item in items:
            lab = labels.get(item)
            f.write(json.dumps({"item": item, "value": None if lab is None else lab.value,
                                "labelled": lab is not None, "raw": "" if lab is None else lab.raw}) + "\n")
    values = Counter(lab.value for lab in labels.values())
    table = Table(title=f"{rubric}: {len(items)} unique items in {time.monotonic() - start:.1f}s")
    table.add_column("label value")
    table.add_column("count", justify="right")
    for value, count in sorted(values.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        table.add_row("no label (unparseable)" if value is None else f"{value:g}", str(count))
    table.add_row("not answered", str(len(items) - len(labels)))
    console = Console()
    console.print(table)
    console.print(f"wrote {out_dir / 'labels.jsonl'}  (errors: {stats['errors']}, retries: {stats['retries']})")
    if last_error and len(labels) < len(items):
        console.print(f"[red]last error:[/] {last_error}")
        raise typer.Exit(1)


@judge_app.command("rubrics")
def list_rubrics(rubrics: Rubrics = None) -> None:
    """List the rubrics a judge can use (built in, plus those in --rubrics)."""
    from credo.tables import Col, print_table
    from llm_judges.rubrics import load_rubrics
    from llm_judges.rubrics import rubrics as all_rubrics

    if rubrics:
        load_rubrics(rubrics)
    print_table("rubrics", [Col("name", key=True), Col("kind"), Col("parser"), Col("description", min_width=20, wrap=True)],
                [[r.name, r.kind, r.parser, r.description] for r in all_rubrics().values()])


def register(app: typer.Typer) -> None:
    """Add `credo judge ...` to the root app."""
    app.add_typer(judge_app, name="judge")
