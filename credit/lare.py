"""`lare`: LaRe (Qu et al., AAAI-25), LLM-written latent-reward code plus a learned reward decoder.

At start-up (construction) the module obtains `evaluate(state) -> list[float]`, Python that maps an env state to
interpretable evaluation factors z = φ(s): from `code_file`, from this run's folder or the cache (same env, seed,
mode and prompt, written for the same env family and state schema), or by asking an LLM (`CreditContext.judge_url`,
or recorded replies in `replies`, refused when recorded for another family or schema) through the paper's
self-verification (credit/lare_codegen.py). The code runs only inside the sandbox (credit/lare_sandbox.py).
What φ reads is `info["state"]` without the outcome keys the env declares (score, progression, points, won...),
plus the action text with `include_action` (credit/lare_state.py); `include_outcome=true` is the leak control.
Each `assign` then evaluates φ on the batch's states, trains the decoder f on (φ, episode outcome) pairs by return
decomposition (credit/lare_decoder.py) and returns r̂_t = f(φ(s_t)) as the step reward. `mode="direct"` is the
paper's ablation: the code returns one number, used as the reward with no decoder. r̂ is a redistributed reward
(`signal = "redistribution"`): as in the paper it replaces the env reward for the learner (`combine`).

Saved under `run_dir/credit/lare/<key>/`: `code.py` (the accepted code), `dialogue.json` (every LLM call, reply and
check; replayable with `replies=`), `meta.json`. With no LLM and nothing cached, construction fails with a one-line
error; when the LLM's code never passes the checks, the run goes on without LaRe (the learner then trains on the
env reward, as if LaRe were absent) and says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from credit._episodes import OutcomeSource, outcome
from credit.base import CreditContext, CreditModule, CreditOutput, RedistributionConfig, register_credit
from credit.lare_codegen import Accepted, CodeWriter, ConstantRule, Probe, execution_check, gather_states
from credit.lare_decoder import DecoderTrainer, Loss
from credit.lare_prompts import Mode, task_prompt, template_hash
from credit.lare_sandbox import Sandbox, SandboxError, SandboxLimits
from credit.lare_state import ACTION_KEY, StateView, schema_hash
from credo.config import ConfigError
from credo.trajectory import Episode, Step
from llm_judges.base import JudgeError

log = logging.getLogger(__name__)


class LaReConfig(RedistributionConfig):
    """LaRe: where the code comes from, how it is verified and sandboxed, and how the decoder learns."""

    mode: Mode = Field("factors", description="factors: the code returns d factors and a decoder learns the reward "
                                              "(LaRe); direct: the code returns [reward], used as is (the paper's "
                                              "ablation, no decoder).")
    loss: Loss = Field("rrdu", description="Decoder loss: rrdu (RRD-unbiased, the paper's main variant), rrd (K "
                                           "sampled steps, no variance correction) or rd (all steps).")
    rd_scale: Literal["mean", "sum"] = Field(
        "mean", description="mean: regress per-step means to R/T (the MuJoCo code); sum: regress sums to R, each "
                            "episode weighted by T^2 (the MPE code). Step rewards sum to about R either way.")
    rrd_k: int = Field(64, ge=1, description="Steps sampled per episode by the rrd/rrdu losses (the paper's K).")
    outcome: OutcomeSource = Field("return", description="The decoder's target per episode: return (sum of env "
                                                         "rewards), success (0/1) or score. Never per-step rewards.")
    state_input: Literal["next", "current"] = Field(
        "next", description="Which state of step t the code reads: next (after the action, as the MPE code's "
                            "φ(o_{t+1})) or current (the state the action was taken in).")
    include_outcome: bool = Field(
        False, description="Let the code read the state keys the env marks as the outcome or a proxy of it "
                           "(NetHack/MiniHack score, progression; TextWorld points, won, lost): the leak-control "
                           "ablation. Off: they are left out of the states and the prompt.")
    include_action: bool = Field(False, description="Add the step's action text to the state as state['action'] "
                                                    "(the paper's MuJoCo φ(s, a)); the prompt says so.")
    constant_factors: ConstantRule = Field(
        "all", description="Self-verification refuses LLM code whose factors are all constant over the probe "
                           "states (all), or that has any constant factor (any: stricter, but refuses factors that "
                           "move only on events random play rarely reaches, such as holding a key), or neither (off). "
                           "A code_file is never refused for it (the log names its constant factors).")
    judge_backend: Literal["openai", "local"] = Field(
        "openai", description="openai: the OpenAI-compatible server at --judge-url (vLLM, OpenAI, Ollama, credo judge "
                              "serve); local: a transformers checkpoint on this machine (judge_model), no URL needed.")
    judge_model: str = Field("", description="openai: model name on the server (empty: the server's first model); "
                                             "local: a checkpoint folder.")
    judge_timeout_s: float = Field(600.0, gt=0, description="Seconds one LLM request may take (n candidates of "
                                                            "code are long replies).")
    judge_retries: int = Field(3, ge=0, description="Retries of a failed LLM request (connection errors, 429, "
                                                    "5xx), with the openai package's backoff.")
    replies: str = Field("", description="A recorded-replies JSON file (tests/fixtures/lare/, or a run's "
                                         "dialogue.json) answered instead of an LLM; it must be recorded for "
                                         "this env family and state schema.")
    code_file: str = Field("", description="A Python file defining evaluate(state): skip the LLM entirely "
                                           "(configs/lare/ has informative, noise and leak files for MiniHack).")
    cache_dir: str = Field("~/.cache/credo/lare", description="Accepted code is also kept here, keyed by env, "
                                                               "seed, mode and prompt, and reused by later runs "
                                                               "written for the same env family and state "
                                                               "schema (empty: only the run folder).")
    task: str = Field("", description="The TASK paragraph of the prompt (empty: the env class's description).")
    n_candidates: int = Field(5, ge=1, description="Candidates sampled in the first call (paper: 5).")
    sample_temperature: float = Field(1.0, ge=0, description="Temperature of the candidate samples (paper: 1.0).")
    merge_temperature: float = Field(0.3, ge=0, description="Temperature of the merge and repair turns (paper: 0.3).")
    repair_rounds: int = Field(5, ge=0, description="Repair turns that feed a failed check back (paper: 5).")
    max_tokens: int = Field(4096, ge=64, description="Longest LLM reply, in tokens.")
    probe_episodes: int = Field(3, ge=1, description="Episodes of random admissible actions whose states the "
                                                     "execution check runs the code on.")
    probe_steps: int = Field(20, ge=0, description="Most steps per probe episode.")
    hidden: int = Field(256, ge=1, description="Decoder hidden width (paper, MuJoCo: 256).")
    layers: int = Field(2, ge=1, description="Decoder hidden layers (paper, MuJoCo: 2).")
    lr: float = Field(3e-4, gt=0, description="Decoder Adam learning rate (paper, MuJoCo: 3e-4).")
    weight_decay: float = Field(0.0, ge=0, description="Decoder Adam weight decay (paper, MPE: 1e-5).")
    updates_per_assign: int = Field(50, ge=0, description="Decoder gradient steps per training batch (paper, "
                                                          "MPE: 50 per update).")
    batch_episodes: int = Field(32, ge=1, description="Episodes per decoder gradient step.")
    buffer_episodes: int = Field(2000, ge=1, description="Episodes the decoder's buffer keeps (oldest dropped).")
    normalize_factors: bool = Field(True, description="Standardise factors with the buffer's mean and std before "
                                                      "the decoder (not in the paper; text-env factors differ in "
                                                      "scale).")
    cpu_seconds: int = Field(10, ge=1, description="Sandbox: CPU seconds per call (a batch of states).")
    wall_seconds: float = Field(30.0, gt=0, description="Sandbox: wall-clock seconds per call before the worker "
                                                        "is killed.")
    memory_mb: int = Field(512, ge=16, description="Sandbox: memory the code may allocate, in MiB.")
    max_factors: int = Field(64, ge=1, description="Sandbox: the longest list evaluate() may return.")
    eval_batch: int = Field(1024, ge=1, description="States per message to the sandbox worker.")
    max_sandbox_failures: int = Field(3, ge=1, description="Killed sandbox calls in a row after which the run "
                                                           "goes on without LaRe.")


def _step_state(step: Step, which: str) -> dict[str, Any]:
    return step.next_state if which == "next" and step.next_state else step.state


def _describe(written: dict[str, Any]) -> str:
    return f"the {written.get('family')} env family (state schema {written.get('schema')})"


@register_credit("lare")
class LaRe(CreditModule):
    """Step reward r̂_t = f(φ(s_t)): φ is LLM-written code, f a decoder trained by return decomposition."""

    Config = LaReConfig
    config: LaReConfig
    signal = "redistribution"

    def __init__(self, config: LaReConfig | None = None, context: CreditContext | None = None) -> None:
        super().__init__(config, context)
        c = self.config
        self.limits = SandboxLimits(c.cpu_seconds, c.wall_seconds, c.memory_mb, c.max_factors)
        self.accepted: Accepted | None = None
        self.trainer: DecoderTrainer | None = None
        self.failures = 0
        self.folder: Path | None = None
        self.view = StateView()
        self.written_for: dict[str, str] = {}
        """The env family and state-schema hash the code is for (kept in meta.json and dialogue.json)."""
        self._start()

    # -- start-up: get the code ------------------------------------------------------------------------------
    def _start(self) -> None:
        c, ctx = self.config, self.context
        if ctx.env_factory is None:
            raise ConfigError("lare: needs an env (CreditContext.env_factory) to gather the states it checks the "
                              "code on")
        try:  # a machine where the jail cannot be set up must fail here, not look like bad LLM code later
            Sandbox("def evaluate(state):\n    return [0.0]\n", self.limits).close()
        except SandboxError as err:
            raise ConfigError(f"lare: the code sandbox does not work on this machine: {err}") from None
        probe = gather_states(ctx.env_factory, c.probe_episodes, c.probe_steps, ctx.seed)
        if not any(probe.resets):
            raise ConfigError(f"lare: env {ctx.env_id!r} reports no info['state'] features for the code to read")
        if c.include_action and ACTION_KEY in probe.schema:
            raise ConfigError(f"lare: include_action adds state[{ACTION_KEY!r}], but env {ctx.env_id!r} already has "
                              "that key")
        self.view = StateView(frozenset() if c.include_outcome else probe.outcome_keys, c.include_action,
                              c.state_input)
        schema = self.view.schema(probe.schema)
        self.written_for = {"family": probe.family, "schema": schema_hash(schema)}
        task = c.task or probe.task
        key = f"{re.sub(r'[^A-Za-z0-9._-]+', '_', ctx.env_id or 'env')}-seed{ctx.seed}-{c.mode}-" \
              f"{template_hash(c.mode, task, schema)}"
        self.folder = ctx.run_dir / "credit" / "lare" / key if ctx.run_dir is not None else None
        cache = Path(c.cache_dir).expanduser() / key if c.cache_dir else None
        states = probe.inputs(self.view, c.state_input)
        self.accepted = self._reuse(states, cache)
        if self.accepted is None:
            self.accepted = self._generate(probe, states, schema, task, cache)
        if self.accepted is not None and self.accepted.constant:
            log.info("lare: factors %s of %d are constant over the %d probe states of random play (kept)",
                     [i + 1 for i in self.accepted.constant], self.accepted.n_factors, len(states))
        if self.accepted is not None and c.mode == "factors":
            self.trainer = DecoderTrainer(
                self.accepted.n_factors, hidden=c.hidden, layers=c.layers, lr=c.lr, weight_decay=c.weight_decay,
                loss=c.loss, k=c.rrd_k, rd_scale=c.rd_scale, batch_episodes=c.batch_episodes,
                buffer_episodes=c.buffer_episodes, normalize=c.normalize_factors, seed=ctx.seed)

    def _check(self, code: str, states: list[dict[str, Any]], constant: ConstantRule | None = None) -> Accepted:
        c = self.config
        return execution_check(code, states, self.limits, c.mode, self.view, constant or c.constant_factors)

    def _reuse(self, states: list[dict[str, Any]], cache: Path | None) -> Accepted | None:
        """Code from `code_file`, this run's folder or the cache (when written for this env family and state
        schema; otherwise a cache miss, logged), re-checked on this run's probe states."""
        c = self.config
        if c.code_file:
            path = Path(c.code_file)
            if not path.is_file():
                raise ConfigError(f"lare: code_file {c.code_file!r} does not exist")
            code = path.read_text()
            leaks = self.view.reads_hidden(code)
            if leaks:
                raise ConfigError(f"lare: code_file {c.code_file!r} reads {', '.join(map(repr, leaks))}, the "
                                  "outcome or a proxy of it, which the state leaves out: set "
                                  "credit_config.lare.include_outcome=true to run it (the leak-control ablation)")
            try:  # the user's own factors may measure what random probe play never reaches (a key held, success)
                accepted = self._check(code, states, constant="off")
            except SandboxError as err:
                raise ConfigError(f"lare: code_file {c.code_file!r} fails the check: {err}") from None
            self._save(accepted, {"source": str(path)})
            return accepted
        for folder in (self.folder, cache):
            if folder is None or not (folder / "code.py").is_file():
                continue
            try:
                meta = json.loads((folder / "meta.json").read_text())
            except (OSError, json.JSONDecodeError):
                meta = {}
            written = {k: meta.get(k) for k in self.written_for}
            if written != self.written_for:
                log.info("lare: not reusing the code in %s: it was written for %s, this env is %s; writing new "
                         "code", folder, _describe(written), _describe(self.written_for))
                continue
            try:
                accepted = self._check((folder / "code.py").read_text(), states)
            except SandboxError as err:
                log.warning("lare: cached code %s fails the check (%s); writing new code", folder, err)
                continue
            log.info("lare: reusing the accepted code in %s", folder)
            if folder != self.folder:
                self._save(accepted, {"source": str(folder / "code.py")})
            return accepted
        return None

    def _judge(self) -> tuple[Any, str]:
        """The judge to ask and a name for messages; a one-line error when there is none."""
        c, url = self.config, self.context.judge_url
        if c.replies:
            from credit.lare_replay import ReplayJudge

            judge = ReplayJudge(c.replies, self.written_for["family"], self.written_for["schema"])
            return judge, f"recorded replies {c.replies}"
        from llm_judges.backends import make_judge
        from llm_judges.config import JudgeConfig

        if c.judge_backend == "local":
            config = JudgeConfig(backend="local", model=c.judge_model, max_tokens=c.max_tokens)
            try:
                return make_judge(config), f"local model {c.judge_model!r}"
            except JudgeError as err:
                raise ConfigError(f"lare: {err}") from None
        if not url:
            raise ConfigError("lare: no LLM to write the reward code and none cached for this env and seed: pass "
                              "--judge-url URL (an OpenAI-compatible server), credit_config.lare.judge_backend=local "
                              "with judge_model=DIR, credit_config.lare.replies=FILE (recorded replies) or "
                              "credit_config.lare.code_file=FILE")
        base = url.rstrip("/") if url.rstrip("/").endswith("/v1") else url.rstrip("/") + "/v1"
        config = JudgeConfig(backend="openai", base_url=base, model=c.judge_model, timeout_s=c.judge_timeout_s,
                             max_retries=c.judge_retries, max_tokens=c.max_tokens)
        return make_judge(config), base

    def _generate(self, probe: Probe, states: list[dict[str, Any]], schema: dict[str, str], task: str,
                  cache: Path | None) -> Accepted | None:
        c = self.config
        judge, where = self._judge()
        writer = CodeWriter(judge, self.limits, mode=c.mode, view=self.view, constant=c.constant_factors,
                            n_candidates=c.n_candidates, sample_temperature=c.sample_temperature,
                            merge_temperature=c.merge_temperature, repair_rounds=c.repair_rounds,
                            max_tokens=c.max_tokens)
        example = states[len(probe.resets)] if len(states) > len(probe.resets) else states[0]
        prompt = task_prompt(task, probe.instruction, schema, example, c.mode)

        async def dialogue() -> Accepted | None:
            try:
                return await writer.write(prompt, states)
            finally:
                await judge.aclose()

        started = time.monotonic()
        try:
            accepted = asyncio.run(dialogue())
        except Exception as err:
            if writer.calls and "replies" in writer.calls[0]:
                raise
            raise ConfigError(f"lare: cannot get an answer from the LLM ({where}): {err}") from None
        record = {**self.written_for, "calls": writer.calls, "after": writer.after, "prompt": prompt, "source": where,
                  "seconds": round(time.monotonic() - started, 1), "accepted": accepted is not None}
        self._save(accepted, record, cache=cache)
        if accepted is None:
            log.warning("lare: no code from %s passed the checks; the run goes on WITHOUT LaRe (zero step "
                        "rewards)%s", where, f"; see {self.folder / 'dialogue.json'}" if self.folder else "")
        return accepted

    def _save(self, accepted: Accepted | None, record: dict[str, Any], cache: Path | None = None) -> None:
        """code.py, meta.json and (after a dialogue) dialogue.json into the run folder, and the cache when given."""
        meta = {"env_id": self.context.env_id, **self.written_for, "seed": self.context.seed,
                "mode": self.config.mode, "include_outcome": self.config.include_outcome,
                "include_action": self.config.include_action, "n_factors": accepted.n_factors if accepted else 0,
                "constant_on_probe": [i + 1 for i in accepted.constant] if accepted else [],
                "source": record.get("source", "")}
        for folder in (self.folder, cache if accepted is not None else None):
            if folder is None:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            if "calls" in record:
                (folder / "dialogue.json").write_text(json.dumps(record, indent=1))
            if accepted is not None:
                (folder / "code.py").write_text(accepted.code)
                (folder / "meta.json").write_text(json.dumps(meta, indent=1))

    # -- training ---------------------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether LaRe gives rewards (False: no code passed, or the sandbox failed too often)."""
        return self.accepted is not None

    def assign(self, episodes: list[Episode]) -> CreditOutput:
        zeros = [np.zeros(ep.length, dtype=np.float64) for ep in episodes]
        if self.accepted is None:
            return CreditOutput(zeros, {"active": 0.0}, active=False)
        states = [self.view(_step_state(s, self.config.state_input), s.action_text) for ep in episodes
                  for s in ep.steps]
        started = time.monotonic()
        try:
            result = self.accepted.sandbox.evaluate(states, self.config.eval_batch)
        except SandboxError as err:
            self.failures += 1
            if self.failures >= self.config.max_sandbox_failures:
                log.warning("lare: the sandbox failed %d times in a row (%s); the run goes on WITHOUT LaRe",
                            self.failures, err)
                self.close()
                self.accepted = None
            else:
                log.warning("lare: sandbox call failed (%s); zero LaRe rewards for this batch", err)
            return CreditOutput(zeros, {"active": 0.0, "sandbox_failures": float(self.failures)}, active=False)
        self.failures = 0
        d, values, n_failed = self.accepted.n_factors, result.factors, result.n_failed
        if values.shape[1] != d:  # every state failed, or the code changed its list length: no usable factors
            values, n_failed = np.full((len(states), d), np.nan), len(states)
        metrics = {"active": 1.0, "eval_seconds": time.monotonic() - started, "invalid_states": float(n_failed),
                   "n_factors": float(d)}
        if result.first_error:
            log.debug("lare: evaluate failed on some states: %s", result.first_error)
        bounds = np.cumsum([0] + [ep.length for ep in episodes])
        factors = [values[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        if self.trainer is None:  # direct: the code's single output is the reward
            return CreditOutput([np.nan_to_num(f[:, 0]) if len(f) else np.zeros(0) for f in factors], metrics)
        kept = [i for i, ep in enumerate(episodes) if ep.length]
        self.trainer.add([factors[i] for i in kept], [outcome(episodes[i], self.config.outcome) for i in kept])
        metrics.update(self.trainer.update(self.config.updates_per_assign))
        predicted = iter(self.trainer.predict([factors[i] for i in kept]))
        rewards = [next(predicted) if ep.length else np.zeros(0) for ep in episodes]
        return CreditOutput(rewards, metrics)

    def state_dict(self) -> dict[str, Any]:
        return {"failures": self.failures, "trainer": self.trainer.state_dict() if self.trainer else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.failures = int(state.get("failures", 0))
        if self.trainer is not None and state.get("trainer") is not None:
            self.trainer.load_state_dict(state["trainer"])

    def close(self) -> None:
        if self.accepted is not None:
            self.accepted.sandbox.close()
