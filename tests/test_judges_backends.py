"""Each back-end that can run here: openai (against a scripted upstream), local (a tiny random Llama built by the
test), embedding (the packaged all-MiniLM-L6-v2, offline)."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from llm_judges.backends import make_judge
from llm_judges.base import JudgeError, UpstreamError
from llm_judges.config import JudgeConfig, ServeConfig
from llm_judges.server import create_app
from llm_judges.testing import ScriptedUpstream, serve_in_thread
from tests._judge_helpers import build_tiny_checkpoint

MESSAGES = ["You kill the newt!", "That door is closed.", "12 gold pieces.", "You hear a door open."]


@pytest.fixture
def upstream():
    up = ScriptedUpstream()
    with serve_in_thread(up.app) as url:
        yield up, url


def test_openai_backend_chat_and_legacy_completions(upstream):
    up, url = upstream

    async def run(api: str) -> list:
        judge = make_judge(JudgeConfig(backend="openai", base_url=f"{url}/v1", api=api, batch_size=3, max_retries=0))
        try:
            return [lab.value for lab in await judge.annotate(MESSAGES, "oni-cls-default")]
        finally:
            await judge.aclose()

    assert asyncio.run(run("chat")) == [1.0, 0.0, 1.0, 0.0]
    assert up.requests == 4  # chat: one conversation per request
    assert asyncio.run(run("completions")) == [1.0, 0.0, 1.0, 0.0]
    assert up.requests == 4 + 2  # legacy completions: batches of 3 prompts


def test_openai_backend_n_samples_json_mode_and_errors(upstream):
    up, url = upstream

    async def run() -> None:
        judge = make_judge(JudgeConfig(backend="openai", base_url=f"{url}/v1", max_retries=1, timeout_s=1.0))
        replies = await judge.complete([{"role": "user", "content": "hi"}], n=3, json_mode=True, temperature=1.0)
        assert len(replies) == 3
        assert up.last_body["response_format"] == {"type": "json_object"} and up.last_body["n"] == 3
        assert up.last_body["model"] == "scripted-llm"  # empty model: the server's first listed model
        up.mode = "error"
        before = up.requests
        with pytest.raises(UpstreamError, match="InternalServerError"):
            await judge.annotate(["x"], "oni-cls-default")
        assert up.requests - before == 2  # one retry with backoff (the openai package's), then a one-line error
        up.mode = "not-openai"
        with pytest.raises(UpstreamError, match="not an OpenAI completion"):
            await judge.annotate(["x"], "oni-cls-default")
        up.mode = "hang"
        with pytest.raises(UpstreamError, match="Timeout"):
            await judge.complete([{"role": "user", "content": "hi"}])
        await judge.aclose()

    asyncio.run(run())


@pytest.mark.parametrize("status", [429, 503])
def test_openai_backend_retries_transient_failures_with_backoff(upstream, status):
    up, url = upstream
    up.fail_next, up.fail_status = 2, status

    async def run() -> list:
        judge = make_judge(JudgeConfig(backend="openai", base_url=f"{url}/v1", model="m", max_retries=3))
        try:
            return [lab.value for lab in await judge.annotate(["12 gold pieces."], "oni-cls-gold")]
        finally:
            await judge.aclose()

    assert asyncio.run(run()) == [1.0]
    assert up.requests == 3  # two failures retried, the third answered


def test_openai_backend_unreachable_is_an_upstream_error():
    async def run() -> None:
        judge = make_judge(JudgeConfig(backend="openai", base_url="http://127.0.0.1:9/v1", max_retries=0, model="m"))
        with pytest.raises(UpstreamError, match="APIConnectionError"):
            await judge.annotate(["x"], "oni-cls-default")

    asyncio.run(run())


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


def test_local_backend_batches_generation(tiny_checkpoint):
    judge = make_judge(JudgeConfig(backend="local", model=str(tiny_checkpoint), batch_size=3, max_tokens=6,
                                   temperature=0.0, strict=True))
    labels = asyncio.run(judge.annotate(MESSAGES + MESSAGES[:1], "oni-cls-default"))
    assert len(labels) == 5 and judge.generate_calls == 2  # 5 prompts in batches of 3
    assert all(isinstance(lab.raw, str) and lab.raw for lab in labels)
    assert labels[0].raw == labels[4].raw  # greedy decoding: same prompt, same reply, whatever its batch
    # a random model rarely writes a well-formed <label>: strict parsing gives "no label", never an exception
    assert all(lab.value in (None, 0.0, 1.0) for lab in labels)
    replies = asyncio.run(judge.complete_text(["you kill the", "gold"], n=2, temperature=1.0, max_tokens=4))
    assert [len(r) for r in replies] == [2, 2]


def test_local_backend_bad_path_is_one_line():
    with pytest.raises(JudgeError, match="cannot load model"):
        make_judge(JudgeConfig(backend="local", model="/nonexistent/ckpt"))


def test_official_openai_client_against_a_local_model_server(tiny_checkpoint, tmp_path):
    config = ServeConfig.build({"judge": {"backend": "local", "model": str(tiny_checkpoint), "max_tokens": 4},
                                "store": str(tmp_path / "l.sqlite"), "served_model": "tiny-judge"})
    with serve_in_thread(create_app(config)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
        assert [m.id for m in client.models.list()] == ["tiny-judge"]
        out = client.chat.completions.create(model="tiny-judge", max_tokens=5, temperature=0,
                                             messages=[{"role": "user", "content": "you kill the gold"}])
        assert len(out.choices) == 1 and isinstance(out.choices[0].message.content, str)
        r = httpx.post(f"{url}/v1/annotate", json={"rubric": "oni-cls-gold", "items": MESSAGES}, timeout=60)
        assert r.status_code == 200 and len(r.json()["labels"]) == 4


@pytest.fixture(scope="module")
def embedding_judge():
    import torch

    torch.set_num_threads(1)  # the suite shares 2 cores: one thread is several times faster than two fighting
    return make_judge(JudgeConfig(backend="embedding"))


def test_embedding_judge_labels_clear_messages_by_goal(embedding_judge):
    clear = ["You kill the newt!", "That door is closed.", "$ - 12 gold pieces.", "g - a key named The Master Key of "
             "Thievery.", "You succeed in unlocking the door.  The door opens.", "The stairs are solidly fixed to the "
             "floor.", "There is a staircase up here.", "Hello Agent, welcome to NetHack!  You are a chaotic male "
             "human Rogue.", ""]
    expected = {  # what a NetHack player would answer; the up staircase and the failed pick-up on it are noise
        "oni-cls-default": [1, 0, 1, 1, 1, 0, 0, 0, 0],
        "oni-cls-gold": [0, 0, 1, 0, 0, 0, 0, 0, 0],
        "oni-cls-combat": [1, 0, 0, 0, 0, 0, 0, 0, 0],
        "oni-cls-stairs": [0, 0, 0, 0, 0, 0, 0, 0, 0],
        "oni-cls-key": [0, 0, 0, 1, 0, 0, 0, 0, 0],
        "oni-cls-door": [0, 0, 0, 0, 1, 0, 0, 0, 0],
        "oni-cls-keyroom": [0, 0, 0, 1, 1, 0, 0, 0, 0],
    }
    for rubric, values in expected.items():
        assert [lab.value for lab in asyncio.run(embedding_judge.annotate(clear, rubric))] == values, rubric
    # per_sentence: a kill followed by a bite is still a kill (the whole line alone reads as a fight)
    joined = asyncio.run(embedding_judge.annotate(["You kill the sewer rat!  The little dog misses the sewer rat."],
                                                  "oni-cls-combat"))
    assert joined[0].value == 1.0
    pairs = asyncio.run(embedding_judge.annotate([("12 gold pieces.", "That door is closed."),
                                                  ("That door is closed.", "12 gold pieces."),
                                                  ("It's a wall.", "It's a wall.")], "oni-rank-gold"))
    assert [p.value for p in pairs] == [0.0, 1.0, 0.5]
    good, bad = asyncio.run(embedding_judge.annotate(["The agent completes the task.",
                                                      "The agent repeats a useless action."], "step-score"))
    assert 0.0 <= bad.value < good.value <= 10.0
    with pytest.raises(JudgeError, match="cannot write text"):
        asyncio.run(embedding_judge.complete([{"role": "user", "content": "hi"}]))


def test_embedding_judge_behind_the_server(embedding_judge, tmp_path):
    config = ServeConfig.build({"store": str(tmp_path / "l.sqlite")})
    with serve_in_thread(create_app(config, judge=embedding_judge)) as url:
        r = httpx.post(f"{url}/v1/annotate", json={"rubric": "oni-cls-gold", "items": MESSAGES}, timeout=60)
        assert r.status_code == 200 and r.json()["labels"][2]["value"] == 1.0
        chat = httpx.post(f"{url}/v1/chat/completions", json={"model": "credo-judge",
                                                              "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 400 and "cannot write text" in chat.json()["error"]["message"]
