"""A pool of many envs stepped together, for batched rollouts.

`make_pool(env_id, n, workers=0)` keeps the `n` envs in this process (cheap envs, debugging);
`workers=k` spreads them over `k` subprocess workers (env `i` lives in worker `i % k`), each talking to the
pool through a pipe. Both pools have the same interface:

    pool.reset(i, seed=None, options=None) -> (obs, info)
    pool.step({i: action, ...}) -> {i: (obs, reward, terminated, truncated, info), ...}
    pool.step_async({i: action, ...}) -> ticket;  pool.step_wait(ticket) -> the same results

`step_async` lets envs step in their workers while the caller does something else (the model acting for the
envs of other workers); a worker holds at most one step in flight.

Only the listed envs step, and each worker gets all of its envs' actions in one round trip, so envs in
different workers step in parallel. Why a thin pool and not `gymnasium.vector`: a rollout steps only the envs
whose episodes are still running, one text action each, and envs finish at different times.

A worker that dies (NLE can segfault) is restarted with fresh envs. The envs it held answer
`truncated=True` with `info["worker_crashed"] = True` for the step in flight, and again on every step until
the caller resets them; the run goes on. Each restart logs one warning line and counts in `pool.restarts`
(every pool has the attribute; the trainer logs it as the metric `env_worker_restarts`).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import traceback
from collections import defaultdict
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import gymnasium as gym

from envs.core import complete_info

log = logging.getLogger(__name__)

StepResult = tuple[str, float, bool, bool, dict[str, Any]]

CRASH_NOTE = "The environment process crashed; this episode is over and the env must be reset."


def _crashed() -> StepResult:
    """What a step returns for an env whose worker died: truncated, flagged, nothing else to read."""
    return CRASH_NOTE, 0.0, False, True, dict(complete_info({"worker_crashed": True}))


class EnvPool:
    """`n` envs of one id addressed by index; subclasses decide where they live."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"a pool needs at least one env, got n={n}")
        self.n = n
        self.restarts = 0
        """How many times a crashed env worker was restarted (0 for a pool without workers)."""

    def __len__(self) -> int:
        return self.n

    def _check_index(self, i: int) -> None:
        if not 0 <= i < self.n:
            raise IndexError(f"env index {i} out of range for a pool of {self.n}")

    def reset(self, i: int, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        raise NotImplementedError

    def step(self, actions: dict[int, str]) -> dict[int, StepResult]:
        return self.step_wait(self.step_async(actions))

    def step_async(self, actions: dict[int, str]) -> Any:
        """Start stepping the listed envs; returns a ticket for `step_wait`. Envs in other workers may be
        stepped (or reset) meanwhile, which is what lets the model act for some envs while others step."""
        raise NotImplementedError

    def step_wait(self, ticket: Any) -> dict[int, StepResult]:
        """The results of the `step_async` call that returned `ticket`."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StepTicket(NamedTuple):
    """A step in flight on a worker pool: the env ids asked for, their actions by worker (local index -> action),
    what each worker's wait needs (a Ray object ref; for a subprocess, whether the send went through), and the
    results already known (envs waiting for a reset after a crash)."""

    actions: list[int]
    by_worker: dict[int, dict[int, str]]
    pending: dict[int, Any]
    results: dict[int, StepResult]


class WorkerPool(EnvPool):
    """Envs spread over `workers` workers (env `i` in worker `i % workers`), one step in flight per worker: what
    the subprocess and Ray pools share (which envs a worker holds, the envs waiting for a reset after a crash)."""

    def __init__(self, n: int, workers: int) -> None:
        super().__init__(n)
        self.num_workers = min(workers, n)
        self._needs_reset: set[int] = set()
        self._busy: set[int] = set()  # workers with a step in flight

    def _local(self, i: int) -> tuple[int, int]:
        return i % self.num_workers, i // self.num_workers

    def _envs_of(self, w: int) -> list[int]:
        return list(range(w, self.n, self.num_workers))

    def worker_of(self, i: int) -> int:
        """The worker that holds env `i`."""
        return self._local(i)[0]

    def _split(self, actions: dict[int, str]) -> tuple[dict[int, dict[int, str]], dict[int, StepResult]]:
        """The actions by worker (local index -> action), marked busy, and the results already known (envs
        waiting for a reset after a crash); a worker with a step in flight is an error."""
        results: dict[int, StepResult] = {}
        by_worker: dict[int, dict[int, str]] = defaultdict(dict)
        for i, action in actions.items():
            self._check_index(i)
            if i in self._needs_reset:
                results[i] = _crashed()
            else:
                w, local = self._local(i)
                by_worker[w][local] = action
        busy = sorted(self._busy & by_worker.keys())
        if busy:
            raise RuntimeError(f"env workers {busy} already have a step in flight; wait for it first")
        self._busy.update(by_worker)
        return dict(by_worker), results

    def _merge(self, ticket: StepTicket, w: int, replies: dict[int, StepResult] | None) -> None:
        """Put worker `w`'s replies (by local index) into the ticket's results; None: it crashed in the step."""
        if replies is None:
            replies = {local: _crashed() for local in ticket.by_worker[w]}
        ticket.results.update({local * self.num_workers + w: r for local, r in replies.items()})

    @staticmethod
    def _finish(ticket: StepTicket, errors: list[str], where: str) -> dict[int, StepResult]:
        """The step's results in the order asked for, once every worker has replied; an env's error is raised
        only then, so no worker's reply is left unread."""
        if errors:
            raise RuntimeError(f"env raised in its {where}: {errors[0]}")
        return {i: ticket.results[i] for i in ticket.actions}


class InProcessPool(EnvPool):
    """All envs in this process, stepped one after another."""

    def __init__(self, spec: gym.envs.registration.EnvSpec, n: int, env_kwargs: dict[str, Any]) -> None:
        super().__init__(n)
        self.envs = [gym.make(spec, **env_kwargs) for _ in range(n)]

    def reset(self, i: int, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        self._check_index(i)
        return self.envs[i].reset(seed=seed, options=options)

    def step_async(self, actions: dict[int, str]) -> dict[int, str]:
        for i in actions:
            self._check_index(i)
        return dict(actions)  # nothing runs in the background here: the envs step in `step_wait`

    def step_wait(self, ticket: dict[int, str]) -> dict[int, StepResult]:
        return {i: self.envs[i].step(a) for i, a in ticket.items()}

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _worker(conn: Connection, spec: gym.envs.registration.EnvSpec, n: int, env_kwargs: dict[str, Any]) -> None:
    """Own `n` envs and answer `("reset", i, seed, options)`, `("step", {i: action})` and `("close",)`.

    The first message says whether the envs could be made: `("ok", None)` or `("error", reason)`.
    """
    try:
        envs = [gym.make(spec, **env_kwargs) for _ in range(n)]
    except Exception as err:
        conn.send(("error", f"{type(err).__name__}: {err}"))
        conn.close()
        return
    conn.send(("ok", None))
    try:
        while True:
            msg = conn.recv()
            if msg[0] == "close":
                break
            try:
                if msg[0] == "reset":
                    _, i, seed, options = msg
                    reply: Any = envs[i].reset(seed=seed, options=options)
                else:
                    reply = {i: envs[i].step(a) for i, a in msg[1].items()}
                conn.send(("ok", reply))
            except Exception as err:  # an env bug is reported to the caller, the worker lives on
                conn.send(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}"))
    finally:
        for env in envs:
            env.close()
        conn.close()


class _Worker:
    """One subprocess and the parent's end of its pipe."""

    def __init__(self, ctx: Any, spec: gym.envs.registration.EnvSpec, n: int, env_kwargs: dict[str, Any]) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child, spec, n, env_kwargs), daemon=True)
        self.process.start()
        child.close()  # so that recv() sees EOF when the worker dies

    def send(self, msg: tuple) -> bool:
        """Send `msg`; False if the worker is gone."""
        try:
            self.conn.send(msg)
            return True
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            return False

    def recv(self) -> tuple | None:
        """The worker's reply; None if it died before answering."""
        try:
            return self.conn.recv()
        except (EOFError, ConnectionResetError, OSError):
            return None

    def stop(self, timeout: float = 5.0) -> None:
        self.send(("close",))
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class SubprocessPool(WorkerPool):
    """Envs spread over subprocess workers (env `i` in worker `i % workers`); dead workers are restarted.

    Workers are started with the `spawn` method: NLE, torch and TextWorld's interpreter are not fork-safe.
    """

    def __init__(self, spec: gym.envs.registration.EnvSpec, n: int, workers: int, env_kwargs: dict[str, Any]) -> None:
        super().__init__(n, workers)
        self.spec, self.env_kwargs = spec, env_kwargs
        self._ctx = mp.get_context("spawn")
        self._workers = [_Worker(self._ctx, spec, len(self._envs_of(w)), env_kwargs) for w in range(self.num_workers)]
        for worker in self._workers:  # all start in parallel; then each says whether its envs were made
            self._handshake(worker)

    def _handshake(self, worker: _Worker) -> None:
        reply = worker.recv()
        if reply is None or reply[0] == "error":
            self.close()
            why = reply[1] if reply else "the worker died while making its envs"
            raise RuntimeError(f"could not make {self.spec.id} in a pool worker: {why}")

    def _start(self, w: int) -> _Worker:
        worker = _Worker(self._ctx, self.spec, len(self._envs_of(w)), self.env_kwargs)
        self._handshake(worker)
        return worker

    def _restart(self, w: int) -> None:
        dead = self._workers[w]
        dead.stop(timeout=1.0)
        self._workers[w] = self._start(w)
        self._needs_reset.update(self._envs_of(w))
        self.restarts += 1
        log.warning("env worker %d of %s died (exit code %s) and was restarted (restart %d of this pool); "
                    "its envs %s end their episodes truncated", w, self.spec.id, dead.process.exitcode, self.restarts,
                    self._envs_of(w))

    def reset(self, i: int, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        self._check_index(i)
        w, local = self._local(i)
        if w in self._busy:
            raise RuntimeError(f"env {i} cannot reset: its worker {w} has a step in flight")
        for _ in range(2):  # one restart is allowed: the crash may have been the previous episode's
            reply = self._workers[w].recv() if self._workers[w].send(("reset", local, seed, options)) else None
            if reply is not None:
                if reply[0] == "error":
                    raise RuntimeError(f"env {i} raised in its worker: {reply[1]}")
                self._needs_reset.discard(i)
                return reply[1]
            self._restart(w)
        raise RuntimeError(f"env {i} of {self.spec.id} crashed its worker twice in a row on reset")

    def step_async(self, actions: dict[int, str]) -> StepTicket:
        by_worker, results = self._split(actions)
        sent = {w: self._workers[w].send(("step", acts)) for w, acts in by_worker.items()}
        return StepTicket(list(actions), by_worker, sent, results)

    def step_wait(self, ticket: StepTicket) -> dict[int, StepResult]:
        errors = []
        for w in ticket.by_worker:  # every reply is read before anything is raised: pipes stay in sync
            self._busy.discard(w)
            reply = self._workers[w].recv() if ticket.pending[w] else None
            if reply is None:
                self._restart(w)
                self._merge(ticket, w, None)
            elif reply[0] == "error":
                errors.append(reply[1])
            else:
                self._merge(ticket, w, reply[1])
        return self._finish(ticket, errors, "worker")

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers = []


def make_pool(env_id: str, n: int, *, workers: int = 0, env_kwargs: dict[str, Any] | None = None,
              kind: str = "local", ray_config: Any = None) -> EnvPool:
    """`n` envs of `env_id`. `kind="local"`: in this process when `workers == 0`, else over `workers` subprocesses;
    `kind="ray"`: over `max(workers, 1)` Ray actors (envs/ray_pool.py; `ray_config` says which cluster)."""
    from envs.registry import card

    card(env_id)  # a one-line error for unknown ids, plugins loaded
    spec = gym.spec(env_id)
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if kind == "ray":
        from envs.ray_pool import RayEnvPool

        return RayEnvPool(spec, n, max(workers, 1), dict(env_kwargs or {}), ray_config)
    if kind != "local":
        raise ValueError(f"pool must be 'local' or 'ray', got {kind!r}")
    if workers == 0:
        return InProcessPool(spec, n, dict(env_kwargs or {}))
    return SubprocessPool(spec, n, workers, dict(env_kwargs or {}))
