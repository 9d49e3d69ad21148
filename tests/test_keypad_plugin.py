"""The keypad env (tests/plugins/keypad): a third-party package whose right action copies the code on the screen.

Fast checks run the package in-process (its `register()` is what the `credo.envs` entry point calls). The slow one
installs it like a user would and trains on it with `credo train --env keypad/Keypad-v0` and nothing else: the
defaults must learn it (held-out `credo eval` well above random play).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import envs
from envs.check import check_env_id

PLUGIN = Path(__file__).parent / "plugins" / "keypad"
ENV_ID = "keypad/Keypad-v0"


@pytest.fixture(scope="module")
def keypad():
    sys.path.insert(0, str(PLUGIN))
    try:
        import credo_keypad

        if ENV_ID not in envs.cards():
            credo_keypad.register()
        yield credo_keypad
    finally:
        sys.path.remove(str(PLUGIN))


def test_keypad_passes_the_contract_and_rewards_reading_the_screen(keypad):
    assert check_env_id(ENV_ID) == []
    env = envs.make(ENV_ID)
    obs, info = env.reset(seed=3)
    assert "hint" in info["admissible_actions"] and len(info["admissible_actions"]) == 5
    for door in (1, 2):
        code = re.search(r"the screen shows (\d+)", obs).group(1)
        assert f"door {door} of 2" in obs and f"try {code}" in info["admissible_actions"]
        obs, reward, terminated, truncated, info = env.step("hint")  # a step spent, nothing learned
        assert reward == 0 and not terminated and "hint" in obs
        obs, reward, terminated, truncated, info = env.step(f"try {code}")
    assert terminated and reward == 1.0 and info["success"] and info["score"] == 1.0
    obs, info = env.reset(seed=4)
    wrong = next(a for a in info["admissible_actions"] if a.startswith("try") and a[4:] not in obs)
    for _ in range(4):
        obs, reward, terminated, truncated, info = env.step(wrong)
    assert truncated and not info["success"] and "wrong code" in obs


@pytest.mark.slow
def test_default_training_learns_the_keypad(tmp_path):
    """`pip install` the package, `credo train --env keypad/Keypad-v0` with the defaults, `credo eval` after."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(PLUGIN)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "CREDO_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    credo = [sys.executable, "-m", "credo.cli"]

    def run(*args: str) -> str:
        done = subprocess.run([*credo, *args], capture_output=True, text=True, env=env, timeout=3600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    run("train", "--env", ENV_ID, "--name", "keypad", f"runs_root={tmp_path}", "progress=false")
    results = {}
    for policy, target in (("model", ["keypad"]), ("random", ["name=random"])):
        run("eval", *target, "--env", ENV_ID, "--episodes", "200", "--seed", "99", "--policy", policy,
            "--root", str(tmp_path))
        folder = tmp_path / ("keypad" if policy == "model" else "random")
        results[policy] = json.loads(max(folder.glob("eval-*.json")).read_text())
    print(f"\nkeypad success: random {results['random']['success']:.3f}, trained {results['model']['success']:.3f} "
          f"{results['model']['success_ci']}")
    assert results["model"]["success_ci"][0] > 0.8 > results["random"]["success_ci"][1]
