"""Demonstrations: the JSONL schema `credo sft` reads, and expert collection (`credo collect --policy expert`).

One line per episode:

    {"env_id": "credo/WebShop-v0", "env_kwargs": {"item_names": true}, "seed": 3, "instruction": "i need ...",
     "steps": [{"observation": "...", "admissible_actions": ["search[...]", ...], "action": "search[...]"}, ...],
     "success": true, "score": 1.0}

`admissible_actions` may be empty (free-text envs; SFT then trains the action tokens only). Extra keys are
ignored, so any JSONL of this shape works, whoever wrote it.

Experts: an env offers one either as `env.unwrapped.expert_action()` (the next oracle action for the current
state: the shop) or as `info["walkthrough"]` at reset (the command list solving the game: TextWorld).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class DemoStep(BaseModel):
    """One expert step: what the policy will see and the action to imitate."""

    model_config = ConfigDict(extra="ignore")
    observation: str = Field(description="The text observation at which the expert acted.")
    admissible_actions: list[str] = Field(default_factory=list, description="The env's admissible actions then.")
    action: str = Field(description="The expert's action text.")


class Demo(BaseModel):
    """One demonstration episode (one JSONL line)."""

    model_config = ConfigDict(extra="ignore")
    env_id: str = Field(description="The credo env id the episode was played in.")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="The env's keyword arguments then (what "
                                       "`credo collect --env-kwargs` was given; the tiny model's tokenizer reads "
                                       "text from the env made with them).")
    seed: int = Field(0, description="The reset seed (same seed, same task).")
    instruction: str = Field("", description="`info['instruction']` at reset.")
    steps: list[DemoStep] = Field(description="The expert's steps in order.")
    success: bool = Field(False, description="`info['success']` at the end.")
    score: float = Field(0.0, description="`info['score']` at the end.")


def read_demos(path: str | Path) -> list[Demo]:
    """Parse a demonstrations JSONL; a bad line is a one-line `ValueError` naming file, line and field."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such demonstrations file") from None
    demos: list[Demo] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            demos.append(Demo.model_validate_json(line))
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "<line>"
            raise ValueError(f"{path}:{lineno}: {where}: {first['msg']}") from None
    if not demos:
        raise ValueError(f"{path}: no demonstrations in the file")
    return demos


def write_demos(path: str | Path, demos: list[Demo]) -> Path:
    """Write demonstrations as JSONL (one episode per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(d.model_dump_json() + "\n" for d in demos))
    return path


def expert_for(env: Any, reset_info: dict[str, Any]) -> Callable[[], str]:
    """The env's expert as a zero-argument "next action" function; `ValueError` when the env has none."""
    oracle = getattr(env.unwrapped, "expert_action", None)
    if callable(oracle):
        return oracle
    walkthrough = reset_info.get("walkthrough")
    if isinstance(walkthrough, (list, tuple)) and walkthrough:
        commands: Iterator[str] = iter(list(walkthrough))

        def next_command() -> str:
            try:
                return next(commands)
            except StopIteration:
                raise ValueError("the walkthrough ended before the episode did") from None

        return next_command
    spec = getattr(env, "spec", None)
    raise ValueError(f"{getattr(spec, 'id', env)}: no expert (needs env.unwrapped.expert_action() or "
                     "info['walkthrough'] at reset)")


def expert_episode(env: Any, env_id: str, seed: int, max_steps: int = 200,
                   env_kwargs: dict[str, Any] | None = None) -> Demo:
    """Play one episode with the env's expert and record it as a `Demo` (`env_kwargs`: what `env` was made with)."""
    obs, info = env.reset(seed=seed)
    instruction = str(info.get("instruction", ""))
    expert = expert_for(env, info)
    steps: list[DemoStep] = []
    for _ in range(max_steps):
        try:
            action = expert()
        except ValueError:  # the expert is out of moves (walkthrough ended, oracle stuck): the episode failed
            break
        steps.append(DemoStep(observation=obs, admissible_actions=list(info.get("admissible_actions") or []),
                              action=action))
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    return Demo(env_id=env_id, env_kwargs=dict(env_kwargs or {}), seed=seed, instruction=instruction, steps=steps,
                success=bool(info.get("success", False)), score=float(info.get("score", 0.0)))


def collect_expert(env_id: str, episodes: int, seed: int = 0, env_kwargs: dict[str, Any] | None = None,
                   keep_failed: bool = False, on_episode: Callable[[Demo], None] | None = None) -> list[Demo]:
    """Expert demonstrations on seeds `seed, seed+1, ...`; failed episodes are dropped unless `keep_failed`."""
    import envs

    env = envs.make(env_id, **(env_kwargs or {}))
    demos: list[Demo] = []
    try:
        for i in range(episodes):
            demo = expert_episode(env, env_id, seed + i, env_kwargs=env_kwargs)
            if on_episode is not None:
                on_episode(demo)
            if demo.success or keep_failed:
                demos.append(demo)
    finally:
        env.close()
    return demos

