"""Contract checks for one credo env id: Gymnasium's `check_env` plus credo's own text-env contract.

`check_env_id(env_id)` returns a list of problems, one readable line each; an empty list means the env
passes. Gymnasium's checker is run on the unwrapped env; its *warnings* (it warns on `Text` spaces, for
instance) are not failures, its exceptions are. credo's own checks follow DESIGN.md, "Text environment":
every `StepInfo` key with the right type, observations inside the observation space, a non-empty
instruction, admissible actions that are strings and valid to step, invalid actions (`"@@not an action@@"`,
`""`, a non-string) that give `valid_action=False` without an exception and count as a step, credo's one action
rule (`envs.core.action_key`: an admissible action in another case with surrounding whitespace is valid; wrapped
in brackets or quotes, followed by punctuation or inside a list it is invalid), the same seed giving the same
episode, and a JSON-serialisable `state`.
"""

from __future__ import annotations

import inspect
import json
import traceback
import warnings
from collections.abc import Callable
from typing import Any

INVALID_ACTIONS: tuple[Any, ...] = ("@@not an action@@", "", 12345)
"""Actions every env must reject gracefully: unparseable text, empty text, and a non-string."""

_INFO_TYPES: dict[str, type | tuple[type, ...]] = {
    "instruction": str,
    "admissible_actions": list,
    "valid_action": bool,
    "success": bool,
    "score": (int, float),
    "state": dict,
}


def _describe(err: BaseException) -> str:
    """`Type: message (file:line)` of the innermost frame: enough to find the bug from one line."""
    frames = traceback.extract_tb(err.__traceback__)
    where = f" ({frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    msg = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    return f"{type(err).__name__}: {msg}{where}"


def _info_problems(where: str, env: Any, obs: Any, info: Any) -> list[str]:
    """Type problems of one (obs, info) pair."""
    out = []
    if not isinstance(obs, str):
        out.append(f"{where}: observation is {type(obs).__name__}, not str")
    elif not env.observation_space.contains(obs):
        out.append(f"{where}: observation is not in the observation space (characters outside its charset?)")
    if not isinstance(info, dict):
        return [*out, f"{where}: info is {type(info).__name__}, not dict"]
    for key, typ in _INFO_TYPES.items():
        if key not in info:
            out.append(f"{where}: info has no {key!r}")
        elif not isinstance(info[key], typ) or (key == "score" and isinstance(info[key], bool)):
            out.append(f"{where}: info[{key!r}] is {type(info[key]).__name__}")
    if isinstance(info.get("admissible_actions"), list) and not all(isinstance(a, str) for a in info["admissible_actions"]):
        out.append(f"{where}: info['admissible_actions'] holds non-strings")
    try:
        json.dumps(info.get("state", {}))
    except (TypeError, ValueError) as err:
        out.append(f"{where}: info['state'] is not JSON-serialisable ({err})")
    return out


def _gymnasium_check(env_id: str) -> list[str]:
    from gymnasium.utils.env_checker import check_env

    from envs.registry import make

    env = make(env_id)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_env(env.unwrapped)
    except Exception as err:  # any exception of the checker is a failure
        return [f"gymnasium check_env: {_describe(err)}"]
    finally:
        env.close()
    return []


def _first_steps(env_id: str, seed: int, steps: int) -> tuple[list[Any], list[str]]:
    """Reset with `seed` and take the first admissible action `steps` times; the trace and the problems seen."""
    from envs.registry import make

    env = make(env_id)
    problems: list[str] = []
    try:
        obs, info = env.reset(seed=seed)
        problems += _info_problems("reset", env.unwrapped, obs, info)
        trace: list[Any] = [obs, info.get("admissible_actions")]
        if not (isinstance(info.get("instruction"), str) and info["instruction"].strip()):
            problems.append("reset: info['instruction'] is empty")
        if info.get("valid_action") is not True:
            problems.append("reset: info['valid_action'] should be True after reset")
        for t in range(steps):
            actions = info.get("admissible_actions") or []
            if not actions:
                break
            action = actions[t % len(actions)]
            obs, reward, terminated, truncated, info = env.step(action)
            problems += _info_problems(f"step {t} ({action!r})", env.unwrapped, obs, info)
            if info.get("valid_action") is not True:
                problems.append(f"step {t}: admissible action {action!r} gave valid_action={info.get('valid_action')!r}")
            trace += [action, obs, reward, terminated, truncated, info.get("admissible_actions")]
            if terminated or truncated:
                break
        return trace, problems
    finally:
        env.close()


def _invalid_actions(env_id: str, seed: int) -> list[str]:
    """Invalid actions: no exception, `valid_action=False`, and each one counts as a step."""
    from envs.registry import make

    problems = []
    env = make(env_id)
    try:
        env.reset(seed=seed)
        for action in INVALID_ACTIONS:
            try:
                obs, _, _, _, info = env.step(action)
            except Exception as err:
                problems.append(f"invalid action {action!r} raised {_describe(err)}")
                continue
            problems += _info_problems(f"invalid action {action!r}", env.unwrapped, obs, info)
            if info.get("valid_action") is not False:
                problems.append(f"invalid action {action!r} gave valid_action={info.get('valid_action')!r}")
    finally:
        env.close()
    if problems:  # the counting check below needs invalid actions that work
        return problems
    # Counted as a step: an env whose class takes a `max_steps` argument must end after that many invalid actions.
    if "max_steps" not in inspect.signature(type(env.unwrapped).__init__).parameters:
        return problems
    capped = make(env_id, max_steps=len(INVALID_ACTIONS))
    try:
        capped.reset(seed=seed)
        ends = [any(capped.step(a)[2:4]) for a in INVALID_ACTIONS]
        if ends != [False] * (len(ends) - 1) + [True]:
            problems.append(f"invalid actions are not counted as steps: with max_steps={len(ends)}, "
                            f"episode-end flags after each were {ends}")
    finally:
        capped.close()
    return problems


def loose_forms(action: str) -> list[Any]:
    """Forms of an admissible action that credo's one rule says are invalid (the issue-18 reproductions)."""
    return [[action], (action,), f"[{action}]", f"'{action}'", f"{action}!!", f"{action}."]


def _action_rule(env_id: str, seed: int) -> list[str]:
    """credo's one action rule: case and surrounding whitespace aside, nothing else forgiven."""
    from envs.registry import make

    env = make(env_id)
    try:
        _, info = env.reset(seed=seed)
        actions = info.get("admissible_actions") or []
        if not actions:
            return []
        action, problems = actions[0], []
        for form in loose_forms(action):
            _, _, terminated, truncated, info = env.step(form)
            if info.get("valid_action") is not False:
                problems.append(f"action {form!r} gave valid_action={info.get('valid_action')!r}; only {action!r} "
                                "(case and surrounding whitespace aside) is valid (envs.core.action_key)")
            if terminated or truncated:
                return problems
        shouted = f"  {action.upper()}\t"
        if env.step(shouted)[4].get("valid_action") is not True:
            problems.append(f"action {shouted!r} gave valid_action=False; case and surrounding whitespace must not "
                            "matter (envs.core.action_key)")
        return problems
    finally:
        env.close()


def _episode(env_id: str, seed: int, steps: int) -> list[str]:
    """Types along a short episode, valid admissible actions, and the same trace twice under one seed."""
    trace_1, problems = _first_steps(env_id, seed, steps)
    trace_2, _ = _first_steps(env_id, seed, steps)
    if trace_1 != trace_2:
        differ = [i for i, (a, b) in enumerate(zip(trace_1, trace_2, strict=False)) if a != b]
        at = differ[0] if differ else min(len(trace_1), len(trace_2))
        problems.append(f"not deterministic: two episodes with seed={seed} differ at trace item {at}")
    return problems


def check_env_id(env_id: str, seed: int = 0, steps: int = 5) -> list[str]:
    """All contract problems of `env_id` (empty list = it passes); never raises for a broken env."""
    from envs.registry import card

    try:
        card(env_id)
    except (KeyError, ValueError) as err:
        return [str(err.args[0])]
    checks: list[tuple[str, Callable[[], list[str]]]] = [
        ("gymnasium", lambda: _gymnasium_check(env_id)),
        ("invalid actions", lambda: _invalid_actions(env_id, seed)),
        ("action rule", lambda: _action_rule(env_id, seed)),
        ("episode", lambda: _episode(env_id, seed, steps)),
    ]
    problems: list[str] = []
    for name, run in checks:
        try:
            problems += run()
        except Exception as err:  # a broken env is reported, never raised
            problems.append(f"{name}: {_describe(err)}")
    return problems
