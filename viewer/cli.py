"""`credo runs serve`: start the viewer (`viewer.app`) over a runs root."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server on this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    runs_root: Annotated[Path, typer.Option("--runs-root", "--root", help="Folder holding the runs (and suites).")] = Path("runs"),
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8200,
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --api-key.")] = "127.0.0.1",
    api_key: Annotated[str | None, typer.Option(
        envvar="CREDO_VIEWER_API_KEY", show_default=False,
        help="Key every API request must carry (X-API-Key header, Bearer token or ?key=); open the page as "
             "http://HOST:PORT/?key=KEY. Also read from $CREDO_VIEWER_API_KEY.")] = None,
) -> None:
    """A web viewer of runs: curves, episodes step by step with each credit module's per-step signal, artefacts."""
    import uvicorn

    from viewer.app import create_app

    if not is_loopback(host) and not api_key:
        raise ValueError(f"--host {host}: binding beyond loopback needs --api-key KEY (or $CREDO_VIEWER_API_KEY)")
    if not runs_root.is_dir():
        raise FileNotFoundError(f"--runs-root {runs_root}: no such folder (train a run first: credo train ...)")
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
    typer.echo(f"credo runs serve: {runs_root}/ at {url}{'?key=<your key>' if api_key else ''}  (Ctrl-C stops)")
    uvicorn.run(create_app(runs_root, api_key=api_key), host=host, port=port, log_level="warning")


def register(runs_app: typer.Typer) -> None:
    """Add `serve` to the `credo runs` group."""
    from agents.cli import _one_line_errors

    runs_app.command("serve")(_one_line_errors(serve))
