"""`credo judge annotate|serve|rubrics` from the command line: outputs, summaries and one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from credo.cli import cli
from llm_judges.config import ServeConfig
from llm_judges.server import create_app
from llm_judges.testing import ScriptedUpstream, serve_in_thread

runner = CliRunner()


@pytest.fixture
def server_url(tmp_path):
    up = ScriptedUpstream()
    with serve_in_thread(up.app) as up_url:
        config = ServeConfig.build({"judge": {"backend": "openai", "base_url": f"{up_url}/v1", "max_retries": 0},
                                    "store": str(tmp_path / "l.sqlite"), "api_key": "k"})
        with serve_in_thread(create_app(config)) as url:
            yield url


def test_annotate_a_file_through_the_server(server_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "msgs.txt").write_text("You kill the newt!\nIt's a wall.\n\nYou kill the newt!\n12 gold pieces.\n")
    result = runner.invoke(cli, ["judge", "annotate", "msgs.txt", "--rubric", "oni-cls-default", "--url", server_url,
                                 "--api-key", "k", "--name", "t"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "runs/t/labels.jsonl").read_text().splitlines()]
    assert {r["item"]: r["value"] for r in rows} == {"You kill the newt!": 1.0, "It's a wall.": 0.0,
                                                    "12 gold pieces.": 1.0}
    assert "not answered" in result.output


def test_annotate_pairs_and_bad_pair_lines(server_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pairs.txt").write_text("12 gold pieces.\tIt's a wall.\n")
    result = runner.invoke(cli, ["judge", "annotate", "pairs.txt", "--rubric", "oni-rank-gold", "--url", server_url,
                                 "--api-key", "k", "--name", "p"])
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "runs/p/labels.jsonl").read_text())
    assert row == {"item": ["12 gold pieces.", "It's a wall."], "value": 0.0, "labelled": True,
                   "raw": row["raw"]}
    (tmp_path / "bad.txt").write_text("no tab here\n")
    result = runner.invoke(cli, ["judge", "annotate", "bad.txt", "--rubric", "oni-rank-gold", "--url", server_url])
    assert result.exit_code == 2 and "line 1 is not two texts" in result.output


def test_annotate_reports_a_wrong_key_and_exits_nonzero(server_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "msgs.txt").write_text("hello\n")
    result = runner.invoke(cli, ["judge", "annotate", "msgs.txt", "--rubric", "oni-cls-gold", "--url", server_url,
                                 "--api-key", "bad", "--timeout", "20"])
    assert result.exit_code == 1 and "401" in result.output


def test_serve_with_a_missing_model_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["judge", "serve", "--backend", "local", "--model", str(tmp_path / "nope"),
                                 "--port", "0"])
    assert result.exit_code == 2
    assert "cannot load model" in result.output and "Traceback" not in result.output
    assert "***" not in (tmp_path / "runs/judge/config.yaml").read_text()


def test_rubrics_lists_builtins_and_user_rubrics(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("rubrics:\n  - name: my-own-rubric\n    template: 'Rate {item}'\n    parser: score\n")
    result = runner.invoke(cli, ["judge", "rubrics", "--rubrics", str(path)])
    assert result.exit_code == 0
    assert "oni-cls-stairs" in result.output and "my-own-rubric" in result.output
