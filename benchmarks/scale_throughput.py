"""Scale benchmarks: each distributed part against its single-process baseline, measured in the same run.

    python benchmarks/scale_throughput.py [env] [publish] [fsdp] [judges]        (all four when none is named)

1. env: Ray env actors (`pool=ray`) vs the subprocess pool at equal workers: env steps/s stepping every env with a
   random admissible action (MiniHack Room-Random-5x5, compact text; resets included), best of `--repeats`. What
   Ray's RPC costs next to a pipe.
2. publish: a model's weights to one receiver process over a gloo weights group (agents/publish.py), in 64 MB
   buckets vs one broadcast per tensor (the per-parameter pattern research/scale.md warns about), ms per MB, next to
   an in-process copy of the same bytes; then ms and MB per publish of the full weights vs the LoRA adapters only
   (policy.lora's defaults, all linear layers). The model: Qwen2-shaped, built from its config (no download).
3. fsdp: the 2-rank FSDP2 update (torchrun, gloo) vs the single-process update of the same batch (512 steps of
   the tiny model on Room-Random-5x5): seconds, and the largest weight difference (correctness; on 2 CPU cores
   two ranks cannot be faster, the speed question is for GPUs).
4. judges: 2,000 distinct messages labelled through `JudgeClient` with 2 `credo judge serve` replicas vs 1, each
   replica in front of its own scripted upstream that answers one request at a time, 50 ms + 2 ms per prompt (an
   LLM server on one accelerator), so replicas add capacity as they do on GPUs.

Results: the table (Markdown too, for benchmarks/RESULTS.md) and runs/scale-throughput/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _report import best_of, print_ratio_table

ROOT = Path(__file__).resolve().parents[1]
ROOM = "credo/MiniHack-Room-Random-5x5-v0"
Row = tuple[str, str, str, str]


# -- 1. env pools ----------------------------------------------------------------------------------------------
def _play(pool: Any, rounds: int, seed: int) -> None:
    """Reset every env, then `rounds` steps of every env (random admissible actions; finished envs reset)."""
    rng = random.Random(seed)
    infos = {i: pool.reset(i, seed=seed + i)[1] for i in range(len(pool))}
    for _ in range(rounds):
        out = pool.step({i: rng.choice(info["admissible_actions"]) for i, info in infos.items()})
        for i, (_, _, terminated, truncated, info) in out.items():
            infos[i] = pool.reset(i, seed=rng.randrange(10**6))[1] if terminated or truncated else info


def bench_env(args: argparse.Namespace) -> list[Row]:
    from credo.ray_cluster import RayConfig, connect
    from envs.vector import make_pool

    ray_config = RayConfig(address="local", num_cpus=args.workers, env_actor_cpus=1.0)
    connect(ray_config)
    rates = {}
    for kind in ("local", "ray"):
        with make_pool(ROOM, args.envs, workers=args.workers, env_kwargs={"compact": True}, kind=kind,
                       ray_config=ray_config) as pool:
            _play(pool, 5, 0)  # warm up: the workers import NLE on their first reset
            seconds = best_of(args.repeats, lambda p=pool: _play(p, args.rounds, 1))
            rates[kind] = args.envs * args.rounds / seconds
    return [(f"env steps/s, {args.envs} envs on {args.workers} workers (subprocess = baseline, Ray actors)",
             f"{rates['local']:.0f}", f"{rates['ray']:.0f}", f"{rates['ray'] / rates['local']:.2f}")]


# -- 2. weight publishing ----------------------------------------------------------------------------------------
def qwen2_shaped(megabytes: float, vocab: int = 8192) -> Any:
    """A Qwen2-architecture model from its config (random weights, fp32) of about `megabytes`."""
    from transformers import AutoConfig, AutoModelForCausalLM

    hidden, inter = 512, 1408
    per_layer = 4 * (2 * hidden * hidden + 2 * hidden * 128 + 3 * hidden * inter)  # bytes, fp32
    layers = max(1, round((megabytes * 2**20 - 4 * vocab * hidden) / per_layer))
    config = AutoConfig.for_model("qwen2", vocab_size=vocab, hidden_size=hidden, intermediate_size=inter,
                                  num_hidden_layers=layers, num_attention_heads=8, num_key_value_heads=2,
                                  tie_word_embeddings=True)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_lora(model: Any) -> Any:
    """`model` with LoRA adapters on every linear layer, as `Policy` adds them (policy.lora's rank and alpha)."""
    from peft import LoraConfig, get_peft_model

    from agents.policy import PolicyConfig

    config = PolicyConfig()
    return get_peft_model(model, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                            target_modules="all-linear", task_type="CAUSAL_LM"))


PUBLISHES = [("full", 0.0), ("full", 64.0), ("lora", 64.0)]
"""(weights, bucket MB) of each timed phase, in order on both sides (0 MB: every tensor is a bucket of its own)."""


def _receiver(address: str, megabytes: float, repeats: int) -> None:
    """The receiving process: the same model, `repeats` receives per phase of `PUBLISHES`, in the publisher's order."""
    from agents.publish import WeightReceiver, weights_group

    torch.set_num_threads(1)
    model = qwen2_shaped(megabytes)
    group = weights_group(address, 1, 2, "gloo")
    for kind, bucket_mb in PUBLISHES:
        receiver = WeightReceiver(group, with_lora(model) if kind == "lora" else model, bucket_mb=bucket_mb)
        for _ in range(repeats):
            receiver.receive()


def bench_publish(args: argparse.Namespace) -> list[Row]:
    import torch.multiprocessing as mp

    from agents.publish import BroadcastPublisher, trainable_weights, weights_group

    model = qwen2_shaped(args.publish_mb)
    address = f"127.0.0.1:{_free_port()}"
    child = mp.get_context("spawn").Process(target=_receiver, args=(address, args.publish_mb, args.repeats))
    child.start()
    group = weights_group(address, 0, 2, "gloo")
    ms, mb = {}, {}
    for kind, bucket_mb in PUBLISHES:
        weights = trainable_weights(with_lora(model) if kind == "lora" else model)
        mb[kind] = sum(t.numel() * t.element_size() for t in weights.values()) / 2**20
        publisher = BroadcastPublisher(group, bucket_mb=bucket_mb)
        versions = iter(range(args.repeats))
        ms[kind, bucket_mb] = 1000 * best_of(args.repeats, lambda p=publisher, w=weights, v=versions:
                                             p.publish(w, next(v)))
        if kind == "full":
            full = weights
    child.join(timeout=120)
    copies = {k: torch.empty_like(v) for k, v in full.items()}
    copy_ms = 1000 * best_of(args.repeats, lambda: [copies[k].copy_(v) for k, v in full.items()])
    per_mb = {key: t / mb[key[0]] for key, t in ms.items()}
    return [(f"publish ms/MB, {mb['full']:.0f} MB Qwen2-shaped, {len(full)} tensors (one broadcast per tensor = "
             f"baseline, 64 MB buckets)", f"{per_mb['full', 0.0]:.2f}", f"{per_mb['full', 64.0]:.2f}",
             f"{per_mb['full', 0.0] / per_mb['full', 64.0]:.2f}"),
            ("publish ms/MB: in-process copy of the same bytes (floor) vs 64 MB buckets", f"{copy_ms / mb['full']:.2f}",
             f"{per_mb['full', 64.0]:.2f}", f"{copy_ms / ms['full', 64.0]:.3f}"),
            ("publish MB per call: full weights (baseline) vs LoRA adapters (r=8, all linear layers)",
             f"{mb['full']:.1f}", f"{mb['lora']:.1f}", f"{mb['full'] / mb['lora']:.1f}"),
            ("publish ms per call, 64 MB buckets: full weights (baseline) vs LoRA adapters",
             f"{ms['full', 64.0]:.0f}", f"{ms['lora', 64.0]:.0f}", f"{ms['full', 64.0] / ms['lora', 64.0]:.1f}")]


# -- 3. FSDP2 learner ----------------------------------------------------------------------------------------------
LEARNER = {"lr": 1e-4, "epochs": 2, "minibatch_size": 256, "micro_batch_size": 32}
"""configs/room_random_5x5.yaml's update but lr 1e-4 (at 1e-3 Adam turns float-order noise in near-zero gradients
into ~1e-5 weight steps: tests/test_scale_fsdp.py), micro-batches of 32."""


def _fsdp_rank(folder: Path) -> None:
    """Each torchrun rank: the same update of the saved batch on the FSDP2 learner; rank 0 writes time and weights."""
    import torch.distributed as dist

    from agents.fsdp_learner import FSDPLearner
    from agents.learner import LearnerConfig
    from agents.policy import Policy

    torch.set_num_threads(1)
    steps, adv = pickle.loads((folder / "batch.pkl").read_bytes())
    learner = FSDPLearner(Policy.load(folder / "init"), LearnerConfig.build(LEARNER))
    dist.barrier()
    torch.manual_seed(1)
    start = time.perf_counter()
    learner.update(steps, adv)
    seconds = time.perf_counter() - start
    weights = learner.full_weights()
    if learner.rank == 0:
        torch.save({"seconds": seconds, "weights": weights}, folder / "fsdp.pt")
    dist.barrier()
    dist.destroy_process_group()


def bench_fsdp(args: argparse.Namespace) -> list[Row]:
    from agents.learner import Learner, LearnerConfig
    from agents.policy import Policy, PolicyConfig
    from agents.prompts import PromptBuilder
    from agents.publish import trainable_weights
    from agents.rollout import Rollout

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        torch.manual_seed(0)
        policy = Policy.from_config(PolicyConfig(), [ROOM], {"compact": True})
        policy.save(folder / "init")
        rollout = Rollout(policy, PromptBuilder.for_policy("minihack", policy), ROOM, num_envs=16, seed=3,
                          env_kwargs={"compact": True})
        steps = [s for ep in rollout.collect(512) for s in ep.steps]
        rollout.close()
        adv = np.random.default_rng(0).standard_normal(len(steps)).astype(np.float32)
        (folder / "batch.pkl").write_bytes(pickle.dumps((steps, adv)))
        single = Learner(Policy.load(folder / "init"), LearnerConfig.build(LEARNER))
        torch.manual_seed(1)
        start = time.perf_counter()
        single.update(steps, adv)
        one = time.perf_counter() - start
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                               "2", str(Path(__file__)), "_fsdp_rank", str(folder)], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"torchrun failed: {proc.stderr[-2000:]}")
        got = torch.load(folder / "fsdp.pt")
        want = trainable_weights(single.policy.model)
        diff = max(float((got["weights"][k] - want[k].detach()).abs().max()) for k in want)
    return [(f"update seconds, {len(steps)} steps x {LEARNER['epochs']} epochs (1 process = baseline, 2 FSDP2 "
             f"ranks on gloo; max weight difference {diff:.1e})", f"{one:.1f}", f"{got['seconds']:.1f}",
             f"{one / got['seconds']:.2f}")]


# -- 4. judge replicas ---------------------------------------------------------------------------------------------
def _label_all(urls: list[str], messages: list[str]) -> float:
    """Seconds until `JudgeClient` over `urls` holds a label for every message."""
    from llm_judges.client import JudgeClient

    start = time.perf_counter()
    got: set[str] = set()
    with JudgeClient(urls, "oni-cls-default", batch_size=64) as client:
        client.submit(messages)
        while len(got) < len(messages) and time.perf_counter() - start < 600:
            time.sleep(0.01)
            got.update(client.poll())
    if len(got) < len(messages):
        raise RuntimeError(f"only {len(got)} of {len(messages)} labels within 600 s")
    return time.perf_counter() - start


def bench_judges(args: argparse.Namespace) -> list[Row]:
    from contextlib import ExitStack

    from llm_judges.config import ServeConfig
    from llm_judges.server import create_app
    from llm_judges.testing import ScriptedUpstream, serve_in_thread

    things = ["gold piece", "dagger", "newt", "fountain", "staircase", "jackal", "scroll", "potion"]
    messages = [f"You see here a {things[k % len(things)]} ({k})." for k in range(args.judge_items)]
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for replicas in (1, 2):
            with ExitStack() as stack:
                urls = []
                for r in range(replicas):
                    up = ScriptedUpstream(latency_s=0.05, per_prompt_s=0.002, serial=True)
                    up_url = stack.enter_context(serve_in_thread(up.app))
                    judge = {"backend": "openai", "base_url": f"{up_url}/v1", "api": "completions",
                             "batch_size": 64, "max_retries": 0}
                    config = ServeConfig.build({"judge": judge, "store": f"{tmp}/{replicas}-{r}.sqlite",
                                                "max_wait_ms": 20, "max_batch_size": 64})
                    urls.append(stack.enter_context(serve_in_thread(create_app(config))))
                rates[replicas] = len(messages) / _label_all(urls, messages)
    return [(f"judge labels/s, {len(messages)} distinct messages (1 replica = baseline, 2 replicas)",
             f"{rates[1]:.0f}", f"{rates[2]:.0f}", f"{rates[2] / rates[1]:.2f}")]


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "_fsdp_rank":
        _fsdp_rank(Path(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="*", choices=["env", "publish", "fsdp", "judges", []], default=[])
    ap.add_argument("--envs", type=int, default=8, help="env: envs in the pool")
    ap.add_argument("--workers", type=int, default=2, help="env: subprocess workers = Ray actors")
    ap.add_argument("--rounds", type=int, default=150, help="env: steps of every env per timing")
    ap.add_argument("--publish-mb", type=float, default=100.0, help="publish: model size in MB (fp32)")
    ap.add_argument("--judge-items", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    benches = {"env": bench_env, "publish": bench_publish, "fsdp": bench_fsdp, "judges": bench_judges}
    rows: list[Row] = []
    results: dict[str, Any] = {"args": vars(args)}
    for name in args.parts or list(benches):
        start = time.perf_counter()
        print(f"{name}...", flush=True)
        got = benches[name](args)
        rows += got
        results[name] = {"rows": got, "seconds": time.perf_counter() - start}
    print_ratio_table("scale: distributed parts vs their single-process baselines (ratio > 1: the distributed "
                      "one is faster)", rows)
    out = ROOT / "runs" / "scale-throughput"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
