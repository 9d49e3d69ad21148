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
The result is a policy folder (`runs/<name>/policy/`) that `credo train policy.model=<folder>` and `credo eval`
load like any checkpoint.
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
"""Sub-folder of an SFT run holding the resulting policy."""


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
    epochs: int = Field(3, ge=1, description="Passes over the demonstrations.")
    batch_size: int = Field(32, ge=1, description="Steps per optimiser update.")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate (1e-3 suits the tiny model from scratch; use "
                      "~1e-5 for pretrained LMs).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient-norm clipping.")
    only_success: bool = Field(True, description="Train only on demonstrations whose episode succeeded.")
    seed: int = Field(0, description="Seed for model init (tiny), shuffling and sampling.")
    torch_threads: int | None = Field(None, ge=1, description="torch.set_num_threads (None: torch's default).")


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


def _batch_loss(policy: Policy, batch: list[Step], loss: str) -> tuple[Any, float]:
    """(loss tensor, accuracy) of a batch.

    choice: -mean log-softmax of the expert action among the candidates; accuracy = the expert action has the
    highest score (greedy acting would take it). tokens: token-mean cross-entropy; accuracy = every action token
    has probability > 1/2 (so greedy decoding would write it).
    """
    import torch

    if loss == "choice":
        ev = policy.evaluate(batch)
        scores = ev.extra["candidate_scores"]
        hits = [int(sc.argmax()) == (s.candidates or []).index(s.action_text)
                for s, sc in zip(batch, scores, strict=True)]
        return -ev.logprob.mean(), sum(hits) / len(hits)
    token_lps = policy.token_logprobs(batch)
    exact = sum(bool((lp > -math.log(2)).all()) for lp in token_lps)
    return -torch.cat(token_lps).mean(), exact / len(batch)


def run_sft(config: SFTConfig, root: Path = Path("runs")) -> tuple[RunDir, dict[str, float]]:
    """Train on the demonstrations, save the policy to `runs/<name>/policy/`, return (run, final metrics)."""
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agents.policy import Policy
    from credo.tables import Col, print_table

    demos = read_demos(config.demos)
    used = [d for d in demos if d.success or not config.only_success]
    if not used:
        raise ValueError(f"{config.demos}: no successful demonstrations (set only_success=false to use all)")
    loss = "tokens" if config.policy.mode == "generate" else config.loss
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)
    env_ids = sorted({d.env_id for d in used})
    # the tiny model's tokenizer reads text from the envs as the demonstrations played them (e.g. the shop with
    # `item_names`); demonstrations made with different kwargs leave it the envs' defaults
    same_kwargs = all(d.env_kwargs == used[0].env_kwargs for d in used)
    policy = Policy.from_config(config.policy, env_ids, used[0].env_kwargs if same_kwargs else None)
    if loss == "tokens" and policy.encoder:
        raise ConfigError(f"sft: loss=tokens trains token log-probs; an encoder ({config.policy.model}) has none: "
                          "use loss=choice")
    steps, skipped = demo_steps(used, policy, config.prompt, loss)
    if not steps:
        raise ValueError(f"{config.demos}: no trainable steps (loss=choice needs admissible_actions holding the "
                         "expert action; try loss=tokens)")
    name = config.name or f"sft-{env_ids[0].removeprefix('credo/')}-{time.strftime('%Y%m%d-%H%M%S')}"
    run = RunDir.create(name, config, root=root)
    policy.model.train()
    params = [p for p in policy.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    rng = random.Random(config.seed)
    n_batches = (len(steps) + config.batch_size - 1) // config.batch_size
    metrics: dict[str, float] = {}
    start = time.time()
    columns = (TextColumn("[bold]sft[/] epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.3f} acc {task.fields[acc]:.2f}"), TimeElapsedColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("sft", total=config.epochs * n_batches, epoch=1, loss=float("nan"), acc=0.0)
        for epoch in range(1, config.epochs + 1):
            order = list(range(len(steps)))
            rng.shuffle(order)
            total_loss = total_acc = 0.0
            for b in range(n_batches):
                batch = [steps[i] for i in order[b * config.batch_size:(b + 1) * config.batch_size]]
                value, acc = _batch_loss(policy, batch, loss)
                opt.zero_grad(set_to_none=True)
                value.backward()
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                opt.step()
                total_loss += float(value.detach()) * len(batch)
                total_acc += acc * len(batch)
                progress.update(task, advance=1, epoch=epoch, loss=float(value.detach()), acc=acc)
            metrics = {"loss": total_loss / len(steps), "accuracy": total_acc / len(steps), "epoch": epoch,
                       "samples": len(steps), "wall_time": time.time() - start}
            run.log_metrics(epoch, metrics)
            progress.console.print(f"epoch {epoch}: loss {metrics['loss']:.3f}, accuracy {metrics['accuracy']:.3f}, "
                                   f"{metrics['wall_time']:.0f} s")  # a line per epoch, also in logs without a tty
    policy.model.eval()
    policy.save(run.path / POLICY_DIR)
    run.close()
    summary = {"demonstrations": len(used), "samples": len(steps), "skipped steps": skipped, **metrics}
    console = Console()
    print_table(f"sft {run.name} ({loss} loss)", [Col("metric", key=True), Col("value")],
                [[key, f"{value:.4f}" if isinstance(value, float) else str(value)] for key, value in summary.items()],
                console)
    console.print(f"policy saved to {run.path / POLICY_DIR}; start RL with "
                  f"`credo train policy.model={run.path / POLICY_DIR}`")
    return run, summary
