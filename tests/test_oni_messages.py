"""The hand-labelled ONI message sets: complete, consistent with the labelling rules' anchor cases, and merged (not
overwritten) when the collection is re-run."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_script():
    spec = importlib.util.spec_from_file_location("oni_messages", BENCHMARKS / "oni_messages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["oni_messages.jsonl", "oni_messages_heldout.jsonl"])
def test_every_message_is_labelled_for_every_goal(name):
    script = load_script()
    records = script.load(BENCHMARKS / "data" / name)
    assert len(records) > 400 and len({r["message"] for r in records}) == len(records)
    for r in records:
        assert set(r["labels"]) == set(script.GOALS) and set(r["labels"].values()) <= {0, 1}, r["message"]
        assert r["count"] == sum(r["envs"].values()) > 0
    by_message = {r["message"]: r["labels"] for r in records}
    assert not any(by_message["The stairs are solidly fixed to the floor."].values())
    assert by_message["g - a key named The Master Key of Thievery."]["key"] == 1
    positives = Counter(g for r in records for g, v in r["labels"].items() if v)
    assert all(positives[g] for g in script.GOALS), positives


def test_recollecting_keeps_the_hand_labels():
    script = load_script()
    old = [{"message": "a", "count": 3, "envs": {"x": 3}, "labels": {"key": 1}, "note": "why"},
           {"message": "gone", "count": 1, "envs": {"x": 1}, "labels": {"key": 0}, "note": ""}]
    merged = script.merge(old, {"a": Counter({"y": 5}), "new": Counter({"y": 2})})
    by_message = {r["message"]: r for r in merged}
    assert by_message["a"] == {"message": "a", "count": 5, "envs": {"y": 5}, "labels": {"key": 1}, "note": "why"}
    assert by_message["new"]["labels"] is None and by_message["gone"]["labels"] == {"key": 0}
    assert [r["message"] for r in merged] == ["a", "new", "gone"]  # most frequent first
