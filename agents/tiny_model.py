"""The embedded default model (`--model tiny`): a ~0.5M-parameter Llama built from a config, never downloaded.

Its tokenizer is a `tokenizers` BPE trained on text drawn from the registered envs the run uses (random-play
prompts, instructions and action names), plus every printable character so that any text still encodes.
On such a small corpus BPE becomes word-level by itself, which is what lets a from-scratch model learn the
Room tasks in minutes (research/calibration.md). Model and tokenizer are saved with `save_pretrained`, so the
rest of credo loads them like any Hugging Face checkpoint.

The result is cached under `$CREDO_CACHE/tiny/<hash>` (default `~/.cache/credo/tiny/<hash>`), where the hash
covers the corpus text and the architecture: the same envs give the same folder, bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from credo.paths import cache_root

ARCHITECTURE = {
    "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
    "intermediate_size": 512, "tie_word_embeddings": True, "max_position_embeddings": 2048,
}
"""LlamaConfig fields of the tiny model (calibration.md: enough for the Room tasks, ~22 ms per 16-env batch)."""

SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>"]
VOCAB_SIZE = 1024
"""An upper bound: on MiniHack, NetHack and TextWorld text BPE runs out of merges before it (a word-level
vocabulary: Room-Random-5x5 342 tokens, TextWorld TreasureHunter 685); on the shop's product text it is reached
and rarer words split into pieces. A word-level shop vocabulary (5,710 tokens) did not help the tiny model learn
the shop (RESULTS.md, "The shop, again"), so the cap stays where the embedding table stays small."""
CORPUS_STEPS = 1500
"""Random-play steps sampled per env id for the tokenizer corpus."""
FORMAT_VERSION = 4
"""Bump when the build recipe changes, so old caches are not reused."""


def corpus(env_ids: Sequence[str], env_kwargs: dict[str, Any] | None = None,
           steps_per_env: int = CORPUS_STEPS) -> list[str]:
    """Deterministic text from random play in each env (made with `env_kwargs`): rendered prompts in both
    modes, instructions, actions."""
    import envs
    from agents.prompts import PromptBuilder

    texts: list[str] = []
    for env_id in sorted(set(env_ids)):
        family = envs.card(env_id).family
        builders = [PromptBuilder(family), PromptBuilder(family, generate=True)]
        rng = random.Random(0)
        env = envs.make(env_id, **(env_kwargs or {}))
        try:
            steps, seed = 0, 0
            while steps < steps_per_env:
                obs, info = env.reset(seed=seed)
                seed += 1
                texts.append(info.get("instruction", ""))
                history: list[tuple[str, str]] = []
                for _ in range(50):
                    actions = list(info.get("admissible_actions") or [])
                    texts.extend(actions)
                    for b in builders:
                        texts.append(b.render(info.get("instruction", ""), history, obs, actions))
                    if not actions:
                        break
                    action = rng.choice(actions)
                    history.append((obs, action))
                    obs, _, term, trunc, info = env.step(action)
                    steps += 1
                    if term or trunc:
                        break
        finally:
            env.close()
    return texts


def _digest(texts: list[str]) -> str:
    blob = json.dumps({"texts": texts, "arch": ARCHITECTURE, "vocab": VOCAB_SIZE, "v": FORMAT_VERSION})
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_tokenizer(texts: list[str]):
    """A word-level BPE over `texts` whose alphabet holds every printable character (nothing is <unk>).

    Text is lowercased and a bracket's argument is spaced ("click[B0T7]" reads "click[ b0t7 ]"), so a word in
    an action's brackets is the same token as the word on the page: the shop shows "B0T7GE5PGF" and "color:
    navy" where its actions say "click[b0t7ge5pgf]" and "click[navy]", and a from-scratch model cannot learn to
    copy across two spellings from a few hundred demonstrations. Decoding gives back the normalised text
    (every env's actions are lowercase, and the shop strips a bracket's spaces).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(Regex(r"\[\s*"), "[ "),
                                           normalizers.Replace(Regex(r"\s*\]"), " ]")])
    # a word or a punctuation mark, each with its leading space, so "north," and "north" share the word's token
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r" ?[^\w\s]| ?\w+|\s"), behavior="isolated"),
        pre_tokenizers.Metaspace(prepend_scheme="first", split=False)])
    tok.decoder = decoders.Metaspace(prepend_scheme="first", split=False)
    alphabet = sorted(set(string.printable) - {" "}) + ["\u2581"]
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=1, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(texts or [""], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>",
                                   eos_token="<eos>", unk_token="<unk>")


def build_model(vocab_size: int, pad_id: int, bos_id: int, eos_id: int):
    """The tiny LlamaForCausalLM, initialised from a fixed seed (same weights for the same vocabulary)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab_size, pad_token_id=pad_id, bos_token_id=bos_id, eos_token_id=eos_id,
                         **ARCHITECTURE)
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(0)
        return LlamaForCausalLM(config)


def tiny_model_path(env_ids: Sequence[str] = (), env_kwargs: dict[str, Any] | None = None) -> Path:
    """The cached tiny checkpoint folder for these envs, building it first when missing (atomic rename)."""
    texts = corpus(env_ids, env_kwargs)
    path = cache_root() / "tiny" / _digest(texts)
    if (path / "config.json").is_file():
        return path
    tokenizer = build_tokenizer(texts)
    model = build_model(len(tokenizer), tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    from credo.hf import quiet_hf

    with quiet_hf():
        model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "credo_tiny.json").write_text(json.dumps({"env_ids": sorted(set(env_ids)), "texts": len(texts)}))
    try:
        os.replace(tmp, path)
    except OSError:  # another process built the same folder first: theirs is identical
        shutil.rmtree(tmp, ignore_errors=True)
    return path
