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
