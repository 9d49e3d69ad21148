"""Batched rollout: many envs step together, and one policy forward pass serves every env that waits.

Episodes come in groups of `group_size` that share a task and seed (`group_id`), which GRPO/RLOO baselines
and the credit modules (OPRL pairs, GiGPO anchors) need. Envs pull the next episode to start from a queue
of group members; `collect(min_steps)` returns only whole groups, and episodes still in flight carry over
to the next call (their steps keep the log-probs of the policy that acted, which is what PPO's ratio needs).

With `overlap=True` (env workers >= 2) the envs form two halves held by different workers, and the model acts
for one half while the other half steps: env time hides behind model time when env steps are slow.

Acting goes through an action backend (`backend`, default the policy itself): anything with `Policy.act`'s
signature, e.g. data-parallel scoring actors (agents/scoring_actors.py) or an OpenAI-compatible engine
(agents/engine_client.py). Every step is stamped with `policy_version`, the weights version the backend acted with.
`start_background()` keeps the envs stepping in a thread (asynchronous acting, while the learner updates on
separate weights) until `stop_background()`; the episodes it finishes are handed out by the next `collect`.

Every episode records `start_index` (its start order) in `Episode.metrics`: success windows must be taken by
start order, because short (successful) episodes finish first and a "last N finished" window reads high
early on (research/calibration.md).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from agents.policy import Policy
from agents.prompts import PromptBuilder
from credo.config import ConfigError
from credo.trajectory import Episode, Step
from envs.vector import make_pool


@dataclass
class _Slot:
    """What one env is doing: its current episode and the text state the prompt is built from."""

    episode: Episode
    obs: str
    info: dict[str, Any]
    history: list[tuple[str, str]] = field(default_factory=list)
    optimal_steps: float | None = None


def caption_of(info: dict[str, Any]) -> str:
    """The caption of the observation whose `info` this is (the env's own `caption`, else the NetHack message):
    ONI judges the observation at which the action was taken, so it is read before the action, never after."""
    return str(info.get("caption", (info.get("state") or {}).get("message", "")))


def episode_metrics(episode: Episode, final_info: dict[str, Any], optimal_steps: float | None) -> dict[str, float]:
    """Success, length, path efficiency (optimal/actual, successes only), NetHack progression, and the env's
    sub-goals (`info["subgoals"]`, e.g. MiniHack KeyRoom's key) as `subgoal_<name>`, if given."""
    out = {"length": float(episode.length)}
    if optimal_steps is not None and episode.success and episode.length > 0:
        out["efficiency"] = min(1.0, float(optimal_steps) / episode.length)
    for key in ("progression",):
        value = final_info.get(key, final_info.get("state", {}).get(key))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    for name, value in (final_info.get("subgoals") or {}).items():
        out[f"subgoal_{name}"] = float(value)
    return out


@dataclass
class _Batch:
    """One policy call: the envs it acted for, their prompts and candidates, and the sampled actions."""

    envs: list[int]
    prompts: list[list[int]]
    candidates: list[list[str] | None]
    samples: list[Any]


class Rollout:
    """Steps `num_envs` envs in lock-step with batched acting; see the module docstring."""

    def __init__(self, policy: Policy, builder: PromptBuilder, env_id: str, *, num_envs: int = 16,
                 group_size: int = 1, seed: int = 0, max_episode_steps: int = 100,
                 env_kwargs: dict[str, Any] | None = None, workers: int = 0, pool: Any = None,
                 greedy: bool = False, overlap: bool = False, backend: Any = None) -> None:
        if num_envs < 1 or group_size < 1:
            raise ConfigError(f"rollout: num_envs and group_size must be >= 1, got {num_envs}, {group_size}")
        self.policy, self.builder, self.env_id = policy, builder, env_id
        self.backend = backend if backend is not None else policy
        self.policy_version = 0
        """The version stamped on new steps (the trainer sets it after each publish)."""
        self.num_envs, self.group_size, self.seed = num_envs, group_size, seed
        self.max_episode_steps, self.greedy = max_episode_steps, greedy
        self.pool = pool if pool is not None else make_pool(env_id, num_envs, workers=workers,
                                                             env_kwargs=env_kwargs or {})
        self.choose = policy.config.mode == "choose"
        self.overlap = overlap
        self._in_flight: tuple[_Batch, Any] | None = None
        if overlap:
            worker_of = getattr(self.pool, "worker_of", None)
            if worker_of is None or getattr(self.pool, "num_workers", 0) < 2:
                raise ConfigError("overlap_envs needs an env pool with at least 2 worker processes (workers >= 2)")
            self._halves = [[i for i in range(num_envs) if worker_of(i) % 2 == h] for h in (0, 1)]
        self._pending: deque[tuple[str, int]] = deque()  # (group_id, env seed) of episodes not yet started
        self._groups_started = 0
        self._episodes_started = 0
        self._slots: list[_Slot | None] = [None] * num_envs
        self._finished: dict[str, list[Episode]] = {}
        self.env_steps = 0
        """Env steps taken so far (all calls)."""
        self.act_seconds = 0.0
        self.env_seconds = 0.0
        self._ended: list[Episode] = []  # finished by background stepping, not yet collected
        self._background: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None

    # -- episode bookkeeping -----------------------------------------------------------------------------
    def _next_start(self) -> tuple[str, int]:
        if not self._pending:
            g = self._groups_started
            self._groups_started += 1
            env_seed = self.seed * 1_000_003 + g
            self._pending.extend((f"g{g}-s{env_seed}", env_seed) for _ in range(self.group_size))
        return self._pending.popleft()

    def _start(self, i: int) -> None:
        group_id, env_seed = self._next_start()
        t0 = time.perf_counter()
        obs, info = self.pool.reset(i, seed=env_seed, options=None)
        self.env_seconds += time.perf_counter() - t0
        k = self._episodes_started
        self._episodes_started += 1
        ep = Episode(episode_id=f"e{k}", group_id=group_id, env_id=self.env_id, seed=env_seed,
                     instruction=info.get("instruction", ""), metrics={"start_index": float(k)})
        optimal = info.get("optimal_steps")
        self._slots[i] = _Slot(ep, obs, info, [], float(optimal) if isinstance(optimal, (int, float)) else None)

    def _prompt(self, slot: _Slot) -> tuple[list[int], list[str] | None]:
        admissible = list(slot.info.get("admissible_actions") or [])
        if self.choose and not admissible:
            raise ConfigError(f"{self.env_id}: choose mode needs admissible actions, but the env listed none; "
                              "use policy.mode=generate")
        ids = self.builder.build(slot.episode.instruction, slot.history, slot.obs, admissible)
        return ids, (admissible if self.choose else None)

    # -- stepping ----------------------------------------------------------------------------------------
    def _act(self, envs: list[int]) -> _Batch:
        """Start episodes where needed, then one batched policy call for the listed envs."""
        for i in envs:
            if self._slots[i] is None:
                self._start(i)
        slots = [self._slots[i] for i in envs]
        prompts, candidates = zip(*(self._prompt(s) for s in slots), strict=True)
        t0 = time.perf_counter()
        samples = self.backend.act(list(prompts), list(candidates) if self.choose else None, greedy=self.greedy)
        self.act_seconds += time.perf_counter() - t0
        return _Batch(envs, list(prompts), list(candidates), samples)

    def _send(self, batch: _Batch) -> Any:
        return self.pool.step_async({i: s.text for i, s in zip(batch.envs, batch.samples, strict=True)})

    def _record(self, batch: _Batch, ticket: Any) -> list[Episode]:
        """Wait for the batch's env steps and append them to their episodes; returns the episodes that ended."""
        t0 = time.perf_counter()
        results = self.pool.step_wait(ticket)
        self.env_seconds += time.perf_counter() - t0
        ended: list[Episode] = []
        for i, prompt, cands, sample in zip(batch.envs, batch.prompts, batch.candidates, batch.samples, strict=True):
            slot = self._slots[i]
            obs, reward, term, trunc, info = results[i]
            ep = slot.episode
            penalty = 0.0 if sample.valid else self.policy.config.invalid_penalty
            cap = len(ep.steps) + 1 >= self.max_episode_steps
            done = bool(term or trunc or cap)
            ep.steps.append(Step(
                episode_id=ep.episode_id, group_id=ep.group_id, step_index=len(ep.steps), observation=slot.obs,
                prompt_ids=list(prompt), action_ids=sample.action_ids, action_text=sample.text,
                logprob=sample.logprob, token_logprobs=sample.token_logprobs,
                candidates=list(cands) if cands is not None else None,
                candidate_logprobs=sample.candidate_logprobs, generated_text="" if cands is not None else sample.raw,
                reward=float(reward) - penalty,
                valid_action=bool(info.get("valid_action", True)) and sample.valid,
                state=dict(slot.info.get("state") or {}), next_state=dict(info.get("state") or {}),
                caption=caption_of(slot.info), done=done, policy_version=self.policy_version))
            self.env_steps += 1
            slot.history.append((slot.obs, sample.text if sample.valid else sample.raw))
            slot.obs, slot.info = obs, info
            if done:
                ep.success = bool(info.get("success", False))
                ep.score = float(info.get("score", 0.0))
                ep.truncated = not term
                ep.metrics.update(episode_metrics(ep, info, slot.optimal_steps))
                ended.append(ep)
                self._slots[i] = None
        return ended

    def step_all(self) -> list[Episode]:
        """One batched action for every env, one env step each; returns the episodes that just ended.

        With `overlap`, the envs are two halves held by different workers: the model acts for one half while
        the other half's actions step in their workers, so one half is always in flight between calls.
        """
        if not self.overlap:
            batch = self._act(list(range(self.num_envs)))
            return self._record(batch, self._send(batch))
        ended: list[Episode] = []
        for half in self._halves:
            batch = self._act(half)
            ticket = self._send(batch)
            if self._in_flight is not None:
                ended += self._record(*self._in_flight)
            self._in_flight = (batch, ticket)
        return ended

    def collect(self, min_steps: int, max_staleness: int | None = None) -> list[Episode]:
        """Step until whole groups holding >= `min_steps` steps have finished; their episodes in start order.
        With `max_staleness`, only steps at most that many versions behind `policy_version` count towards
        `min_steps` (the older ones will not train), so the trained batch keeps its size under asynchronous acting."""
        self.stop_background()
        oldest = -1 if max_staleness is None else self.policy_version - max_staleness
        ready: list[Episode] = []
        n_steps = 0
        while n_steps < min_steps:
            ended, self._ended = self._ended or self.step_all(), []
            for ep in ended:
                members = self._finished.setdefault(ep.group_id, [])
                members.append(ep)
                if len(members) == self.group_size:
                    del self._finished[ep.group_id]
                    ready.extend(members)
                    n_steps += sum(s.policy_version >= oldest for m in members for s in m.steps)
        return sorted(ready, key=lambda e: e.metrics["start_index"])

    def start_background(self) -> None:
        """Keep stepping the envs in a thread until `stop_background` (the backend must not be the learner's
        own model, which the update changes in place)."""
        if self.backend is self.policy:
            raise RuntimeError("asynchronous acting needs an action backend with its own weights (scoring actors "
                               "or an engine), not the learner's policy")
        self._stop.clear()

        def run() -> None:
            try:
                while not self._stop.is_set():
                    self._ended += self.step_all()
            except BaseException as err:  # noqa: BLE001  (re-raised in the caller's thread)
                self._error = err

        self._background = threading.Thread(target=run, name="rollout-background", daemon=True)
        self._background.start()

    def stop_background(self) -> None:
        """Wait for the background stepping to finish its current round; re-raise what it failed with."""
        if self._background is None:
            return
        self._stop.set()
        self._background.join()
        self._background = None
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def close(self) -> None:
        self.stop_background()
        if self._in_flight is not None:  # the workers answer before they are told to stop
            self.pool.step_wait(self._in_flight[1])
            self._in_flight = None
        self.pool.close()
