"""Cost of the KL reference (agents/reference.py): memory it holds and time it adds to a PPO update, CPU.

Prints, against baselines of the same run:
1. memory of the reference for a LoRA policy (a frozen second adapter) vs a full-weight policy (a frozen model
   copy), on a Qwen2-shaped model built from its config (random weights: only the sizes matter);
2. PPO update time with the KL term (the reference scores every step once per update) vs without it, on the
   tiny default model and steps of a real rollout, for 1 and 2 PPO epochs.

    python benchmarks/kl_reference.py [--hidden 512] [--layers 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _report import print_ratio_table

ROOM = "credo/MiniHack-Room-5x5-v0"


def reference_bytes(reference) -> int:
    from agents.reference import REF_ADAPTER

    if reference.model is not None:
        return sum(p.numel() * p.element_size() for p in reference.model.parameters())
    return sum(p.numel() * p.element_size() for n, p in reference.policy.model.named_parameters() if REF_ADAPTER in n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=512, help="hidden size of the Qwen2-shaped model")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)

    from transformers import AutoConfig, AutoModelForCausalLM

    from agents.learner import Learner, LearnerConfig
    from agents.policy import Policy, PolicyConfig
    from agents.prompts import PromptBuilder
    from agents.reference import Reference
    from agents.rollout import Rollout

    rows: list[tuple[str, str, str, str]] = []
    tiny = Policy.from_config(PolicyConfig(), [ROOM], {"compact": True})

    # 1. memory: a Qwen2-shaped checkpoint, full weights vs LoRA
    with tempfile.TemporaryDirectory() as root:
        cfg = AutoConfig.for_model("qwen2", vocab_size=32000, hidden_size=args.hidden, num_hidden_layers=args.layers,
                                   num_attention_heads=8, num_key_value_heads=2, intermediate_size=4 * args.hidden)
        folder = Path(root) / "qwen2"
        AutoModelForCausalLM.from_config(cfg).save_pretrained(folder)
        tiny.tokenizer.save_pretrained(folder)
        full = Reference(Policy.from_config(PolicyConfig(model=str(folder))))
        lora = Reference(Policy.from_config(PolicyConfig(model=str(folder), lora=True)))
        n_model = sum(p.numel() for p in full.model.parameters())
        b_full, b_lora = reference_bytes(full), reference_bytes(lora)
        rows.append((f"reference memory (Qwen2-shaped, {n_model / 1e6:.0f}M params, fp32)",
                     f"full weights: {b_full / 2**20:.1f} MiB", f"LoRA r=8: {b_lora / 2**20:.2f} MiB",
                     f"{b_full / b_lora:.0f}x less"))
        del full, lora

    # 2. update time with and without the KL term, tiny model, steps of a real rollout
    rollout = Rollout(tiny, PromptBuilder("minihack", tiny.tokenizer), ROOM, num_envs=16, env_kwargs={"compact": True})
    steps = [s for e in rollout.collect(512) for s in e.steps][:512]
    rollout.close()
    adv = np.random.default_rng(0).standard_normal(len(steps))
    for epochs in (1, 2):
        times = {}
        for label, kl in (("no KL", 0.0), ("KL", 0.05)):
            best = float("inf")
            for _ in range(args.repeats):
                policy = Policy.from_config(PolicyConfig(), [ROOM], {"compact": True})
                learner = Learner(policy, LearnerConfig(epochs=epochs, minibatch_size=256, kl_coef=kl))
                t0 = time.perf_counter()
                learner.update(steps, adv)
                best = min(best, time.perf_counter() - t0)
            times[label] = best
        rows.append((f"PPO update, {len(steps)} steps, {epochs} epoch(s), tiny model", f"no KL: {times['no KL']:.2f} s",
                     f"with KL: {times['KL']:.2f} s", f"{times['KL'] / times['no KL']:.2f}x the time"))

    print_ratio_table("KL reference cost", rows)


if __name__ == "__main__":
    main()
