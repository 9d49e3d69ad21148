"""The measuring half of benchmarks/gpu_check.sh: a Qwen2-shaped model built from its config (no download), its
acting and learner throughput in float32 vs bfloat16, and generate mode on a real vLLM server (log-prob gap to the
learner's recompute, tokens/s against credo's own sampler, and vLLM's NCCL weight sync where there are 2 GPUs).

    python benchmarks/gpu_check.py model DIR [--small]      # build and save the model (HF folder + tokenizer)
    python benchmarks/gpu_check.py throughput DIR OUT.json [--prompts N]  # acting and the PPO update, fp32 vs bf16
    python benchmarks/gpu_check.py vllm DIR URL OUT.json [--sync-url URL --nccl HOST:PORT]
    python benchmarks/gpu_check.py table OUTDIR             # one table of every OUTDIR/*.json

The model is Qwen2-0.5B's body (24 layers, hidden 896, 14 query / 2 key-value heads, MLP 4864; ~360M parameters)
over credo's tiny tokenizer (its vocabulary of a few thousand words instead of Qwen's 151,936: sampling from a
random model must stay inside a vocabulary the tokenizer can decode). `--small` is a 2-layer version for a CPU
dry run of the script.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _report import best_of

ROOM = "credo/MiniHack-Room-Random-5x5-v0"
KWARGS = {"compact": True}
QWEN2_05B = {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
             "intermediate_size": 4864}


def build_model(folder: Path, small: bool) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    from agents.policy import Policy, PolicyConfig

    tok = Policy.from_config(PolicyConfig(), [ROOM], KWARGS).tokenizer
    shape = {**QWEN2_05B, "num_hidden_layers": 2} if small else QWEN2_05B
    config = AutoConfig.for_model("qwen2", vocab_size=64 * -(-len(tok) // 64), max_position_embeddings=4096,
                                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                  pad_token_id=tok.pad_token_id, tie_word_embeddings=True, **shape)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters -> {folder}")


def _batch(policy: Any, n: int) -> tuple[list[list[int]], list[list[str]]]:
    """`n` real Room-Random-5x5 prompts (first observations of n seeds) and their admissible actions."""
    import envs
    from agents.prompts import PromptBuilder

    builder = PromptBuilder.for_policy("minihack", policy)
    prompts, cands = [], []
    env = envs.make(ROOM, **KWARGS)
    for seed in range(n):
        obs, info = env.reset(seed=seed)
        actions = list(info["admissible_actions"])
        prompts.append(builder.build(info.get("instruction", ""), [], obs,
                                     actions if policy.config.mode == "generate" else None))
        cands.append(actions)
    env.close()
    return prompts, cands


def throughput(folder: Path, out: Path, n: int = 64) -> None:
    from agents.learner import Learner, LearnerConfig
    from agents.policy import Policy, PolicyConfig
    from credo.trajectory import Step

    rows: dict[str, Any] = {}
    for dtype in ("float32", "bfloat16"):
        choose = Policy.from_config(PolicyConfig(model=str(folder), dtype=dtype))
        prompts, cands = _batch(choose, n)
        s = best_of(3, lambda p=choose, x=prompts, c=cands: p.act(x, c))
        gen = Policy.from_config(PolicyConfig(model=str(folder), dtype=dtype, mode="generate", max_new_tokens=32))
        gprompts, _ = _batch(gen, n)
        samples = gen.act(gprompts)
        tokens = sum(len(x.action_ids) for x in samples)
        g = best_of(3, lambda p=gen, x=gprompts: p.act(x))
        steps = [Step(episode_id=f"e{i}", group_id="g", step_index=0, observation="", prompt_ids=p,
                      action_ids=x.action_ids, action_text=x.text, logprob=x.logprob, token_logprobs=x.token_logprobs)
                 for i, (p, x) in enumerate(zip(gprompts, samples, strict=True))] * 4
        learner = Learner(gen, LearnerConfig(epochs=1, minibatch_size=len(steps), micro_batch_size=32, lr=1e-6))
        stats = learner.update(steps, np.random.default_rng(0).standard_normal(len(steps)).astype(np.float32))
        rows[dtype] = {"choose_steps_per_s": n / s, "generate_tokens_per_s": tokens / g,
                       "learner_tokens_per_s": stats["learner_tokens_per_s"], "device": str(gen.device),
                       "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0}
        del choose, gen, learner
    out.write_text(json.dumps({"throughput": rows}, indent=2))


def vllm_check(folder: Path, url: str, out: Path, sync_url: str | None, nccl: str | None, n: int = 64) -> None:
    """Generate mode on vLLM: its token log-probs against the learner's recompute (bf16 and fp32 learner), its
    tokens/s against credo's sampler; with `sync_url` (a second vLLM started with the NCCL weight transfer) the
    learner's perturbed weights are published and the engine must then score like the perturbed policy."""
    from agents.engine_client import EngineBackend
    from agents.policy import Policy, PolicyConfig
    from credo.trajectory import Step

    res: dict[str, Any] = {}
    policy = Policy.from_config(PolicyConfig(model=str(folder), mode="generate", max_new_tokens=32))
    prompts, _ = _batch(policy, n)
    engine = EngineBackend(policy, url, model="policy")
    t0 = time.perf_counter()
    samples = engine.act(prompts)
    res["vllm_tokens_per_s"] = sum(len(s.action_ids) for s in samples) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    own = policy.act(prompts)
    res["credo_tokens_per_s"] = sum(len(s.action_ids) for s in own) / (time.perf_counter() - t0)

    def steps_of(got: list[Any]) -> list[Step]:
        return [Step(episode_id=f"e{i}", group_id="g", step_index=0, observation="", prompt_ids=p,
                     action_ids=s.action_ids, action_text=s.text, logprob=s.logprob, token_logprobs=s.token_logprobs)
                for i, (p, s) in enumerate(zip(prompts, got, strict=True))]

    def gap(learner: Policy, steps: list[Step]) -> dict[str, float]:
        with torch.no_grad():
            ev = learner.evaluate(steps)
        d = torch.cat([lp.float().cpu() - torch.tensor(s.token_logprobs) for lp, s in
                       zip(ev.token_logprobs, steps, strict=True)])
        return {"max_abs": float(d.abs().max()), "ratio_outside_0.9_1.1": float(((d.exp() - 1).abs() > 0.1).float()
                                                                                  .mean())}

    steps = steps_of(samples)
    res["gap_fp32_learner"] = gap(policy, steps)
    res["gap_bf16_learner"] = gap(Policy.from_config(PolicyConfig(model=str(folder), mode="generate",
                                                                  dtype="bfloat16")), steps)
    if sync_url and nccl:
        synced = EngineBackend(policy, sync_url, model="policy", sync="vllm_nccl", nccl_address=nccl, engine_gpus=1)
        with torch.no_grad():
            for p in policy.model.parameters():
                p.add_(torch.randn_like(p) * 0.02)
        t0 = time.perf_counter()
        synced.publish({}, 1)
        res["nccl_sync_seconds"] = time.perf_counter() - t0
        res["nccl_sync_mb"] = sum(p.numel() * p.element_size() for p in policy.model.parameters()) / 2**20
        res["gap_after_sync"] = gap(policy, steps_of(synced.act(prompts)))
        res["gap_of_unsynced_engine"] = gap(policy, steps_of(engine.act(prompts)))  # must be far larger
    out.write_text(json.dumps({"vllm": res}, indent=2))


def table(folder: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="gpu_check")
    for col in ("check", "result"):
        t.add_column(col)
    for f in sorted(folder.glob("*.json")):
        for section, rows in json.loads(f.read_text()).items():
            for key, value in rows.items():
                t.add_row(f"{section}: {key}", json.dumps(value, default=str)[:160])
    status = folder / "status.txt"
    for line in status.read_text().splitlines() if status.is_file() else []:
        name, rc, secs = line.split("|")
        t.add_row(f"step {name}", f"{'ok' if rc == '0' else 'FAILED rc=' + rc} in {secs} s")
    Console(width=200).print(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("model")
    m.add_argument("dir", type=Path)
    m.add_argument("--small", action="store_true")
    t = sub.add_parser("throughput")
    t.add_argument("dir", type=Path)
    t.add_argument("out", type=Path)
    t.add_argument("--prompts", type=int, default=64, help="prompts per acting batch (the CPU dry run uses fewer)")
    v = sub.add_parser("vllm")
    v.add_argument("dir", type=Path)
    v.add_argument("url")
    v.add_argument("out", type=Path)
    v.add_argument("--sync-url")
    v.add_argument("--nccl")
    s = sub.add_parser("table")
    s.add_argument("dir", type=Path)
    args = ap.parse_args()
    if args.cmd == "model":
        build_model(args.dir, args.small)
    elif args.cmd == "throughput":
        throughput(args.dir, args.out, args.prompts)
    elif args.cmd == "vllm":
        vllm_check(args.dir, args.url, args.out, args.sync_url, args.nccl)
    else:
        table(args.dir)


if __name__ == "__main__":
    main()
