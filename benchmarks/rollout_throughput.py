"""Rollout and learner throughput of the tiny default model on a text env (MiniHack Room-5x5 by default), CPU.

Prints ratios against baselines measured in the same run (the machine may be shared, so absolute numbers are
noisy; each timing is the best of `--repeats`):
1. batched acting (one forward pass for all envs; in-process, and with two env workers where the model acts
   for one half of the envs while the other half steps) vs one env at a time: env steps/s, and the same model calls
   without envs (the most batching can gain: once the model is compute-bound, env steps cannot make it more);
2. choose-mode scoring, the prompt encoded once for all candidates ('packed': prompt + candidates as one segment
   under a 4D mask, segments bin-packed into rows; 'cached': the prompt's KV cache copied per candidate) vs full
   prompt+candidate sequences, for acting (no grad) and for the training forward+backward; all paths must give
   the same scores;
3. what a candidate score costs: the head (`candidate_score=head`) vs the summed log-likelihood ('sum') on the tiny
   model, and the minilm encoder backbone (its own rollout of the same env, its own tokens) against the same 'sum'
   row, for acting and for the training forward+backward (packed); medians of 5x`--repeats` interleaved runs in CPU
   seconds of this process (one torch thread), which other jobs on the machine distort less than wall time;
4. end-to-end training env steps/s and learner tokens/s (a short Trainer run);
5. peak memory (max RSS; GPU peak when on CUDA).

    python benchmarks/rollout_throughput.py [--env ID] [--envs 16] [--steps 480] [--repeats 3] [--no-encoder]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

import numpy as np
import torch
from _report import best_of, print_ratio_table
from rich.progress import Progress

ROOM = "credo/MiniHack-Room-5x5-v0"



def fwd_bwd(policy, steps, path: str = "packed") -> None:
    """One training forward+backward of choose-mode scoring over `steps`."""
    policy.model.zero_grad()
    s = policy.candidate_scores([x.prompt_ids for x in steps], [x.candidates for x in steps], batching=path)[0]
    (torch.cat(s) * torch.linspace(-1, 1, sum(len(x) for x in s))).sum().backward()


def randomize_head(model, std: float = 0.3) -> None:
    """Random weights for a fresh (zero) head, so that its backward pass reaches the model as a trained one's does."""
    from agents.backbones import score_head

    with torch.no_grad():
        for param in score_head(model).parameters():
            param.normal_(0, std)


def score_rows(env: str, env_kwargs: dict, family: str, act_steps, train_steps, args) -> list[tuple[str, ...]]:
    """Rows of part 3: 'head' and the minilm encoder next to 'sum' (CPU-time medians, interleaved)."""
    from agents.policy import Policy, PolicyConfig
    from agents.prompts import PromptBuilder
    from agents.rollout import Rollout

    policies = {score: Policy.from_config(PolicyConfig(candidate_score=score), [env], env_kwargs)
                for score in ("sum", "head")}
    randomize_head(policies["head"].model)  # a trained head: gradients reach the model
    steps = {score: (act_steps, train_steps) for score in policies}
    if not args.no_encoder:
        policies["minilm"] = Policy.from_config(PolicyConfig(model="minilm"))
        randomize_head(policies["minilm"].model, std=0.1)
        rollout = Rollout(policies["minilm"], PromptBuilder.for_policy(family, policies["minilm"]), env,
                          num_envs=args.envs, env_kwargs=env_kwargs)
        pool = [s for e in rollout.collect(max(256, len(train_steps))) for s in e.steps]
        rollout.close()
        steps["minilm"] = (pool[:len(act_steps)], pool[:len(train_steps)])
    runs: dict[str, dict[str, list[float]]] = {"act": {n: [] for n in policies}, "train": {n: [] for n in policies}}
    for _ in range(5 * args.repeats):  # interleaved: a change of machine load hits every variant alike
        for name, p in policies.items():
            acting, training = steps[name]
            t0 = time.process_time()
            with torch.no_grad():
                p.candidate_scores([x.prompt_ids for x in acting], [x.candidates for x in acting])
            t1 = time.process_time()
            fwd_bwd(p, training)
            runs["act"][name].append(t1 - t0)
            runs["train"][name].append(time.process_time() - t1)
    t_act = {n: float(np.median(v)) for n, v in runs["act"].items()}
    t_train = {n: float(np.median(v)) for n, v in runs["train"].items()}
    rows = []
    for name in [n for n in policies if n != "sum"]:
        label = "head (tiny)" if name == "head" else "minilm encoder + head"
        prompt_tokens = np.mean([len(x.prompt_ids) for x in steps[name][1]])
        for what, times, chosen in (("acting", t_act, steps[name][0]), ("fwd+bwd", t_train, steps[name][1])):
            rows.append((f"candidate score, {what} ({len(chosen)} prompts, ~{prompt_tokens:.0f} tokens): sum vs {label}",
                         f"sum: {1e3 * times['sum']:.1f} ms CPU", f"{label}: {1e3 * times[name]:.1f} ms CPU",
                         f"{times[name] / times['sum']:.2f}x the time"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default=ROOM, help="env id (NetHack-family envs use compact text)")
    ap.add_argument("--envs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=480, help="env steps per acting measurement")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-steps", type=int, default=2048, help="env steps of the end-to-end training run")
    ap.add_argument("--no-encoder", action="store_true", help="skip the minilm encoder rows (embedding extra)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import envs
    from agents.config import TrainConfig
    from agents.learner import Learner
    from agents.policy import Policy, PolicyConfig
    from agents.prompts import PromptBuilder
    from agents.rollout import Rollout
    from agents.trainer import Trainer

    family = envs.card(args.env).family
    env, env_kwargs = args.env, ({"compact": True} if family in ("minihack", "nethack") else {})
    policy = Policy.from_config(PolicyConfig(), [env], env_kwargs)
    builder = PromptBuilder(family, policy.tokenizer)
    rows: list[tuple[str, str, str, str]] = []
    with Progress(transient=True) as progress:
        task = progress.add_task("benchmarks", total=5)

        # 1. batched vs one env at a time
        batched = Rollout(policy, builder, env, num_envs=args.envs, env_kwargs=env_kwargs)
        overlapped = Rollout(policy, builder, env, num_envs=args.envs, env_kwargs=env_kwargs, workers=2,
                             overlap=True)
        single = Rollout(policy, builder, env, num_envs=1, env_kwargs=env_kwargs)
        overlapped.step_all()  # its first call fills the pipeline
        rollouts = {"one env": single, "in-process": batched, "2 workers, halves overlapped": overlapped}
        rate = dict.fromkeys(rollouts, 0.0)
        for _ in range(args.repeats):  # interleaved, so that a change of machine load hits every variant alike
            for label, rollout in rollouts.items():
                before, t0 = rollout.env_steps, time.perf_counter()
                for _ in range(args.steps // rollout.num_envs):
                    rollout.step_all()
                rate[label] = max(rate[label], (rollout.env_steps - before) / (time.perf_counter() - t0))
        for label in ("in-process", "2 workers, halves overlapped"):
            rows.append((f"acting env steps/s ({label})", f"one env at a time: {rate['one env']:.0f}",
                         f"{args.envs} envs batched: {rate[label]:.0f}", f"{rate[label] / rate['one env']:.1f}x"))
        overlapped.close()
        batched.collect(512)
        episodes = batched.collect(256)
        batched.close()
        single.close()
        progress.advance(task)

        # 2. KV-cache sharing vs full scoring
        pool = [s for e in episodes for s in e.steps]
        act_steps, train_steps = pool[:args.envs], pool[:64]
        prompts = [s.prompt_ids for s in act_steps]
        cands = [s.candidates for s in act_steps]
        with torch.no_grad():
            full = torch.cat(policy.candidate_scores(prompts, cands, batching="full")[0])
            for path in ("cached", "packed"):
                diff = float((full - torch.cat(policy.candidate_scores(prompts, cands, batching=path)[0])).abs().max())
                assert diff < 1e-4, f"{path} and full scoring disagree by {diff}"
            t_act = {path: best_of(args.repeats, lambda path=path: policy.candidate_scores(prompts, cands, batching=path))
                     for path in ("full", "cached", "packed")}
        # the model alone, no env: what batching can gain at most once env stepping costs nothing
        t_one = best_of(args.repeats, lambda: [policy.act([p], [c]) for p, c in zip(prompts, cands, strict=True)])
        t_all = best_of(args.repeats, lambda: policy.act(prompts, cands))
        rows.append((f"acting model calls alone ({len(prompts)} prompts)", f"one at a time: {1e3 * t_one:.1f} ms",
                     f"batched: {1e3 * t_all:.1f} ms", f"{t_one / t_all:.1f}x (bound on the rows above)"))

        t_train = {path: best_of(args.repeats, lambda path=path: fwd_bwd(policy, train_steps, path))
                   for path in ("full", "cached", "packed")}
        policy.model.zero_grad()
        for label, times, chosen in (("acting", t_act, act_steps), ("fwd+bwd", t_train, train_steps)):
            n_prompts, n_cands = len(chosen), float(np.mean([len(x.candidates) for x in chosen]))
            for path in ("cached", "packed"):
                rows.append((f"choose scoring, {label} ({n_prompts} prompts, {n_cands:.1f} candidates each): full vs {path}",
                             f"full: {1e3 * times['full']:.1f} ms", f"{path}: {1e3 * times[path]:.1f} ms",
                             f"{times['full'] / times[path]:.1f}x"))
        progress.advance(task)

        # 3. candidate scores: sum vs head (tiny), and the encoder
        rows += score_rows(env, env_kwargs, family, act_steps, train_steps, args)
        progress.advance(task)

        # 4a. learner tokens/s on one PPO epoch over 256 samples
        learner = Learner(policy)
        learner.config.epochs = 1
        stats = learner.update(pool[:256], np.random.default_rng(0).standard_normal(len(pool[:256])))
        rows.append(("learner (1 epoch, 256 samples)", f"{stats['learner_seconds']:.2f} s",
                     f"{stats['learner_tokens_per_s']:.0f} tokens/s", f"{256 / stats['learner_seconds']:.0f} samples/s"))
        progress.advance(task)

        # 4b. end-to-end training
        with tempfile.TemporaryDirectory() as root:
            cfg = TrainConfig.from_yaml("configs/room_5x5.yaml", [  # its learner settings, on --env
                f"env={env}", f"env_kwargs={json.dumps(env_kwargs)}",
                f"runs_root={root}", "progress=false", "eval_episodes=0", "max_minutes=null",
                f"total_env_steps={args.train_steps}", f"torch_threads={args.threads}"])
            summary = Trainer(cfg).train()
        rows.append((f"end-to-end training ({env.split('/')[-1]})", f"{summary['env_steps']} env steps",
                     f"{summary['wall_time']:.1f} s", f"{summary['env_steps'] / summary['wall_time']:.0f} env steps/s"))
        progress.advance(task)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu = f", GPU peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if torch.cuda.is_available() else ""
    rows.append(("peak memory", f"max RSS {peak:.0f} MiB{gpu}", "", ""))
    print_ratio_table(f"rollout/learner throughput (tiny model, {env}, {args.threads} thread(s))", rows)


if __name__ == "__main__":
    main()
