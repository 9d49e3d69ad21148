"""`credo sft`: supervised warm start of a policy on demonstrations (SPA-RL does this before RL).

Each demonstration step becomes one training sample exactly as the policy will see it during RL: the prompt is
built by the same `PromptBuilder` (family template, history window of earlier (observation, action) pairs), and
only the action is trained on. Which log-prob is maximised (`loss`):
- `choice` (default in choose mode): the candidate-softmax log-prob of the expert action among the step's
  admissible actions, i.e. the very distribution RL samples from and PPO's ratio uses, so the warm start and
  the RL that follows optimise one quantity. Steps without admissible actions are skipped (and counted).
- `tokens`: token cross-entropy (token mean) on the action tokens given the prompt; in choose mode the tokens
  are the candidate's (action + eos), in generate mode the reply `<action>{action}</action>` + eos, the format
  `agents.policy.parse_action` reads (demonstrations carry no reasoning, so the `<think>` part is left out).
  Generate mode always uses `tokens`.
With the head (`policy.candidate_score=head`) on a causal LM, `choice` adds the `tokens` loss by default
(`token_loss_coef`): the candidate softmax alone gives the body one scalar's gradient per step and a from-scratch
model then does not learn to copy an option word or a title from the page (tiny model on the shop's option steps:
held-out accuracy 0.14 after 3 epochs; with the token loss 0.63, RESULTS.md "The shop, again"); predicting the
action's tokens is the copying itself. RL trains the head's softmax alone, as before.
The result is a policy folder (`runs/<name>/policy/`) that `credo train policy.model=<folder>` and `credo eval`
load like any checkpoint. An epoch of the encoder on a few thousand steps takes half an hour on a CPU, so a run
saves a checkpoint every `checkpoint_minutes` and after each epoch, and `credo sft --resume runs/<name>` continues
it exactly (same batches, optimizer and random state); `val_demos` logs held-out accuracy per epoch.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from agents.demos import Demo, read_demos
from agents.policy import PolicyConfig
from agents.prompts import PromptBuilder, PromptConfig
from agents.runs import RunDir
from credo.config import Config, ConfigError
from credo.trajectory import Step

if TYPE_CHECKING:
    from agents.policy import Policy

POLICY_DIR = "policy"
"""Sub-folder of an SFT run (and of each of its checkpoints) holding the policy."""
SFT_STATE = "sft_state.pt"
"""A checkpoint's optimizer, shuffle order, position in it and random state."""


class SFTConfig(Config):
    """Supervised fine-tuning on demonstrations (agents/sft.py)."""

    demos: str = Field(..., description="Demonstrations JSONL (schema: agents/demos.py).")
    name: str | None = Field(None, description="Run name: the result goes to runs/<name>/ (default sft-<env>-<time>).")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="The model to start from and its "
                                 "action mode (the same settings RL will use).")
    prompt: PromptConfig = Field(default_factory=PromptConfig, description="Prompt layout; keep it equal to the "
                                 "RL run's `prompt` so SFT trains on the prompts RL will show.")
    loss: Literal["choice", "tokens"] = Field("choice", description="'choice': candidate-softmax log-prob of the "
                                              "expert action (choose mode; RL's distribution); 'tokens': token "
                                              "cross-entropy on the action tokens (generate mode always).")
    token_loss_coef: float | None = Field(None, ge=0, description="Weight of a token cross-entropy on the expert "
                                          "action's tokens added to loss=choice. None: 1 for a causal LM scored by "
                                          "the head, 0 otherwise (see the module docstring).")
    epochs: int = Field(3, ge=1, description="Passes over the demonstrations.")
    batch_size: int = Field(32, ge=1, description="Steps per optimiser update.")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate (1e-3 suits the tiny model from scratch; use "
                      "~1e-5 for pretrained LMs).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient-norm clipping.")
    only_success: bool = Field(True, description="Train only on demonstrations whose episode succeeded.")
    seed: int = Field(0, description="Seed for model init (tiny), shuffling and sampling.")
    torch_threads: int | None = Field(None, ge=1, description="torch.set_num_threads (None: torch's default).")
    val_demos: str | None = Field(None, description="Held-out demonstrations JSONL: loss and accuracy on them after "
                                  "each epoch (metrics `val_loss`, `val_accuracy`), to see when more epochs stop "
                                  "helping.")
    checkpoint_minutes: float = Field(10.0, gt=0, description="Save a resumable checkpoint at least this often, and "
                                      "after every epoch; `credo sft --resume runs/<name>` continues from the newest "
                                      "(raise `epochs` there to train further).")


def demo_steps(demos: list[Demo], policy: Policy, prompt: PromptConfig, loss: str) -> tuple[list[Step], int]:
    """One `Step` per demonstration step, prompts built as at acting time; returns (steps, skipped)."""
    import envs

    generate = policy.config.mode == "generate"
    builders: dict[str, PromptBuilder] = {}
    out: list[Step] = []
    skipped = 0
    for d, demo in enumerate(demos):
        if demo.env_id not in builders:
            builders[demo.env_id] = PromptBuilder.for_policy(envs.card(demo.env_id).family, policy, prompt)
        builder = builders[demo.env_id]
        episode_id = f"demo-{d}-{uuid.uuid4().hex[:6]}"
        history: list[tuple[str, str]] = []
        for t, step in enumerate(demo.steps):
            admissible = list(step.admissible_actions)
            prompt_ids = builder.build(demo.instruction, history, step.observation, admissible or None)
            history.append((step.observation, step.action))
            if generate:
                reply = f"<action>{step.action}</action>"
                action_ids = list(policy.tokenizer(reply, add_special_tokens=False)["input_ids"]) + [policy.eos_id]
                candidates = None
            else:
                if loss == "choice" and step.action not in admissible:
                    skipped += 1  # no candidate set holding the expert action: nothing to choose among
                    continue
                action_ids = policy.candidate_ids(step.action)
                candidates = admissible if loss == "choice" else None
            out.append(Step(episode_id=episode_id, group_id=f"demo-{d}", step_index=t, observation=step.observation,
                            prompt_ids=prompt_ids, action_ids=action_ids, action_text=step.action, logprob=0.0,
                            candidates=candidates))
    return out, skipped


def _batch_loss(policy: Policy, batch: list[Step], loss: str, token_coef: float = 0.0) -> tuple[Any, float]:
    """(loss tensor, accuracy) of a batch.

    choice: -mean log-softmax of the expert action among the candidates (plus `token_coef` times the tokens loss);
    accuracy = the expert action has the highest score (greedy acting would take it). tokens: token-mean
    cross-entropy; accuracy = every action token has probability > 1/2 (so greedy decoding would write it).
    """
    import torch

    if loss == "choice":
        ev = policy.evaluate(batch)
        scores = ev.extra["candidate_scores"]
        hits = [int(sc.argmax()) == (s.candidates or []).index(s.action_text)
                for s, sc in zip(batch, scores, strict=True)]
        value = -ev.logprob.mean()
        if token_coef:
            value = value - token_coef * torch.cat(policy.token_logprobs(batch)).mean()
        return value, sum(hits) / len(hits)
    token_lps = policy.token_logprobs(batch)
    exact = sum(bool((lp > -math.log(2)).all()) for lp in token_lps)
    return -torch.cat(token_lps).mean(), exact / len(batch)


def _evaluate(policy: Policy, steps: list[Step], loss: str, token_coef: float, batch_size: int) -> dict[str, float]:
    """Mean loss and accuracy on `steps` without training (eval mode: no dropout), for `val_demos`."""
    import torch

    policy.model.eval()
    total_loss = total_acc = 0.0
    with torch.no_grad():
        for b in range(0, len(steps), batch_size):
            batch = steps[b:b + batch_size]
            value, acc = _batch_loss(policy, batch, loss, token_coef)
            total_loss += float(value) * len(batch)
            total_acc += acc * len(batch)
    policy.model.train()
    return {"val_loss": total_loss / len(steps), "val_accuracy": total_acc / len(steps)}


def _usable(path: str, config: SFTConfig) -> list[Demo]:
    """The demonstrations of a file that SFT trains on (successful ones unless `only_success=false`)."""
    used = [d for d in read_demos(path) if d.success or not config.only_success]
    if not used:
        raise ValueError(f"{path}: no successful demonstrations (set only_success=false to use all)")
    return used


def _steps(path: str, demos: list[Demo], config: SFTConfig, policy: Policy, loss: str) -> tuple[list[Step], int]:
    """The training steps of `demos` (read from `path`) and the number skipped; an error when none is left."""
    steps, skipped = demo_steps(demos, policy, config.prompt, loss)
    if not steps:
        raise ValueError(f"{path}: no trainable steps (loss=choice needs admissible_actions holding the expert "
                         "action; try loss=tokens)")
    return steps, skipped


def run_sft(config: SFTConfig, root: Path = Path("runs"), run: RunDir | None = None) -> tuple[RunDir, dict[str, float]]:
    """Train on the demonstrations, save the policy to `runs/<name>/policy/`, return (run, final metrics).

    With `run` (an SFT run folder), continue from its newest checkpoint: the same shuffle order, position,
    optimizer and random state, so a run killed and resumed ends with the weights an uninterrupted one would.
    """
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agents.policy import Policy
    from credo.seeding import rng_state, set_rng_state
    from credo.tables import Col, print_table

    loss = "tokens" if config.policy.mode == "generate" else config.loss
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)
    checkpoint = run.latest_checkpoint() if run is not None else None
    state = torch.load(checkpoint / SFT_STATE, weights_only=False) if checkpoint else None
    if state is not None and state["epoch"] > config.epochs and (run.path / POLICY_DIR).is_dir():
        raise ValueError(f"sft run {run.name} has finished its {state['epoch'] - 1} epochs: nothing to resume. To "
                         f"train further: credo sft --resume {run.path} epochs={state['epoch']}")
    used = _usable(config.demos, config)
    env_ids = sorted({d.env_id for d in used})
    # the tiny model's tokenizer reads text from the envs as the demonstrations played them (e.g. the shop with
    # `item_names`); demonstrations made with different kwargs leave it the envs' defaults
    same_kwargs = all(d.env_kwargs == used[0].env_kwargs for d in used)
    policy = (Policy.load(checkpoint / POLICY_DIR) if checkpoint else
              Policy.from_config(config.policy, env_ids, used[0].env_kwargs if same_kwargs else None))
    token_coef = config.token_loss_coef
    if token_coef is None:
        token_coef = 1.0 if loss == "choice" and policy.head and not policy.encoder else 0.0
    if (loss == "tokens" or token_coef) and policy.encoder:
        raise ConfigError(f"sft: loss=tokens and token_loss_coef train token log-probs; an encoder "
                          f"({config.policy.model}) has none: use loss=choice, token_loss_coef=0")
    steps, skipped = _steps(config.demos, used, config, policy, loss)
    val_steps = (_steps(config.val_demos, _usable(config.val_demos, config), config, policy, loss)[0]
                 if config.val_demos else [])
    if run is None:
        name = config.name or f"sft-{env_ids[0].removeprefix('credo/')}-{time.strftime('%Y%m%d-%H%M%S')}"
        run = RunDir.create(name, config, root=root)
    policy.model.train()
    params = [p for p in policy.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    rng = random.Random(config.seed)
    n_batches = (len(steps) + config.batch_size - 1) // config.batch_size
    first, start_batch, order, totals, wall_before = 1, 0, None, [0.0, 0.0], 0.0
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        rng.setstate(state["shuffle_rng"])
        first, start_batch, order = state["epoch"], state["batch"], state["order"]
        if order is not None and len(order) != len(steps):
            raise ValueError(f"{config.demos}: {len(steps)} steps now, {len(order)} when sft run {run.name} was "
                             "checkpointed; resume with the demonstrations it started with")
        totals, wall_before = state["totals"], state["wall_time"]
        run.truncate_metrics(first - 1)
        set_rng_state(state["rng"])
    start = time.time()

    def save(epoch: int, batch: int, order: list[int] | None, totals: list[float]) -> None:
        def write(folder: Path) -> None:
            policy.save(folder / POLICY_DIR)
            torch.save({"epoch": epoch, "batch": batch, "order": order, "totals": totals, "rng": rng_state(),
                        "shuffle_rng": rng.getstate(), "optimizer": opt.state_dict(),
                        "wall_time": wall_before + time.time() - start}, folder / SFT_STATE)
        run.save_checkpoint((epoch - 1) * n_batches + batch, write)

    metrics: dict[str, float] = {}
    last_save = time.time()
    columns = (TextColumn("[bold]sft[/] epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.3f} acc {task.fields[acc]:.2f}"), TimeElapsedColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("sft", total=config.epochs * n_batches, epoch=first, loss=float("nan"), acc=0.0,
                                 completed=(first - 1) * n_batches + start_batch)
        for epoch in range(first, config.epochs + 1):
            if order is None:
                order = list(range(len(steps)))
                rng.shuffle(order)
            for b in range(start_batch, n_batches):
                batch = [steps[i] for i in order[b * config.batch_size:(b + 1) * config.batch_size]]
                value, acc = _batch_loss(policy, batch, loss, token_coef)
                opt.zero_grad(set_to_none=True)
                value.backward()
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                opt.step()
                totals = [totals[0] + float(value.detach()) * len(batch), totals[1] + acc * len(batch)]
                progress.update(task, advance=1, epoch=epoch, loss=float(value.detach()), acc=acc)
                if time.time() - last_save >= 60 * config.checkpoint_minutes and b + 1 < n_batches:
                    save(epoch, b + 1, order, totals)
                    last_save = time.time()
            metrics = {"loss": totals[0] / len(steps), "accuracy": totals[1] / len(steps), "epoch": epoch,
                       "samples": len(steps), "wall_time": wall_before + time.time() - start}
            if val_steps:
                metrics |= _evaluate(policy, val_steps, loss, token_coef, config.batch_size)
            run.log_metrics(epoch, metrics)
            val = f", held-out accuracy {metrics['val_accuracy']:.3f}" if val_steps else ""
            progress.console.print(f"epoch {epoch}: loss {metrics['loss']:.3f}, accuracy {metrics['accuracy']:.3f}"
                                   f"{val}, {metrics['wall_time']:.0f} s")  # a line per epoch, also without a tty
            order, start_batch, totals = None, 0, [0.0, 0.0]
            save(epoch + 1, 0, None, totals)
            last_save = time.time()
    policy.model.eval()
    policy.save(run.path / POLICY_DIR)
    run.close()
    if not metrics:  # resumed after its last epoch's checkpoint, before the policy was saved
        metrics = {k: v for k, v in (run.read_metrics() or [{}])[-1].items() if k not in ("iteration", "time")}
    summary = {"demonstrations": len(used), "samples": len(steps), "skipped steps": skipped, **metrics}
    console = Console()
    print_table(f"sft {run.name} ({loss} loss)", [Col("metric", key=True), Col("value")],
                [[key, f"{value:.4f}" if isinstance(value, float) else str(value)] for key, value in summary.items()],
                console)
    console.print(f"policy saved to {run.path / POLICY_DIR}; start RL with "
                  f"`credo train policy.model={run.path / POLICY_DIR}`")
    return run, summary


def sft_from_cli(config_path: str | None, overrides: list[str], resume: str | None, root: Path) -> None:
    """`credo sft`: a new run from YAML + overrides, or `--resume runs/NAME` with the run's own config (overrides
    such as `epochs=N` extend it)."""
    if resume:
        run = RunDir.open(resume, root=root)
        run_sft(SFTConfig.build(run.config(), overrides, source=str(run.path / "config.yaml")), root, run)
    else:
        run_sft(SFTConfig.from_yaml(config_path, overrides), root)
