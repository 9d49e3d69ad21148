"""Judge replicas: items are routed by key hash (always the same replica), a dead replica fails over to the next
one on the ring, it takes its items back when it returns, and no acknowledged label is lost."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from llm_judges.client import JudgeClient
from llm_judges.config import ServeConfig
from llm_judges.routing import HashRing, route_key
from llm_judges.server import create_app
from llm_judges.testing import serve_in_thread
from tests._judge_helpers import ScriptedJudge
from tests.test_judges_client import until, wait_for

RUBRIC = "oni-cls-gold"


def _replica(stack: ExitStack, tmp_path, name: str, port: int = 0) -> tuple[str, ScriptedJudge]:
    judge = ScriptedJudge()
    config = ServeConfig.build({"store": str(tmp_path / f"{name}.sqlite"), "max_wait_ms": 1})
    return stack.enter_context(serve_in_thread(create_app(config, judge), port=port)), judge


def _sent(judge: ScriptedJudge) -> set:
    return {i for call in judge.calls for i in call}


def test_ring_routes_each_key_to_one_replica_and_moves_only_a_dead_replicas_keys():
    ring = HashRing(["http://a", "http://b", "http://c"])
    keys = [route_key(RUBRIC, f"message {i}") for i in range(300)]
    before = [ring.route(k) for k in keys]
    assert before == [ring.route(k) for k in keys]  # deterministic
    share = {u: before.count(u) / len(keys) for u in ring.urls}
    assert all(0.15 < s < 0.55 for s in share.values()), share  # every replica takes a fair share
    ring.mark_down("http://b")
    after = [ring.route(k) for k in keys]
    assert all(a == b for a, b in zip(after, before, strict=True) if b != "http://b")  # the others' keys stay
    assert "http://b" not in after
    ring.mark_up("http://b")
    assert [ring.route(k) for k in keys] == before
    for u in ring.urls:
        ring.mark_down(u)
    assert ring.route(keys[0]) is None
    with pytest.raises(ValueError, match="repeat"):
        HashRing(["http://a", "http://a"])


def test_two_replicas_route_fail_over_and_lose_no_acknowledged_label(tmp_path):
    items = [f"you see {i} gold pieces" if i % 3 == 0 else f"it is a wall {i}" for i in range(40)]
    with ExitStack() as stack_b:
        url_b, judge_b = _replica(stack_b, tmp_path, "b")
        stack_a = ExitStack()
        url_a, judge_a = _replica(stack_a, tmp_path, "a")
        port_a = int(url_a.rsplit(":", 1)[1])
        ring = HashRing([url_a, url_b])
        home = {i: ring.route(route_key(RUBRIC, i)) for i in items}
        on_a = {i for i in items if home[i] == url_a}
        assert 0 < len(on_a) < len(items)
        with JudgeClient(f"{url_a},{url_b}", RUBRIC, batch_size=8, health_s=0.2) as client:
            client.submit(items)
            labels = wait_for(client, len(items))
            assert len(labels) == len(items)
            assert all(labels[i].value == float("gold" in i) for i in items)
            assert _sent(judge_a) == on_a and _sent(judge_b) == set(items) - on_a  # each item on one replica
            assert client.sent_to == {url_a: len(on_a), url_b: len(items) - len(on_a)}

            stack_a.close()  # replica a dies
            more = [f"you see {i} more gold" for i in range(40, 60)]
            more_on_a = {i for i in more if ring.route(route_key(RUBRIC, i)) == url_a}
            assert more_on_a
            client.submit(more)
            got = wait_for(client, len(more))
            assert set(got) == set(more) and all(v.value == 1.0 for v in got.values())  # failed over to b
            assert more_on_a <= _sent(judge_b) and client.stats()["failovers"] >= 1
            assert client.stats()["replicas_down"] == 1

            with ExitStack() as stack_a2:  # a comes back on its port with its store: it takes its items back
                _, judge_a2 = _replica(stack_a2, tmp_path, "a", port=port_a)
                assert until(lambda: client.stats()["replicas_down"] == 0, limit_s=5)
                client.submit(sorted(on_a))
                again = wait_for(client, len(on_a))
                assert set(again) == on_a
                assert all(lab.cached for lab in again.values())  # acknowledged before the death: from a's store
                assert _sent(judge_a2) == set()  # nothing was judged again
