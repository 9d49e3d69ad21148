"""`credo judge serve` end to end on loopback: the annotate endpoint over the openai back-end (against a scripted
upstream), de-duplication, cross-request batching, the store, the OpenAI protocol, faults and bad input."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai
import pytest

from llm_judges.config import ServeConfig
from llm_judges.server import create_app
from llm_judges.testing import ScriptedUpstream, serve_in_thread
from tests._judge_helpers import ScriptedJudge

KEY = {"Authorization": "Bearer sekret"}


@pytest.fixture
def upstream() -> Iterator[tuple[ScriptedUpstream, str]]:
    up = ScriptedUpstream()
    with serve_in_thread(up.app) as url:
        yield up, url


@contextmanager
def judge_server(upstream_url: str, tmp_path, **cfg) -> Iterator[str]:
    judge = {"backend": "openai", "base_url": upstream_url + "/v1", "max_retries": 0, "timeout_s": 2.0,
             **cfg.pop("judge", {})}
    config = ServeConfig.build({"judge": judge, "store": str(tmp_path / "labels.sqlite"), "api_key": "sekret",
                                **cfg})
    with serve_in_thread(create_app(config)) as url:
        yield url


def annotate(url: str, items, rubric="oni-cls-default", **kw) -> httpx.Response:
    return httpx.post(f"{url}/v1/annotate", json={"rubric": rubric, "items": items}, headers=KEY, timeout=30, **kw)


def test_annotate_labels_stores_and_dedups(upstream, tmp_path):
    up, up_url = upstream
    with judge_server(up_url, tmp_path, judge={"api": "completions", "batch_size": 100}) as url:
        r = annotate(url, ["You kill the newt!", "It's a wall.", "You kill the newt!", "12 gold pieces."])
        assert r.status_code == 200, r.text
        assert [lab["value"] for lab in r.json()["labels"]] == [1.0, 0.0, 1.0, 1.0]
        assert up.requests == 1 and up.prompts == 3  # one batched legacy-completions call, duplicate sent once
        r = annotate(url, ["It's a wall.", "12 gold pieces."])
        assert [lab["cached"] for lab in r.json()["labels"]] == [True, True] and up.prompts == 3
        pair = annotate(url, [["12 gold pieces.", "It's a wall."]], rubric="oni-rank-gold").json()["labels"][0]
        assert pair["value"] == 0.0  # first preferred
        metrics = httpx.get(f"{url}/metrics").text
        assert "credo_judge_cache_hits_total 2.0" in metrics and "credo_judge_upstream_items_total 4.0" in metrics
        assert httpx.get(f"{url}/health").json()["labels_stored"] == 4


def test_concurrent_requests_share_batches_and_inflight_items(upstream, tmp_path):
    up, up_url = upstream
    up.latency_s = 0.3
    with judge_server(up_url, tmp_path, max_wait_ms=200, judge={"api": "completions", "batch_size": 64}) as url:

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as client:
                reqs = [client.post(f"{url}/v1/annotate", headers=KEY,
                                    json={"rubric": "oni-cls-default", "items": [f"msg {i % 10}", "the same one"]})
                        for i in range(40)]
                return await asyncio.gather(*reqs)

        responses = asyncio.run(burst())
        assert all(r.status_code == 200 for r in responses)
        assert up.prompts == 11  # 10 distinct messages + the shared one, each asked once
        assert up.requests <= 5  # 11 distinct items from 40 requests went up in a few batches, not 11 calls
        metrics = httpx.get(f"{url}/metrics").text
        assert "credo_judge_dedup_joins_total" in metrics


def test_official_openai_client_against_the_server(upstream, tmp_path):
    up, up_url = upstream
    with judge_server(up_url, tmp_path) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="sekret", max_retries=0)
        assert [m.id for m in client.models.list()] == ["credo-judge"]
        chat = client.chat.completions.create(model="credo-judge", n=2, temperature=0.5,
                                              messages=[{"role": "user", "content": "Rate this step: 3 gold."}])
        assert [c.message.content for c in chat.choices] == ["This step is fine. Score: 5"] * 2
        legacy = client.completions.create(model="credo-judge", prompt=["a", "b"], n=2, max_tokens=8)
        assert [c.index for c in legacy.choices] == [0, 1, 2, 3]
        with pytest.raises(openai.NotFoundError, match="not served here"):
            client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.AuthenticationError, match="invalid or missing API key"):
            openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0).models.list()


@pytest.mark.parametrize("body, status, match", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (b'{"rubric": "oni-cls-default"}', 400, "items: Field required"),
    (b'{"rubric": "oni-cls-default", "items": []}', 400, "items"),
    (b'{"rubric": "oni-cls-default", "items": [["a", "b"]]}', 400, "labels single texts"),
    (b'{"rubric": "nope", "items": ["a"]}', 404, "unknown rubric"),
    (b'{"rubric": "oni-cls-default", "items": ["a"], "extra": 1}', 400, "extra: unknown key"),
    (b'{"rubric": "oni-cls-default", "items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "nested too deeply"),
])
def test_malformed_requests_get_one_line_4xx(upstream, tmp_path, body, status, match):
    with judge_server(upstream[1], tmp_path) as url:
        r = httpx.post(f"{url}/v1/annotate", content=body, headers=KEY)
        assert r.status_code == status
        message = r.json()["error"]["message"]
        assert match in message and "\n" not in message


def test_limits_and_auth(upstream, tmp_path):
    with judge_server(upstream[1], tmp_path, max_items=3, max_item_chars=50, max_request_bytes=2048) as url:
        assert annotate(url, ["a"] * 4).status_code == 413
        assert "characters" in annotate(url, ["x" * 51]).json()["error"]["message"]
        big = annotate(url, ["y" * 40] * 60)
        assert big.status_code == 413 and "exceeds the limit" in big.json()["error"]["message"]
        r = httpx.post(f"{url}/v1/annotate", json={"rubric": "oni-cls-default", "items": ["a"]},
                       headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        assert httpx.get(f"{url}/health").status_code == 200  # health and metrics need no key


def test_upstream_errors_then_recovery(upstream, tmp_path):
    up, up_url = upstream
    with judge_server(up_url, tmp_path, retry_after_s=2) as url:
        assert annotate(url, ["You kill the newt!"]).status_code == 200
        up.mode = "error"
        r = annotate(url, ["You kill the newt!", "12 gold pieces."])  # one stored, one needs the dead upstream
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
        body = r.json()
        assert body["labels"][0]["cached"] is True and body["labels"][1] is None
        assert body["errors"][0]["retryable"] and "InternalServerError" in body["errors"][0]["message"]
        up.mode = "ok"
        r = annotate(url, ["12 gold pieces."])
        assert r.status_code == 200 and r.json()["labels"][0]["value"] == 1.0


def test_hanging_upstream_answers_in_time_and_the_retry_joins(upstream, tmp_path):
    up, up_url = upstream
    up.mode = "hang"
    with judge_server(up_url, tmp_path, request_timeout_s=0.5, upstream_timeout_s=30) as url:
        start = time.monotonic()
        r = annotate(url, ["a hanging question"])
        assert time.monotonic() - start < 5
        assert r.status_code == 503 and r.json()["errors"][0]["retryable"]
        annotate(url, ["a hanging question"])
        assert up.requests == 1  # the retry joined the batch still in flight instead of asking again


def test_garbage_replies_are_counted_not_crashes(upstream, tmp_path):
    up, up_url = upstream
    up.mode = "garbage"
    with judge_server(up_url, tmp_path / "lax") as url:
        r = annotate(url, ["5 gold pieces."])
        assert r.status_code == 200 and r.json()["labels"][0]["value"] == 0.0  # lax: no FOO -> 0, as ONI
    with judge_server(up_url, tmp_path / "strict", judge={"strict": True}) as url:
        r = annotate(url, ["5 gold pieces.", "a pair?"], rubric="oni-cls-default")
        assert r.status_code == 200 and [lab["value"] for lab in r.json()["labels"]] == [None, None]
        assert "credo_judge_unparseable_total 2.0" in httpx.get(f"{url}/metrics").text
        r = annotate(url, ["5 gold pieces."])  # no label is not stored: asked again
        assert r.json()["labels"][0]["cached"] is False


def test_a_bad_item_fails_alone_never_its_batch_mates(tmp_path):
    """Issue 18.1: an item that makes the back-end raise (a tokenizer's TypeError) used to fail every item batched
    with it, other clients' requests included. The batch is split until the bad item fails alone."""
    judge = ScriptedJudge(poison="POISON")
    config = ServeConfig.build({"store": str(tmp_path / "labels.sqlite"), "max_wait_ms": 300})
    with serve_in_thread(create_app(config, judge=judge)) as url:

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as client:
                bad = client.post(f"{url}/v1/annotate", json={"rubric": "oni-cls-default",
                                                             "items": ["POISON", "You find 3 gold pieces."]})
                good = [client.post(f"{url}/v1/annotate", json={"rubric": "oni-cls-default",
                                                               "items": [f"innocent {i}", f"{i} gold"]})
                        for i in range(6)]
                return await asyncio.gather(bad, *good)

        bad, *good = asyncio.run(burst())
        assert len(judge.calls[0]) == 14  # all seven requests shared the first batch
        assert [r.status_code for r in good] == [200] * 6
        assert [[lab["value"] for lab in r.json()["labels"]] for r in good] == [[0.0, 1.0]] * 6
        assert bad.status_code == 502
        body = bad.json()
        assert body["labels"][0] is None and body["labels"][1]["value"] == 1.0  # its request-mate is labelled too
        assert body["errors"] == [{"index": 0, "retryable": False, "message": body["errors"][0]["message"]}]
        assert body["errors"][0]["message"].startswith("TypeError: TextEncodeInput")
        assert len(judge.calls) <= 1 + 2 * 4  # one bad item in 14 costs about 2*log2(14) extra calls


def test_a_failure_of_every_item_is_not_split_item_by_item(tmp_path):
    """When both halves of a failed batch fail too, the back-end is at fault, not an item: 3 calls, not 2n-1."""
    judge = ScriptedJudge(poison="")  # every item "contains" the empty string: every call fails
    config = ServeConfig.build({"store": str(tmp_path / "labels.sqlite")})
    with serve_in_thread(create_app(config, judge=judge)) as url:
        r = httpx.post(f"{url}/v1/annotate", json={"rubric": "oni-cls-default", "items": [f"m{i}" for i in range(16)]},
                       timeout=30)
        assert r.status_code == 502 and len(r.json()["errors"]) == 16
        assert len(judge.calls) == 3


def test_a_lone_surrogate_is_a_per_item_error_never_sent_upstream(upstream, tmp_path):
    """Issue 18.1's reproduction: `"\\ud800"` next to a good item, over the openai back-end (whose client could not
    encode the batch): the surrogate gets its own 4xx-kind error, the good item its label."""
    up, up_url = upstream
    with judge_server(up_url, tmp_path) as url:
        body = b'{"rubric":"oni-cls-default","items":["\\ud800","You kill the newt!"]}'
        r = httpx.post(f"{url}/v1/annotate", content=body, headers={**KEY, "content-type": "application/json"})
        assert r.status_code == 422, r.text
        answer = r.json()
        assert answer["labels"][0] is None and answer["labels"][1]["value"] == 1.0
        assert "lone surrogate" in answer["errors"][0]["message"] and not answer["errors"][0]["retryable"]
        assert up.prompts == 1  # only the good item went upstream


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_an_upstream_200_with_a_non_json_body_is_a_retryable_503(upstream, tmp_path, api):
    """Issue 18.3: such a reply was a 500 on /v1/chat/completions and a non-retryable 502 on /v1/annotate, where
    every other upstream fault is a retryable 503 with Retry-After."""
    up, up_url = upstream
    up.mode = "bad-json"
    with judge_server(up_url, tmp_path, retry_after_s=3, judge={"api": api}) as url:
        r = annotate(url, ["You kill the newt!"])
        assert r.status_code == 503 and r.headers["retry-after"] == "3", r.text
        assert r.json()["errors"][0]["retryable"] and "not JSON" in r.json()["errors"][0]["message"]
        r = httpx.post(f"{url}/v1/chat/completions", headers=KEY, timeout=30,
                       json={"model": "credo-judge", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 503 and r.headers["retry-after"] == "3", r.text
        assert r.json()["error"]["type"] == "upstream_error"
        up.mode = "ok"
        assert annotate(url, ["You kill the newt!"]).status_code == 200


@pytest.mark.parametrize("header, status", [
    ("Bearer sekret", 200), ("bearer sekret", 200), ("BEARER   sekret", 200),  # RFC 7235: the scheme's case is free
    ("sekret", 401), ("Basic sekret", 401), ("Token sekret", 401), ("Bearer", 401), ("Bearer sekret2", 401), ("", 401),
])
def test_the_api_key_is_accepted_only_as_a_bearer_token(upstream, tmp_path, header, status):
    """Issue 18.4: a key sent without the `Bearer ` prefix used to be accepted."""
    with judge_server(upstream[1], tmp_path) as url:
        r = httpx.post(f"{url}/v1/annotate", json={"rubric": "oni-cls-default", "items": ["a"]},
                       headers={"Authorization": header} if header else {})
        assert r.status_code == status, r.text
        assert httpx.get(f"{url}/v1/models", headers={"Authorization": header}).status_code == status
