"""The training-loop client: non-blocking submit/poll, in-flight set, newest first, bounded queue, retries."""

from __future__ import annotations

import time

import httpx
import pytest

from llm_judges.client import JudgeClient
from llm_judges.config import ServeConfig
from llm_judges.server import create_app
from llm_judges.testing import ScriptedUpstream, serve_in_thread
from tests._judge_helpers import ScriptedJudge


def wait_for(client: JudgeClient, n: int, limit_s: float = 10.0) -> dict:
    got: dict = {}
    deadline = time.monotonic() + limit_s
    while len(got) < n and time.monotonic() < deadline:
        got.update(client.poll())
        time.sleep(0.02)
    return got


def until(condition, limit_s: float = 10.0) -> bool:
    """Poll `condition` until true (bounded), so the tests do not depend on machine speed."""
    deadline = time.monotonic() + limit_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_submit_never_blocks_and_inflight_items_are_not_resent():
    judge = ScriptedJudge(delay_s=0.5)
    with JudgeClient(judge, "oni-cls-gold", batch_size=8, max_concurrent=1) as client:
        start = time.monotonic()
        assert client.submit(["5 gold pieces.", "a door"]) == 2
        assert client.submit(["5 gold pieces.", "a door", "new"]) == 1  # the first two await their labels
        assert client.poll() == {}  # nothing yet, and no waiting
        assert time.monotonic() - start < 0.4
        labels = wait_for(client, 3)
        assert {k: v.value for k, v in labels.items()} == {"5 gold pieces.": 1.0, "a door": 0.0, "new": 0.0}
        assert sorted(i for call in judge.calls for i in call) == ["5 gold pieces.", "a door", "new"]
        assert client.submit(["5 gold pieces."]) == 1  # labelled items may be asked again (the caller decides)
        assert client.stats()["received"] == 3


def test_newest_first_and_bounded_queue():
    judge = ScriptedJudge(delay_s=0.3)
    with JudgeClient(judge, "oni-cls-gold", batch_size=2, max_concurrent=1, max_queue=4) as client:
        client.submit(["m0"])
        assert until(lambda: judge.calls == [["m0"]])  # m0 is being labelled; the next items queue up behind it
        client.submit([f"m{i}" for i in range(1, 7)])  # 6 items into a queue of 4: m1, m2 dropped
        assert client.stats()["dropped"] == 2
        wait_for(client, 5)
        assert judge.calls == [["m0"], ["m6", "m5"], ["m4", "m3"]]
        assert client.submit(["m1"]) == 1  # a dropped item can be submitted again


def test_retryable_failure_requeues_after_a_pause():
    judge = ScriptedJudge()
    judge.down = True
    with JudgeClient(judge, "oni-cls-gold", retry_s=0.3) as client:
        client.submit(["gold x"])
        assert until(lambda: client.stats()["retries"] == 1)
        assert client.stats()["in_flight"] == 1 and client.poll() == {}
        judge.down = False
        labels = wait_for(client, 1, limit_s=5)
        assert labels["gold x"].value == 1.0 and len(judge.calls) == 2


def test_bad_rubric_is_an_error_not_a_dead_thread():
    with pytest.raises(KeyError, match="unknown rubric"):
        JudgeClient(ScriptedJudge(), "no-such-rubric")
    with JudgeClient("http://127.0.0.1:9", "oni-cls-gold", retry_s=0.2, timeout_s=1) as client:
        client.submit(["a", "b"])  # nothing listens there: kept in flight and retried, never lost
        assert until(lambda: client.stats()["retries"] >= 4)
        assert client.stats()["in_flight"] == 2 and "ConnectError" in client.last_error


@pytest.fixture
def server(tmp_path):
    up = ScriptedUpstream()
    with serve_in_thread(up.app) as up_url:
        config = ServeConfig.build({"judge": {"backend": "openai", "base_url": f"{up_url}/v1", "max_retries": 0},
                                    "store": str(tmp_path / "l.sqlite"), "api_key": "k", "retry_after_s": 1})
        with serve_in_thread(create_app(config)) as url:
            yield up, url


def test_client_against_the_server_pairs_and_outage(server):
    up, url = server
    with JudgeClient(url + "/v1", "oni-rank-gold", api_key="k", retry_s=0.2) as client:
        client.submit([("12 gold pieces.", "It's a wall."), ["It's a wall.", "12 gold pieces."]])
        labels = wait_for(client, 2)
        assert {k: v.value for k, v in labels.items()} == {("12 gold pieces.", "It's a wall."): 0.0,
                                                          ("It's a wall.", "12 gold pieces."): 1.0}
    up.mode = "error"
    with JudgeClient(url, "oni-cls-gold", api_key="k") as client:
        client.submit(["gold again"])
        assert until(lambda: client.stats()["retries"] >= 1)  # 503: kept, paused for Retry-After (1 s)
        assert client.poll() == {}
        up.mode = "ok"
        assert wait_for(client, 1, limit_s=5)["gold again"].value == 1.0
    with JudgeClient(url, "oni-cls-gold", api_key="wrong") as client:
        client.submit(["x"])
        assert until(lambda: client.stats()["errors"] == 1)
        assert "401" in client.last_error
    with JudgeClient(url, "no-such-rubric", api_key="k") as client:
        client.submit(["x"])
        assert until(lambda: client.stats()["errors"] == 1)
        assert "unknown rubric" in client.last_error and client.stats()["in_flight"] == 0
    assert httpx.get(f"{url}/health").json()["labels_stored"] == 3
