"""`RayEnvPool`: the env pool on Ray actors, for more env workers than one machine holds (`pool=ray`).

Env `i` lives in actor `i % actors`, `k = ceil(n / actors)` envs per actor, as in `SubprocessPool`, with the same
interface (`reset`, `step_async`/`step_wait`, `worker_of`, `num_workers`, `restarts`) and the same crash contract:
an actor that dies (NLE can segfault; the OOM killer) is restarted by Ray (`max_restarts`) with fresh envs; the
envs it held answer `truncated=True` with `info["worker_crashed"] = True` for the step in flight and on every step
until the caller resets them; `restarts` counts the restarts (the trainer logs it as `env_worker_restarts`).
Only action strings and text observations cross the object store: never weights or tensors.

Actors are placed by the cluster's scheduler: `RayConfig.env_actor_cpus` and `env_actor_resources` (e.g. a
custom `cpu_node` resource) keep them on CPU nodes while engines and the learner hold the GPUs.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from typing import Any

import gymnasium as gym

from credo.ray_cluster import RayConfig, connect
from envs.vector import StepResult, StepTicket, WorkerPool

log = logging.getLogger(__name__)

RESTART_WAIT_S = 120.0
"""How long `reset` waits for a restarting actor (Ray re-creates it, and NLE takes seconds to start)."""


class _EnvActor:
    """Holds `n` envs in one Ray worker process (wrapped by `ray.remote` in `RayEnvPool`)."""

    def __init__(self, spec: gym.envs.registration.EnvSpec, n: int, env_kwargs: dict[str, Any]) -> None:
        import envs  # noqa: F401  (registers the credo ids and plug-ins in this process)

        self.envs = [gym.make(spec, **env_kwargs) for _ in range(n)]
        self.incarnation = uuid.uuid4().hex
        """New at every (re)start: the pool tells a restarted actor's fresh envs from the ones it reset."""

    def ready(self) -> str:
        return self.incarnation

    def reset(self, i: int, seed: int | None, options: dict[str, Any] | None) -> tuple[str, tuple[str, dict]]:
        return self.incarnation, self.envs[i].reset(seed=seed, options=options)

    def step(self, actions: dict[int, str], incarnation: str) -> tuple[str, dict[int, StepResult] | None]:
        """Step the envs, unless this is not the incarnation that was reset (it died idle and came back)."""
        if incarnation != self.incarnation:
            return self.incarnation, None
        return self.incarnation, {i: self.envs[i].step(a) for i, a in actions.items()}

    def close(self) -> None:
        for env in self.envs:
            env.close()


class RayEnvPool(WorkerPool):
    """`n` envs over `actors` Ray actors (module docstring)."""

    def __init__(self, spec: gym.envs.registration.EnvSpec, n: int, actors: int, env_kwargs: dict[str, Any],
                 ray_config: RayConfig | None = None) -> None:
        if actors < 1:
            raise ValueError(f"a Ray pool needs at least one actor, got {actors}")
        super().__init__(n, actors)
        self.ray = ray = connect(ray_config)
        cfg = ray_config or RayConfig()
        self.spec = spec
        self.envs_per_actor = math.ceil(n / self.num_workers)
        remote = ray.remote(num_cpus=cfg.env_actor_cpus, resources=dict(cfg.env_actor_resources) or None,
                            max_restarts=-1, max_task_retries=0)(_EnvActor)
        self._actors = [remote.remote(spec, len(self._envs_of(w)), dict(env_kwargs)) for w in range(self.num_workers)]
        try:
            self._incarnation: list[str | None] = ray.get([a.ready.remote() for a in self._actors])
        except ray.exceptions.RayError as err:
            self.close()
            raise RuntimeError(f"could not make {spec.id} in a Ray env actor: {_reason(err)}") from None

    def _crashed_actor(self, w: int) -> None:
        """Actor `w` died: Ray restarts it with fresh envs, all of which need a reset. Counted once per death:
        the next incarnation it reports is adopted without counting again."""
        self._needs_reset.update(self._envs_of(w))
        if self._incarnation[w] is not None:
            self.restarts += 1
            self._incarnation[w] = None
            log.warning("env actor %d of %s died and is restarted by Ray (restart %d of this pool); its envs %s end "
                        "their episodes truncated", w, self.spec.id, self.restarts, self._envs_of(w))

    def _seen(self, w: int, incarnation: str) -> None:
        """The actor answered as `incarnation`: a new one we did not see die died idle (counted now)."""
        if incarnation != self._incarnation[w]:
            self._crashed_actor(w)
            self._incarnation[w] = incarnation

    def reset(self, i: int, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        self._check_index(i)
        w, local = self._local(i)
        if w in self._busy:
            raise RuntimeError(f"env {i} cannot reset: its actor {w} has a step in flight")
        deaths, deadline = 0, time.monotonic() + RESTART_WAIT_S
        while deaths < 2 and time.monotonic() < deadline:  # one death is allowed: it may be the last episode's
            try:
                incarnation, out = self.ray.get(self._actors[w].reset.remote(local, seed, options))
            except self.ray.exceptions.ActorUnavailableError:  # restarting: ask again shortly
                self._crashed_actor(w)
                time.sleep(0.2)
                continue
            except self.ray.exceptions.RayActorError:
                self._crashed_actor(w)
                deaths += 1
                continue
            except self.ray.exceptions.RayTaskError as err:
                raise RuntimeError(f"env {i} raised in its actor: {_reason(err)}") from None
            self._seen(w, incarnation)
            self._needs_reset.discard(i)
            return out
        raise RuntimeError(f"env {i} of {self.spec.id} crashed its actor twice in a row on reset")

    def step_async(self, actions: dict[int, str]) -> StepTicket:
        by_actor, results = self._split(actions)
        refs = {w: self._actors[w].step.remote(acts, self._incarnation[w]) for w, acts in by_actor.items()}
        return StepTicket(list(actions), by_actor, refs, results)

    def step_wait(self, ticket: StepTicket) -> dict[int, StepResult]:
        errors = []
        for w in ticket.by_worker:  # every reply is awaited before anything is raised
            self._busy.discard(w)
            try:
                incarnation, reply = self.ray.get(ticket.pending[w])
            except self.ray.exceptions.RayActorError:  # died in the step, or is restarting after an idle death
                self._crashed_actor(w)
                reply = None
            except self.ray.exceptions.RayTaskError as err:
                errors.append(_reason(err))
                continue
            else:
                self._seen(w, incarnation)  # no reply: a new incarnation, whose idle death `_seen` counts
            self._merge(ticket, w, reply)
        return self._finish(ticket, errors, "actor")

    def close(self) -> None:
        for actor in self._actors:
            with contextlib.suppress(Exception):  # a dead actor has nothing left to close
                self.ray.get(actor.close.remote(), timeout=10)
            self.ray.kill(actor, no_restart=True)
        self._actors = []


def _reason(err: Exception) -> str:
    """The first line of what went wrong inside an actor (Ray wraps it with a long traceback)."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, Exception):
        return f"{type(cause).__name__}: {cause}".strip().splitlines()[0]
    text = str(err).strip()
    return text.splitlines()[-1] if text else type(err).__name__
