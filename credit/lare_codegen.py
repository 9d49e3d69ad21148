"""LaRe's self-verification: how the latent-reward code is obtained from an LLM and accepted (oni_lare.md §2.3).

The order is the paper's (pitfall 14): `n` candidates sampled at temperature 1.0 in one call; a merge turn asking
for one function covering all their factors at 0.3 (skipped when n = 1); an execution check on real env states
in the sandbox (types, one length for every state, finite values; credo adds: no key the state leaves out, and
not every factor constant over the probe states, see `execution_check`); up to `repair_rounds` repair turns at 0.3
that feed the error back (which factors were constant, which key was missing), keeping a sliding context of the
last failed answer only, as the released code does. If the merged code never passes, each original candidate is
checked as it is (the issue's "next candidate"); if none passes, the caller goes on without LaRe. Every call, reply and check result is kept (`calls`, `after`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from credit.lare_prompts import MERGE, REPAIR, Mode, candidates_turn, parse_reply
from credit.lare_sandbox import Sandbox, SandboxError, SandboxLimits
from credit.lare_state import StateView
from llm_judges.base import Judge

Messages = list[dict[str, str]]


@dataclass
class Probe:
    """Real states gathered from the env, and what the prompt says about the task."""

    resets: list[dict[str, Any]]
    """The first state of each probe episode."""
    transitions: list[tuple[dict[str, Any], str, dict[str, Any]]]
    """(state, action, next state) of every probe step."""
    instruction: str
    schema: dict[str, str]
    """The env's `state_schema` (or its first state's keys, "(undocumented)", when it has none)."""
    task: str
    family: str
    """The env family (`TextEnv.family`): recorded replies and cached code remember it."""
    outcome_keys: frozenset[str]
    """The env's `outcome_keys`: the state keys φ does not see unless `include_outcome`."""

    def inputs(self, view: StateView, which: str) -> list[dict[str, Any]]:
        """The φ inputs the checks run on, built as `LaRe.assign` builds them (first states: no action)."""
        firsts = [view(s) for s in self.resets]
        return firsts + [view(nxt if which == "next" and nxt else state, action)
                         for state, action, nxt in self.transitions]


def gather_states(env_factory: Callable[[], Any], episodes: int, steps: int, seed: int) -> Probe:
    """Play `episodes` short episodes with random admissible actions and keep every `info["state"]`."""
    rng = np.random.default_rng(seed)
    env = env_factory()
    resets: list[dict[str, Any]] = []
    transitions: list[tuple[dict[str, Any], str, dict[str, Any]]] = []
    instruction = ""
    try:
        for ep in range(episodes):
            _, info = env.reset(seed=seed + ep)
            instruction = instruction or str(info.get("instruction", ""))
            state = dict(info.get("state") or {})
            resets.append(state)
            for _ in range(steps):
                actions = info.get("admissible_actions") or []
                # no list to draw from: an empty action, which every credo env treats as a no-op
                action = str(actions[rng.integers(len(actions))]) if actions else ""
                _, _, terminated, truncated, info = env.step(action)
                nxt = dict(info.get("state") or {})
                transitions.append((state, action, nxt))
                state = nxt
                if terminated or truncated:
                    break
        unwrapped = env.unwrapped
        doc = (inspect.getdoc(type(unwrapped)) or "").split("\n\n")[0].replace("\n", " ")
        family = str(getattr(unwrapped, "family", "") or "")
        task = f"An agent plays a text environment ({family} family). {doc}".strip()
        schema = dict(getattr(unwrapped, "state_schema", {}) or {}) or {
            k: "(undocumented)" for k in (resets[0] if resets else {})}
        outcome_keys = frozenset(getattr(unwrapped, "outcome_keys", ()) or ())
    finally:
        env.close()
    return Probe(resets, transitions, instruction, schema, task, family, outcome_keys)


@dataclass
class Accepted:
    """Code that passed the execution check, with its sandbox (the code stays compiled in it)."""

    code: str
    sandbox: Sandbox
    n_factors: int
    constant: list[int] = field(default_factory=list)
    """0-based positions of the factors that were constant over the probe states (allowed unless all are, or
    `constant_factors="any"`)."""


ConstantRule = Literal["all", "any", "off"]


def _constant_factors(factors: np.ndarray) -> list[int]:
    """Positions of the columns with one value over all rows (none with fewer than two rows)."""
    if len(factors) < 2:
        return []
    return [int(i) for i in np.flatnonzero(factors.max(axis=0) == factors.min(axis=0))]


def execution_check(code: str, states: list[dict[str, Any]], limits: SandboxLimits, mode: Mode,
                    view: StateView | None = None, constant: ConstantRule = "all") -> Accepted:
    """The execution check: load `code` in a sandbox and run it on every probe state; `SandboxError` otherwise.

    Beyond the paper's check (runs, right shape, finite): code naming a key `view` hides is refused (it reads the
    outcome), and so is code whose factors are all constant over the probe states (`constant="any"`: any one
    constant factor; "off": none, they are only recorded in `Accepted.constant`), since a decoder cannot tell
    states apart through them; the message names the factors.
    """
    hidden = view.reads_hidden(code) if view is not None else []
    if hidden:
        raise SandboxError(f"the code reads {', '.join(map(repr, hidden))}, which the state does not have "
                           f"(its keys: {', '.join(states[0]) if states else 'none'})")
    sandbox = Sandbox(code, limits)
    try:
        result = sandbox.evaluate(states)
        if result.n_failed:
            raise SandboxError(f"{result.first_error} (failed on {result.n_failed} of {len(states)} states)")
        d = result.factors.shape[1]
        if mode == "direct" and d != 1:
            raise SandboxError(f"evaluate must return a one-element list [reward], got {d} values")
        still = _constant_factors(result.factors)
        if still and constant != "off" and (len(still) == d or constant == "any"):
            values = ", ".join(f"factor {i + 1} = {result.factors[0, i]:g}" for i in still)
            which = "every factor is" if len(still) == d else f"{len(still)} of the {d} factors are"
            raise SandboxError(f"{which} constant over all {len(states)} sampled states ({values}): a factor "
                               "must change with the state; read keys that exist in the STATE FORM, and drop or "
                               "replace the constant ones")
    except SandboxError:
        sandbox.close()
        raise
    return Accepted(code, sandbox, d, still)


@dataclass
class CodeWriter:
    """Runs the self-verification dialogue with a judge; `calls` and `after` record it."""

    judge: Judge
    limits: SandboxLimits
    mode: Mode = "factors"
    view: StateView | None = None
    """What φ reads (hidden outcome keys are refused by the check)."""
    constant: ConstantRule = "all"
    n_candidates: int = 5
    sample_temperature: float = 1.0
    merge_temperature: float = 0.3
    repair_rounds: int = 5
    max_tokens: int = 4096
    calls: list[dict[str, Any]] = field(default_factory=list)
    """Every LLM call: purpose, messages, temperature, replies and the check result of each checked reply."""
    after: list[str] = field(default_factory=list)
    """What happened after the dialogue: a later LLM failure, the checks of the original candidates."""

    async def _ask(self, purpose: str, messages: Messages, n: int, temperature: float) -> list[str]:
        entry: dict[str, Any] = {"purpose": purpose, "n": n, "temperature": temperature, "messages": messages}
        self.calls.append(entry)
        replies = await self.judge.complete(messages, n=n, temperature=temperature, max_tokens=self.max_tokens,
                                            json_mode=True)
        entry["replies"] = [str(r) for r in replies]
        entry["checks"] = []
        return entry["replies"]

    def _check(self, reply: str, states: list[dict[str, Any]]) -> Accepted | str:
        """Accepted code, or the one-line reason it was rejected."""
        try:
            return execution_check(parse_reply(reply), states, self.limits, self.mode, self.view, self.constant)
        except (ValueError, SandboxError) as err:
            return str(err)

    def _check_last(self, reply: str, states: list[dict[str, Any]]) -> Accepted | str:
        """`_check`, its result recorded on the last LLM call."""
        result = self._check(reply, states)
        self.calls[-1]["checks"].append("ok" if isinstance(result, Accepted) else result)
        return result

    async def write(self, prompt: str, states: list[dict[str, Any]]) -> Accepted | None:
        """The whole procedure; None when no code passed. A failing *first* call (no LLM) raises."""
        base: Messages = [{"role": "user", "content": prompt}]
        candidates = await self._ask("sample", base, self.n_candidates, self.sample_temperature)
        try:
            if len(candidates) > 1:
                base = base + [{"role": "assistant", "content": candidates_turn(candidates)},
                               {"role": "user", "content": MERGE}]
                reply = (await self._ask("merge", base, 1, self.merge_temperature))[0]
            else:
                reply = candidates[0]
            result = self._check_last(reply, states)
            for round_ in range(self.repair_rounds):
                if isinstance(result, Accepted):
                    return result
                repair = base + [{"role": "assistant", "content": reply},
                                 {"role": "user", "content": REPAIR.format(error=result)}]
                reply = (await self._ask(f"repair {round_ + 1}", repair, 1, self.merge_temperature))[0]
                result = self._check_last(reply, states)
            if isinstance(result, Accepted):
                return result
        except Exception as err:  # a later LLM failure ends the dialogue, not the run: candidates remain
            self.after.append(f"LLM call failed: {type(err).__name__}: {err}")
        for i, reply in enumerate(candidates):
            result = self._check(reply, states)
            self.after.append(f"candidate {i + 1}: {'ok' if isinstance(result, Accepted) else result}")
            if isinstance(result, Accepted):
                return result
        return None
