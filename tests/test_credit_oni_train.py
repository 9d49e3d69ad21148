"""ONI inside the real trainer, labelled by an OpenAI-compatible server given as the run's judge URL."""

from __future__ import annotations

import pytest

from agents.runs import RunDir
from agents.trainer import Trainer
from llm_judges.testing import ScriptedUpstream, serve_in_thread
from tests._agent_helpers import line_config, line_policy


@pytest.mark.slow  # ~1 min on the shared 2-core machine (tiny-model build + 2 iterations)
def test_trainer_runs_oni_against_an_openai_compatible_judge(tmp_path):
    line_policy(tmp_path / "cache")
    upstream = ScriptedUpstream(helpful_words=("goal 1 ",))  # "one step from the goal" is the helpful caption
    with serve_in_thread(upstream.app) as url:
        config = line_config(tmp_path, name="oni", credit="oni", judge_url=f"{url}/v1", total_env_steps=128,
                             credit_config={"oni": {"background": False, "judge_retry_s": 0.1}})
        summary = Trainer(config).train()
    rows = RunDir.open(summary["run"]).read_metrics()
    assert len(rows) >= 2 and upstream.requests > 0
    last = rows[-1]
    assert last["oni/labels_received"] > 0 and last["oni/judge_errors"] == 0
    assert last["oni/extrinsic_coeff"] == 1.0  # not a NetHack task: the env reward is kept as it is
    # every logged step carries its intrinsic reward; the helpful caption earned the coefficient 0.4 (first time)
    steps = [s for ep in RunDir.open(summary["run"]).read_episodes() for s in ep["steps"]]
    assert all("oni/intrinsic" in s["step_rewards"] and "oni" in s["step_rewards"] for s in steps)
    later = [s for s in steps if s["caption"].startswith("goal 1 ")]
    decayed = {0.0} | {round(0.4 * n**-3.0, 9) for n in range(1, 13)}  # llm_coeff * label * N^-3, N <= 12 steps
    assert {round(s["step_rewards"]["oni/intrinsic"], 9) for s in later} <= decayed
    assert any(s["step_rewards"]["oni/intrinsic"] > 0 for s in later)


def test_oni_rewards_helpful_captions_in_the_first_iteration_of_a_minihack_run(tmp_path, monkeypatch):
    """A one-iteration KeyRoom run with the embedded judge and the keyroom rubric: labels arrive within the
    iteration and every step whose caption the judge calls helpful earns llm_coeff * N^-beta (before: the first
    iteration's captions were only sent after being scored, so a short run logged labels_received=0)."""
    import asyncio

    import torch

    from agents.config import TrainConfig
    from llm_judges.backends import make_judge
    from llm_judges.config import JudgeConfig

    monkeypatch.setenv("CREDO_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    config = TrainConfig.build({
        "env": "credo/MiniHack-KeyRoom-Fixed-S5-v0", "runs_root": str(tmp_path), "name": "oni-keyroom", "seed": 0,
        "num_envs": 8, "steps_per_iter": 400, "max_episode_steps": 50, "total_env_steps": 400, "progress": False,
        "torch_threads": 1, "log_episodes": 8, "learner": {"epochs": 1, "minibatch_size": 400, "micro_batch_size": 200},
        "credit": "oni", "credit_config": {"oni": {"rubric": "oni-cls-keyroom"}}})
    run = RunDir.open(Trainer(config).train()["run"])
    (row,) = run.read_metrics()  # one iteration
    assert row["oni/labels_received"] > 0 and row["oni/unlabelled_frac"] == 0.0
    steps = [s for ep in run.read_episodes() for s in ep["steps"]]
    captions = sorted({s["caption"] for s in steps})
    judge = make_judge(JudgeConfig(backend="embedding"))
    helpful = {c for c, lab in zip(captions, asyncio.run(judge.annotate(captions, "oni-cls-keyroom")), strict=True)
               if lab.value == 1.0}
    assert helpful, f"no helpful caption in this run: {captions}"
    for ep in run.read_episodes():
        seen: dict[str, int] = {}
        for s in ep["steps"]:
            seen[s["caption"]] = n = seen.get(s["caption"], 0) + 1
            expected = 0.4 * n**-3.0 if s["caption"] in helpful else 0.0
            assert s["step_rewards"]["oni/intrinsic"] == pytest.approx(expected), s["caption"]
