"""The LLM policy: any Hugging Face causal LM (optionally with LoRA), or an encoder, acting in one of two modes.

**choose** (the GLAM approach, what small models need): each admissible action gets a score given the prompt and
the action is sampled from `softmax(scores / temperature)` over the candidates. The score (`candidate_score`) is the
candidate's sequence log-likelihood `log p(action tokens + <eos> | prompt)` ('sum'), its per-token mean ('mean'),
or a learned scalar head on the hidden state at the candidate's last token ('head', agents/backbones.py): with the
head no token has to be predicted, so a candidate that copies an id or a word from the page is no harder than a
short command. The terminator (eos) closes every candidate so a prefix ("north") is not favoured over a longer
action ("northeast"); the head reads the candidate's last token before it (the positions 'sum' runs). The prompt
is encoded once for all its candidates: by default ('packed') a prompt and all its candidates form one segment, each
candidate's positions restarting after the prompt and a 4D attention mask letting it see only the prompt and
itself, and segments share rows as long as the longest one; 'cached' (for attention kernels without custom masks)
copies the prompt's KV cache to one row per candidate. Both match full-sequence scoring to float precision, and
gradients flow through them, so the PPO update uses the same path (benchmarks/RESULTS.md). An encoder backbone
(`policy.model=minilm`) scores with the head, packed or full, its state tokens attending to the whole state.

**generate** (the papers' ReAct style): the model writes free text in the format
`<think>reasoning</think><action>the action</action>`; the text between the action tags is the env action.
Tokens are sampled by our own KV-cached loop at `temperature` (no top-k/top-p), so the recorded token
log-probs are exactly those of the sampling distribution. A reply without an `<action>` tag is an invalid
action (`ActionSample.valid=False`, empty action text); the rollout applies `invalid_penalty`, never a crash.

All scoring methods take a `model` argument (default the policy's own) so the learner's reference model and
OPRL's process reward model reuse the exact same action distribution (with the head: each model its own head).
"""

from __future__ import annotations

import copy
import inspect
import itertools
import re
import sys
from collections.abc import Hashable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
import yaml
from pydantic import Field, model_validator

from agents import backbones
from agents.backbones import base_model
from agents.runs import saved_policy_config
from credo.config import Config, ConfigError
from credo.hf import quiet_hf

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from credo.trajectory import Step

POLICY_FILE = "policy.yaml"
"""Written next to the weights by `Policy.save`: the PolicyConfig and the resolved base model."""

_ACTION_RE = re.compile(r"<\s*action\s*>(.*?)<\s*/\s*action\s*>", re.DOTALL | re.IGNORECASE)
"""Spaces inside the tags are tolerated: some tokenizers decode "<action>" as "< action >"."""


CandidateBatching = Literal["packed", "cached", "full"]
CandidateScore = Literal["auto", "sum", "mean", "head"]
CANDIDATE_ROOM = 64
"""Choose mode: positions a prompt leaves free for its longest candidate (the prompt budget is the rest)."""


class PolicyConfig(Config):
    """Which model acts and how it turns text into actions."""

    model: str = Field("tiny", description="'tiny' (the embedded default, built from a config), 'minilm' (the "
                       "pretrained all-MiniLM-L6-v2 encoder of the embedding extra; choose mode), a Hugging Face "
                       "hub id, or a local checkpoint folder.")
    mode: Literal["choose", "generate"] = Field("choose", description="'choose': score each admissible action "
                                                "by its log-likelihood and sample among them; 'generate': free "
                                                "text '<think>..</think><action>..</action>' parsed into an action.")
    lora: bool = Field(False, description="Train LoRA adapters (peft) instead of all weights.")
    lora_r: int = Field(8, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(16, ge=1, description="LoRA scaling alpha.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype; 'auto' is bfloat16 on a GPU that supports it, float32 otherwise.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature (choose: over candidate scores; "
                               "generate: over tokens). Training log-probs use the same temperature.")
    max_new_tokens: int = Field(64, ge=1, description="Generate mode: most tokens written per step.")
    invalid_penalty: float = Field(0.1, ge=0, description="Generate mode: reward subtracted at a step whose "
                                   "text had no parsable <action> tag (iStar's invalid-action penalty).")
    candidate_score: CandidateScore = Field(
        "auto", description="Choose mode: a candidate's score is the sum of its token log-probs ('sum': the "
        "sequence log-likelihood, GLAM), their mean ('mean': length-normalised), or a learned scalar head on the "
        "hidden state at its last token ('head': nothing to predict, so ids and words copied from the page are "
        "easy); 'auto': a saved policy's own ('sum' if saved before this field), else head for the tiny model and "
        "encoders, sum for other models.")
    candidate_batching: CandidateBatching = Field(
        "packed", description="Choose mode: how candidates are scored (same numbers, different cost). 'packed': "
        "each prompt with all its candidates as one segment under a 4D attention mask, segments packed into "
        "rows as long as the longest; 'cached': the "
        "prompt's KV cache copied to every candidate; 'full': every prompt+candidate sequence on its own.")
    device: str = Field("auto", description="'auto' (cuda when available, else cpu), or a torch device string.")
    attn_implementation: str | None = Field(
        None, description="Attention kernel the model is loaded with ('sdpa', 'eager', 'flash_attention_2', ...; "
        "None: transformers' default). Packed scoring needs 'sdpa' or 'eager' (a custom mask); with other kernels "
        "choose mode scores through the shared-cache path.")
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass: less memory for large models, ~30% more "
        "compute. Checkpointed layers drop the KV cache, so training forwards of the 'cached' path run as 'full'.")

    @model_validator(mode="after")
    def _head_needs_choose(self) -> PolicyConfig:
        """Generate mode scores no candidates: a head there would never train (and has no optimizer state)."""
        if self.mode == "generate" and self.candidate_score == "head":
            raise ValueError("candidate_score=head applies to choose mode only (generate mode scores no "
                             "candidates); use mode=choose or candidate_score=auto")
        return self


@dataclass
class ActionSample:
    """One action the policy took, with everything the learner needs to score it again."""

    text: str
    """The action sent to the env ('' when a generate-mode reply did not parse)."""
    action_ids: list[int]
    """Choose: the chosen candidate's tokens (eos included); generate: the generated tokens."""
    logprob: float
    """Log-prob of the action under the acting distribution (choose: candidate softmax; generate: token sum)."""
    token_logprobs: list[float]
    """Per-token log-probs of `action_ids` given the prompt (empty with `candidate_score=head`: none are taken)."""
    valid: bool = True
    """False when generate-mode text did not parse."""
    raw: str = ""
    """Generate mode: the full generated text; choose mode: the action text."""
    candidate_logprobs: list[float] | None = None
    """Choose mode: log-prob of every candidate under the acting distribution (what the viewer shows)."""


@dataclass
class ActionEval:
    """Re-scored actions of a batch of steps, with gradients (`Policy.evaluate`)."""

    logprob: torch.Tensor
    """[n] log pi(a_t | prompt_t) under the acting distribution."""
    token_logprobs: list[torch.Tensor]
    """Per step, log-probs of its action tokens."""
    entropy: torch.Tensor
    """[n] entropy of the action distribution (choose: over candidates; generate: mean over action tokens)."""
    prompt_hidden: torch.Tensor | None = None
    """[n, hidden] last-layer hidden state at the prompt's last token (the value head reads it)."""
    extra: dict[str, Any] = field(default_factory=dict)


def parse_action(text: str) -> str | None:
    """The text inside the first `<action>...</action>` of a generate-mode reply, or None when there is none."""
    m = _ACTION_RE.search(text)
    if m is None:
        return None
    action = m.group(1).strip()
    return action or None


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, name)


def _token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log_softmax(logits)[targets] without materialising a second vocab-sized tensor."""
    logits = logits.float()
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def _forward_params(model: Any) -> frozenset[str]:
    """The keyword arguments the (base) model's forward accepts, looked up once per model class."""
    base = base_model(model)
    params = _FORWARD_PARAMS.get(type(base))
    if params is None:
        params = _FORWARD_PARAMS[type(base)] = frozenset(inspect.signature(base.forward).parameters)
    return params


_FORWARD_PARAMS: dict[type, frozenset[str]] = {}


def _with_cache(model: Any, cache: Any) -> dict[str, Any]:
    """The forward kwarg that passes a KV cache: `cache` in recent transformers, `past_key_values` before."""
    return {"cache" if "cache" in _forward_params(model) else "past_key_values": cache}


def _keep_logits(model: Any, keep: int | torch.Tensor) -> dict[str, Any]:
    """Ask for the logits of the last `keep` positions, of the columns in a 1D tensor, or of the positions of a
    2D boolean mask only (scoring needs no others: with a real LLM's vocabulary the full [batch, length, vocab]
    logits would dominate time and memory). Models whose forward has no `logits_to_keep` return all logits."""
    return {"logits_to_keep": keep} if "logits_to_keep" in _forward_params(model) else {}


def _keeps_masked_logits(model: Any) -> bool:
    """Whether `logits_to_keep` may be a 2D boolean mask: models whose module slices with transformers'
    `slice_logits_to_keep` (transformers 5). Packed rows then get logits at exactly the positions that predict
    candidate tokens, not at the union of those columns over all rows."""
    return ("logits_to_keep" in _forward_params(model)
            and hasattr(sys.modules.get(type(base_model(model)).__module__), "slice_logits_to_keep"))


def _attention_kind(model: Any) -> Literal["bool", "additive"] | None:
    """How the model's attention takes a custom 4D mask: boolean (sdpa), additive float (eager), or not at all
    (flash attention and others), for which packed scoring falls back to the shared-cache path."""
    impl = getattr(model.config, "_attn_implementation", None) or "eager"
    return {"sdpa": "bool", "eager": "additive"}.get(impl)


def _packed_mask(model: Any, allow: torch.Tensor, pos: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
    """The attention-mask argument for packed rows: `allow` [rows, width, width] made 4D in the kind the model's
    attention takes. A custom 4D mask replaces the model's own masks, sliding windows included, so windowed layers
    get `allow` narrowed to keys less than `sliding_window` positions back (Mistral: every layer; models with
    `layer_types`, e.g. Gemma 2/3 or Qwen2 with `use_sliding_window`, take one mask per layer type)."""
    config = model.config
    window = getattr(config, "sliding_window", None)
    types = set(getattr(config, "layer_types", None) or ["sliding_attention" if window else "full_attention"])
    masks = {t: allow & ((pos.unsqueeze(2) - pos.unsqueeze(1)) < window) if t == "sliding_attention" and window
             else allow for t in types}
    additive = _attention_kind(model) == "additive"
    for t, m in masks.items():
        m = m.unsqueeze(1)
        if additive:
            m = torch.zeros(m.shape, dtype=model.dtype, device=m.device).masked_fill(~m, torch.finfo(model.dtype).min)
        masks[t] = m
    return masks if len(masks) > 1 else next(iter(masks.values()))


def _distinct(keys: Sequence[Hashable]) -> tuple[list[Any], list[int]]:
    """The distinct keys in first-seen order, and for each key its index among them (acting scores repeated
    prompts once: a group's episodes start alike, small worlds revisit states)."""
    index: dict[Hashable, int] = {}
    slots = [index.setdefault(k, len(index)) for k in keys]
    return list(index), slots


def _checkpointing(model: Any) -> bool:
    """Whether this forward will run with gradient checkpointing (enabled, training mode, gradients on)."""
    base = base_model(model)
    return (base.training and torch.is_grad_enabled()
            and any(getattr(m, "gradient_checkpointing", False) for m in base.modules()))


def _select_rows(cache: Any, rows: torch.Tensor) -> None:
    """Gather the KV cache to one row per candidate. `index_select` rather than `DynamicCache`'s advanced
    indexing: its backward (index_add) is ~2x faster on CPU than index_put with accumulation."""
    layers = getattr(cache, "layers", None)
    if layers and all(hasattr(layer, "keys") and hasattr(layer, "values") for layer in layers):
        for layer in layers:
            layer.keys, layer.values = layer.keys.index_select(0, rows), layer.values.index_select(0, rows)
    else:
        cache.batch_select_indices(rows)


def _out_cache(out: Any) -> Any:
    """The KV cache of a model output (`cache` in recent transformers, `past_key_values` before)."""
    cache = out.get("cache")
    return cache if cache is not None else out.past_key_values


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


class Policy:
    """A causal LM (or an encoder) plus its tokenizer, acting in choose or generate mode (module docstring)."""

    def __init__(self, config: PolicyConfig, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 base: str) -> None:
        self.encoder = backbones.is_encoder(base_model(model).config)
        """A bidirectional encoder: choose mode with the head only, state tokens attend to the whole state."""
        if config.candidate_score == "auto":  # generate mode scores no candidates: a head there would never train
            head = config.mode == "choose" and (self.encoder or config.model == "tiny")
            config = config.model_copy(update={"candidate_score": "head" if head else "sum"})
        self.config = config
        self.model = model
        self.tokenizer = tokenizer
        self.base = base
        """The resolved base model (tiny cache folder, hub id or path) that LoRA adapters sit on."""
        self.device = next(model.parameters()).device
        self.head = config.candidate_score == "head"
        """Choose mode scores with the model's head (agents/backbones.py) instead of token log-probs."""
        if self.encoder:
            self._check_encoder(config)
            backbones.prepare_encoder_tokenizer(tokenizer)
        if self.head and backbones.score_head(model) is None:
            if hasattr(model, "peft_config"):
                raise ConfigError("policy.candidate_score=head: a LoRA model must get its head before the adapters "
                                  "(build it with Policy.from_config)")
            backbones.add_head(model)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.pad_id = int(tokenizer.pad_token_id)
        self.eos_id = int(tokenizer.eos_token_id)
        self._cand_cache: dict[str, list[int]] = {}
        if config.gradient_checkpointing:  # non-reentrant: LoRA's frozen inputs need no requires_grad hook
            base, kwargs = base_model(model), {"use_reentrant": False}
            try:
                if hasattr(base, "activation_checkpointing_enable"):  # transformers >= 5.2x
                    base.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
                else:
                    base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
            except ValueError as err:  # the architecture does not support it
                raise ConfigError(f"policy.gradient_checkpointing: {str(err).strip().splitlines()[0]}") from None

    @staticmethod
    def _check_encoder(config: PolicyConfig) -> None:
        """An encoder has no next-token head and no KV cache: what it cannot do is a one-line config error."""
        if config.mode != "choose":
            raise ConfigError(f"policy.mode={config.mode}: an encoder model ({config.model}) acts in choose mode "
                              "only")
        if config.candidate_score != "head":
            raise ConfigError(f"policy.candidate_score={config.candidate_score}: an encoder model ({config.model}) "
                              "has no token log-probs; it scores candidates with the head (candidate_score=head)")
        if config.candidate_batching == "cached":
            raise ConfigError("policy.candidate_batching=cached needs a causal LM's KV cache; an encoder scores "
                              "'packed' or 'full'")

    # -- building and saving ------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: PolicyConfig, env_ids: Sequence[str] = (),
                    env_kwargs: dict[str, Any] | None = None) -> Policy:
        """Load (or, for 'tiny', build and cache) the model; a local folder saved by `save` keeps its adapters
        and its head (and, with `candidate_score=auto`, its own candidate score: `sum` for a policy saved before the
        field existed).

        `env_ids`/`env_kwargs` only matter for 'tiny': its tokenizer is trained on text from those envs.
        """
        folder = Path(config.model)
        if config.model not in ("tiny", backbones.MINILM) and (folder / POLICY_FILE).is_file():
            saved = yaml.safe_load((folder / POLICY_FILE).read_text()) or {}
            if config.candidate_score == "auto":
                config = config.model_copy(update={
                    "candidate_score": saved_policy_config(saved.get("config") or {})["candidate_score"]})
            return cls._load_folder(folder, config, str(saved.get("base", config.model)))
        if config.model == "tiny":
            from agents.tiny_model import tiny_model_path

            base = str(tiny_model_path(env_ids, env_kwargs))
        elif config.model == backbones.MINILM:
            base = backbones.minilm_path()
        else:
            base = config.model
        model, tokenizer = cls._load_hf(base, config)
        policy = cls(config, model, tokenizer, base)  # resolves 'auto', adds a fresh head where it scores with one
        if config.lora:
            from peft import LoraConfig, get_peft_model

            head = [backbones.HEAD] if policy.head else None  # trained in full, one copy per adapter
            policy.model = get_peft_model(model, LoraConfig(
                r=config.lora_r, lora_alpha=config.lora_alpha, target_modules="all-linear", modules_to_save=head,
                exclude_modules=head, task_type="FEATURE_EXTRACTION" if policy.encoder else "CAUSAL_LM"))
        return policy

    @staticmethod
    def _load_hf(name: str, config: PolicyConfig) -> tuple[Any, Any]:
        """Tokenizer and model: a causal LM, or the bare model of an encoder (agents/backbones.py)."""
        from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

        device = _resolve_device(config.device)
        local = Path(name).is_dir()
        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
            encoder = backbones.is_encoder(AutoConfig.from_pretrained(name))
            auto = AutoModel if encoder else AutoModelForCausalLM
            attn = {"attn_implementation": config.attn_implementation} if config.attn_implementation else {}
            with quiet_hf() if local else nullcontext(), backbones.quiet_load_report():  # local: no download
                model = auto.from_pretrained(name, dtype=_resolve_dtype(config.dtype, device), **attn)
        except (OSError, ValueError, ImportError) as err:  # ImportError: an attention kernel not installed
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"policy.model: cannot load {name!r}: {first}") from None
        return model.to(device), tokenizer

    @classmethod
    def _load_folder(cls, folder: Path, config: PolicyConfig, base: str) -> Policy:
        """A folder written by `save`: LoRA adapters over `base` (the head among them), or full weights (the head
        in its own file)."""
        if (folder / "adapter_config.json").is_file():
            from peft import PeftModel

            model, tokenizer = cls._load_hf(base, config)
            if config.candidate_score == "head":
                backbones.add_head(model)  # peft restores its trained copy (modules_to_save)
            model = PeftModel.from_pretrained(model, str(folder), is_trainable=True)
            return cls(config, model, tokenizer, base)
        model, tokenizer = cls._load_hf(str(folder), config)
        if config.candidate_score == "head":
            backbones.load_head(model, folder)
        return cls(config, model, tokenizer, base)

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """A folder written by `save` (weights or LoRA adapters + tokenizer + policy.yaml), or any HF folder; a
        policy.yaml older than a config field gets that field's old behaviour (`agents.runs.saved_policy_config`)."""
        folder = Path(path)
        if not (folder / POLICY_FILE).is_file():
            return cls.from_config(PolicyConfig(model=str(folder)))
        saved = yaml.safe_load((folder / POLICY_FILE).read_text()) or {}
        config = PolicyConfig.build(saved_policy_config(saved.get("config") or {}), source=str(folder / POLICY_FILE))
        return cls._load_folder(folder, config, str(saved.get("base", config.model)))

    def save(self, path: str | Path, state_dict: dict[str, torch.Tensor] | None = None) -> None:
        """Weights (LoRA: the adapters only, the head among them), the head, tokenizer and policy.yaml, loadable
        by `Policy.load` (`state_dict`: the full weights of a sharded model, gathered by its learner)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        with quiet_hf():
            if hasattr(self.model, "peft_config"):  # the acting adapter only (a learner's reference stays out)
                self.model.save_pretrained(folder, selected_adapters=[self.model.active_adapter],
                                           **({"state_dict": state_dict} if state_dict else {}))
            else:  # the head in a file of its own, so the checkpoint stays a plain one of its class
                prefix = backbones.HEAD + "."
                head_state = {k[len(prefix):]: v for k, v in (state_dict or {}).items() if k.startswith(prefix)}
                body = {k: v for k, v in state_dict.items() if not k.startswith(prefix)} if state_dict else None
                with backbones.without_head(self.model) as head:
                    self.model.save_pretrained(folder, **({"state_dict": body} if body else {}))
                if head is not None:
                    backbones.save_head(head_state or head.state_dict(), folder)
        self.tokenizer.save_pretrained(folder)
        (folder / POLICY_FILE).write_text(yaml.safe_dump(
            {"config": self.config.model_dump(mode="json"), "base": self.base}, sort_keys=False))

    @property
    def vocab_size(self) -> int:
        """Vocabulary size of the model (a separate backbone scoring the policy's token ids must cover it)."""
        return int(base_model(self.model).config.vocab_size)

    def copy_model(self) -> PreTrainedModel:
        """An independent deep copy of the model with LoRA merged in (PRM / estimator initialisation); with
        `candidate_score=head` the copy carries its own head, which scores when the copy is passed as `model`."""
        model = copy.deepcopy(self.model)
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        for p in model.parameters():
            p.requires_grad_(True)
        return model

    def context_limit(self) -> int | None:
        """Longest prompt the model takes with room left for its action: the context length less
        `max_new_tokens` (generate) or `CANDIDATE_ROOM` (choose); None when the config names no context length."""
        config = base_model(self.model).config
        context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        if not context:
            return None
        room = self.config.max_new_tokens if self.config.mode == "generate" else CANDIDATE_ROOM
        return max(context - room, 16)

    # -- tokens ---------------------------------------------------------------------------------------
    def candidate_ids(self, action: str) -> list[int]:
        """Token ids of a choose-mode candidate: the action's tokens followed by eos (cached per string)."""
        ids = self._cand_cache.get(action)
        if ids is None:
            ids = list(self.tokenizer(action, add_special_tokens=False)["input_ids"]) + [self.eos_id]
            self._cand_cache[action] = ids
        return ids

    def _left_pad(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            if s:
                ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
                mask[i, width - len(s):] = 1
        return ids.to(self.device), mask.to(self.device)

    @staticmethod
    def _positions(mask: torch.Tensor) -> torch.Tensor:
        return (mask.cumsum(-1) - 1).clamp(min=0)

    # -- scoring ----------------------------------------------------------------------------------------
    def candidate_scores(self, prompts: Sequence[Sequence[int]], candidates: Sequence[Sequence[str]],
                         model: Any = None, batching: CandidateBatching | None = None,
                         need_hidden: bool = False) -> tuple[list[torch.Tensor], list[torch.Tensor], Any]:
        """Score every candidate of every prompt (differentiable): sequence log-likelihood, or the head's score.

        Returns (scores per prompt [n_cand], per-token log-probs per prompt [n_cand, max_len] zero-padded (with the
        head: [n_cand, 0], no token is predicted), last-layer hidden state at each prompt's last token
        [n_prompts, hidden] or None). `batching` (default `config.candidate_batching`) picks the path; all three
        give the same numbers.
        """
        model = model if model is not None else self.model
        batching = batching or self.config.candidate_batching
        if batching == "packed" and _attention_kind(model) is None:
            batching = "full" if self.encoder else "cached"  # flash attention takes no custom mask
        if batching == "cached" and (_checkpointing(model) or self.encoder):
            batching = "full"  # checkpointed layers drop the KV cache the cached path builds on; encoders have none
        if any(len(c) == 0 for c in candidates):
            raise ValueError("choose mode: a prompt has no candidate actions")
        cand_ids = [[self.candidate_ids(a) for a in cands] for cands in candidates]
        counts = [len(c) for c in cand_ids]
        flat = [c for cs in cand_ids for c in cs]
        width = max(len(c) for c in flat)
        cand = torch.tensor([c + [self.pad_id] * (width - len(c)) for c in flat], dtype=torch.long, device=self.device)
        cmask = torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in flat], dtype=torch.long,
                             device=self.device)
        need = need_hidden or self.head  # the head reads the prompt's last hidden state too
        if batching == "packed":
            out, hidden = self._packed_scores(model, prompts, cand_ids, cand, cmask, need)
        elif batching == "cached":
            out, hidden = self._cached_scores(model, prompts, counts, cand, cmask, need)
        else:
            out, hidden = self._full_scores(model, prompts, counts, cand, cmask, need)
        if self.head:  # `out`: the hidden state at each candidate's last token
            rep = torch.repeat_interleave(torch.arange(len(prompts), device=self.device),
                                          torch.tensor(counts, device=self.device))
            body = cmask * (torch.arange(width, device=self.device) < cmask.sum(1, keepdim=True) - 1)  # no eos
            scores = backbones.head_scores(model, out, hidden[rep], cand, body)
            return list(scores.split(counts)), list(cand[:, :0].float().split(counts)), hidden if need_hidden else None
        lp = out * cmask
        seq = lp.sum(1) / cmask.sum(1) if self.config.candidate_score == "mean" else lp.sum(1)
        return list(seq.split(counts)), list(lp.split(counts)), hidden

    def _score_kwargs(self, model: Any, keep: int | torch.Tensor, need_hidden: bool) -> dict[str, Any]:
        """Forward kwargs of a scoring call: the head reads hidden states and needs no logits (only the last
        position's, the fewest a causal LM's forward may return); log-likelihoods need the `keep` logits."""
        if self.head:
            return {"output_hidden_states": True, **_keep_logits(model, 1)}
        return {"output_hidden_states": need_hidden, **_keep_logits(model, keep)}

    def _packed_scores(self, model: Any, prompts: Sequence[Sequence[int]], cand_ids: list[list[list[int]]],
                       cand: torch.Tensor, cmask: torch.Tensor, need_hidden: bool) -> tuple[torch.Tensor, Any]:
        """Each prompt and all its candidates form one segment, [prompt][candidate 1]...[candidate k], where each
        candidate's tokens (but the terminator, which is only predicted) restart their positions after the prompt
        and a 4D mask lets them see their prompt and their own earlier tokens only (an encoder: the whole prompt
        and the whole candidate, its prompt tokens the whole prompt). Segments are packed into rows as long as the longest segment (first-fit decreasing), so prompts of mixed lengths waste
        no compute on padding. One forward pass, no KV cache to copy; its backward is ~1.5x faster than the
        shared-cache path on CPU.

        Returns (token log-probs [n_cand, width], or with the head the hidden state at each candidate's last token
        [n_cand, H]; hidden at each prompt's last token or None)."""
        seg_lens = [len(p) + sum(len(c) - 1 for c in cs) for p, cs in zip(prompts, cand_ids, strict=True)]
        width = max(seg_lens)
        rows: list[list[int]] = []  # the segments of each row, by prompt index
        free: list[int] = []
        for i in sorted(range(len(prompts)), key=lambda i: -seg_lens[i]):
            r = next((r for r, f in enumerate(free) if f >= seg_lens[i]), len(rows))
            if r == len(rows):
                rows.append([])
                free.append(width)
            rows[r].append(i)
            free[r] -= seg_lens[i]
        n_rows = len(rows)
        ids = [[self.pad_id] * width for _ in range(n_rows)]
        pos = [[0] * width for _ in range(n_rows)]
        grp = [[-1] * width for _ in range(n_rows)]  # which segment of the row (-1: padding)
        part = [[0] * width for _ in range(n_rows)]  # 0: the prompt, k >= 1: the k-th candidate
        preds: list[list[tuple[int, int]]] = [[] for _ in prompts]  # (row, column) predicting each candidate token
        ends: list[list[tuple[int, int]]] = [[] for _ in prompts]  # (row, column) of each candidate's last token
        last: list[tuple[int, int]] = [(0, 0)] * len(prompts)  # (row, column) of each prompt's last token
        for r, members in enumerate(rows):
            col = 0
            for g, i in enumerate(members):
                p, n_p = prompts[i], len(prompts[i])
                ids[r][col:col + n_p], pos[r][col:col + n_p] = p, range(n_p)
                grp[r][col:col + n_p] = [g] * n_p
                last[i] = (r, col + n_p - 1)
                col += n_p
                for k, c in enumerate(cand_ids[i]):
                    n_c = len(c) - 1
                    ids[r][col:col + n_c], pos[r][col:col + n_c] = c[:-1], range(n_p, n_p + n_c)
                    grp[r][col:col + n_c], part[r][col:col + n_c] = [g] * n_c, [k + 1] * n_c
                    preds[i] += [last[i]] + [(r, j) for j in range(col, col + n_c)]
                    ends[i].append((r, col + n_c - 1) if n_c else last[i])  # an empty action: the prompt's end
                    col += n_c
        dev = self.device
        ids_t, pos_t, grp_t, part_t = (torch.tensor(x, dtype=torch.long, device=dev) for x in (ids, pos, grp, part))
        idx = torch.arange(width, device=dev)
        allow = ((grp_t.unsqueeze(2) == grp_t.unsqueeze(1)) & (grp_t.unsqueeze(1) >= 0)
                 & ((part_t.unsqueeze(1) == 0) | (part_t.unsqueeze(1) == part_t.unsqueeze(2))))
        if not self.encoder:
            allow &= idx.unsqueeze(1) >= idx.unsqueeze(0)
        allow |= torch.eye(width, dtype=torch.bool, device=dev)  # a padding position must attend somewhere
        mask = _packed_mask(model, allow, pos_t)
        if self.head:
            out = model(input_ids=ids_t, attention_mask=mask, position_ids=pos_t,
                        **self._score_kwargs(model, 1, need_hidden))
            h = out.hidden_states[-1]
            at = torch.tensor([rc for per_prompt in ends for rc in per_prompt], device=dev)
            return h[at[:, 0], at[:, 1]], self._prompt_hidden(out, last, need_hidden)
        flat = [rc for per_prompt in preds for rc in per_prompt]  # flat candidate-token order, as in `cand`
        pred_rows = torch.tensor([r for r, _ in flat], device=dev)
        pred_cols = torch.tensor([c for _, c in flat], device=dev)
        if _keeps_masked_logits(model):  # logits at exactly the predicting positions, flattened row-major
            keep = torch.zeros((n_rows, width), dtype=torch.bool, device=dev)
            keep[pred_rows, pred_cols] = True
        else:  # logits at the union of the predicting columns (sorted), in every row
            keep = torch.unique(pred_cols)
        out = model(input_ids=ids_t, attention_mask=mask, position_ids=pos_t,
                    **self._score_kwargs(model, keep, need_hidden))
        if out.logits.dim() == 2:
            logits = out.logits[(keep.flatten().cumsum(0) - 1)[pred_rows * width + pred_cols]]
        elif out.logits.shape[1] != width:
            logits = out.logits[pred_rows, torch.searchsorted(keep, pred_cols)]
        else:  # the model kept every position
            logits = out.logits[pred_rows, pred_cols]
        real = cmask.bool()  # candidate tokens in row-major order: the order of `flat`
        lp = torch.zeros(cand.shape, dtype=torch.float32, device=dev)
        lp[real] = _token_logprobs(logits, cand[real])
        return lp, self._prompt_hidden(out, last, need_hidden)

    def _prompt_hidden(self, out: Any, last: list[tuple[int, int]], need_hidden: bool) -> torch.Tensor | None:
        """The last-layer hidden state at each prompt's last token, (row, column) in `last`."""
        if not need_hidden:
            return None
        at = torch.tensor(last, device=self.device)
        return out.hidden_states[-1][at[:, 0], at[:, 1]]

    def _cached_scores(self, model: Any, prompts: Sequence[Sequence[int]], counts: list[int], cand: torch.Tensor,
                       cmask: torch.Tensor, need_hidden: bool) -> tuple[torch.Tensor, Any]:
        """The prompt encoded once; its KV cache gathered to one row per candidate; the candidate tokens run on
        top of it (left-padded prompts, explicit `position_ids`). For attention kernels without custom masks."""
        rep = torch.repeat_interleave(torch.arange(len(prompts), device=self.device),
                                      torch.tensor(counts, device=self.device))
        ids, mask = self._left_pad(prompts)
        out = model(input_ids=ids, attention_mask=mask, position_ids=self._positions(mask), use_cache=True,
                    **self._score_kwargs(model, 1, need_hidden))
        hidden = out.hidden_states[-1][:, -1] if need_hidden else None
        lens = cmask.sum(1)
        if not self.head:
            first = _token_logprobs(out.logits[:, -1].index_select(0, rep), cand[:, 0])
        if cand.shape[1] == 1:  # every candidate is its terminator only
            return (hidden[rep] if self.head else first.unsqueeze(1)), hidden
        cache = _out_cache(out)
        _select_rows(cache, rep)
        attn = torch.cat([mask[rep], cmask[:, :-1]], dim=1)
        pos = mask.sum(1)[rep].unsqueeze(1) + torch.arange(cand.shape[1] - 1, device=self.device)
        out2 = model(input_ids=cand[:, :-1], attention_mask=attn, position_ids=pos, use_cache=True,
                     **_with_cache(model, cache), **({"output_hidden_states": True, **_keep_logits(model, 1)}
                                                     if self.head else {}))
        if self.head:  # right-padded candidates: the last token before the terminator of row j is at len_j - 2
            at = (lens - 2).clamp(min=0)
            h = out2.hidden_states[-1][torch.arange(len(cand), device=self.device), at]
            return torch.where((lens > 1).unsqueeze(1), h, hidden[rep]), hidden
        rest = _token_logprobs(out2.logits, cand[:, 1:])
        return torch.cat([first.unsqueeze(1), rest], dim=1), hidden

    def _full_scores(self, model: Any, prompts: Sequence[Sequence[int]], counts: list[int], cand: torch.Tensor,
                     cmask: torch.Tensor, need_hidden: bool) -> tuple[torch.Tensor, Any]:
        """The reference: every prompt+candidate sequence scored on its own (an encoder's prompt tokens kept from
        attending to the candidate, as in the packed path)."""
        rep = [i for i, n in enumerate(counts) for _ in range(n)]
        lens = cmask.sum(1) - (1 if self.head else 0)  # the head reads the candidate without its terminator
        seqs = [list(prompts[r]) + cand[j, :int(lens[j])].tolist() for j, r in enumerate(rep)]
        ids, mask = self._left_pad(seqs)
        total, width = ids.shape[1], cand.shape[1]
        attn: Any = mask
        if self.encoder:  # key k is seen by query q when k is real and k is in the prompt or q in the candidate
            is_cand = torch.arange(total, device=self.device).unsqueeze(0) >= (total - lens).unsqueeze(1)
            allow = mask.bool().unsqueeze(1) & (~is_cand.unsqueeze(1) | is_cand.unsqueeze(2))
            attn = _packed_mask(model, allow | torch.eye(total, dtype=torch.bool, device=self.device),
                                self._positions(mask))
        kwargs = self._score_kwargs(model, 1, need_hidden) if self.head else {"output_hidden_states": need_hidden}
        out = model(input_ids=ids, attention_mask=attn, position_ids=self._positions(mask), **kwargs)
        hidden = None
        if need_hidden:
            rows = torch.tensor([0, *itertools.accumulate(counts)][:-1], device=self.device)  # first candidates
            hidden = out.hidden_states[-1][rows, (total - lens - 1)[rows]]
        if self.head:  # left-padded: every sequence ends at the last column (an empty action: the prompt's end)
            return out.hidden_states[-1][:, -1], hidden
        # candidate token j of row i sits at column total - len_i + j; its logits at the column before.
        cols = ((total - lens).unsqueeze(1) + torch.arange(width, device=self.device)).clamp(max=total - 1)
        logits = out.logits.gather(1, (cols - 1).unsqueeze(-1).expand(-1, -1, out.logits.shape[-1]))
        return _token_logprobs(logits, cand), hidden

    def _sequence_scores(self, prompts: Sequence[Sequence[int]], actions: Sequence[Sequence[int]],
                         model: Any = None, need_hidden: bool = False, need_entropy: bool = False,
                         need_logprobs: bool = True) -> tuple[list[torch.Tensor], list[torch.Tensor], Any, Any]:
        """Teacher-forced log-probs (at `temperature`) of `actions` after `prompts`, one forward pass.

        Returns (token log-probs per row, token entropies per row (both empty without `need_logprobs`), hidden at
        the prompt's last token [n, H], hidden at the action's last token [n, H]). An encoder reads the prompt and
        action as one text (both directions) and has no token log-probs.
        """
        if need_logprobs and self.encoder:
            raise ValueError("token log-probs need a causal LM: an encoder policy has none (it scores candidates "
                             "with its head; SFT: loss=choice)")
        model = model if model is not None else self.model
        seqs = [list(p) + list(a) for p, a in zip(prompts, actions, strict=True)]
        ids, mask = self._left_pad(seqs)
        out = model(input_ids=ids, attention_mask=mask, position_ids=self._positions(mask),
                    output_hidden_states=need_hidden, **({} if need_logprobs else _keep_logits(model, 1)))
        total = ids.shape[1]
        t = self.config.temperature if self.config.mode == "generate" else 1.0  # choose: T acts on candidates
        lps, ents = [], []
        for i, a in enumerate(actions if need_logprobs else []):
            n = len(a)
            if n == 0:
                lps.append(out.logits.new_zeros(0, dtype=torch.float32))
                ents.append(out.logits.new_zeros(0, dtype=torch.float32))
                continue
            logits = out.logits[i, total - n - 1: total - 1] / t
            lps.append(_token_logprobs(logits, ids[i, total - n:]))
            if need_entropy:
                ents.append(_entropy(logits))
        prompt_h = action_h = None
        if need_hidden:
            h = out.hidden_states[-1]
            rows = torch.arange(len(seqs), device=self.device)
            prompt_cols = torch.tensor([total - len(a) - 1 for a in actions], device=self.device)
            prompt_h, action_h = h[rows, prompt_cols], h[:, -1]
        return lps, ents, prompt_h, action_h

    def evaluate(self, steps: Sequence[Step], model: Any = None, need_hidden: bool = False) -> ActionEval:
        """Re-score the steps' actions (with gradients) under the acting distribution, plus entropy."""
        if not steps:
            raise ValueError("evaluate: no steps")
        choose = [s.candidates is not None for s in steps]
        if all(choose):
            return self._evaluate_choose(steps, model, need_hidden)
        if not any(choose):
            lps, ents, prompt_h, _ = self._sequence_scores([s.prompt_ids for s in steps],
                                                           [s.action_ids for s in steps], model,
                                                           need_hidden=need_hidden, need_entropy=True)
            logprob = torch.stack([lp.sum() for lp in lps])
            entropy = torch.stack([e.mean() if e.numel() else e.new_zeros(()) for e in ents])
            return ActionEval(logprob, lps, entropy, prompt_h)
        raise ValueError("evaluate: a batch mixes choose-mode and generate-mode steps")

    def _evaluate_choose(self, steps: Sequence[Step], model: Any, need_hidden: bool) -> ActionEval:
        candidates = [list(s.candidates or []) for s in steps]
        scores, tokens, hidden = self.candidate_scores([s.prompt_ids for s in steps], candidates, model,
                                                       need_hidden=need_hidden)
        logprobs, entropies, token_lps = [], [], []
        for s, cands, sc, tok in zip(steps, candidates, scores, tokens, strict=True):
            try:
                k = cands.index(s.action_text)
            except ValueError:
                raise ValueError(f"step {s.episode_id}/{s.step_index}: action {s.action_text!r} is not among "
                                 f"its candidates") from None
            logp = F.log_softmax(sc / self.config.temperature, dim=0)
            logprobs.append(logp[k])
            entropies.append(-(logp.exp() * logp).sum())
            token_lps.append(tok[k, :len(self.candidate_ids(s.action_text))])
        return ActionEval(torch.stack(logprobs), token_lps, torch.stack(entropies), hidden,
                          extra={"candidate_scores": scores})

    def action_logprobs(self, steps: Sequence[Step], model: Any = None) -> torch.Tensor:
        """log pi(a_t | prompt_t) per step, with gradients, as at acting time (choose: candidate log-softmax;
        generate: sum of the action tokens' log-probs)."""
        return self.evaluate(steps, model).logprob

    def token_logprobs(self, steps: Sequence[Step], model: Any = None) -> list[torch.Tensor]:
        """Per-token log-probs of each step's `action_ids` given its prompt (with gradients)."""
        return self._sequence_scores([s.prompt_ids for s in steps], [s.action_ids for s in steps], model)[0]

    def action_hidden(self, steps: Sequence[Step], model: Any = None) -> torch.Tensor:
        """[n_steps, hidden]: last hidden state at the last token of prompt_ids + action_ids (SPA's head)."""
        return self._sequence_scores([s.prompt_ids for s in steps], [s.action_ids for s in steps], model,
                                     need_hidden=True, need_logprobs=False)[3]

    # -- acting ------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def act(self, prompts: list[list[int]], candidates: list[list[str]] | None = None,
            greedy: bool = False) -> list[ActionSample]:
        """One action per prompt, all prompts in one batched forward pass (choose mode needs `candidates`)."""
        if not prompts:
            return []
        if self.config.mode == "choose":
            if candidates is None or len(candidates) != len(prompts):
                raise ValueError("choose mode: act() needs one candidate list per prompt")
            return self._act_choose(prompts, candidates, greedy)
        return self._act_generate(prompts, greedy)

    def _act_choose(self, prompts: list[list[int]], candidates: list[list[str]], greedy: bool) -> list[ActionSample]:
        """Identical (prompt, candidates) pairs are scored once (`_distinct`); each env still samples on its own."""
        unique, slot = _distinct([(tuple(p), tuple(c)) for p, c in zip(prompts, candidates, strict=True)])
        scores, tokens, _ = self.candidate_scores([list(p) for p, _ in unique], [list(c) for _, c in unique])
        width = max(len(c) for c in candidates)
        padded = torch.full((len(scores), width), float("-inf"), device=self.device)
        for i, sc in enumerate(scores):
            padded[i, :len(sc)] = sc.float()
        logp = F.log_softmax(padded / self.config.temperature, dim=1)[slot]
        chosen = (logp.argmax(1) if greedy else torch.multinomial(logp.exp(), 1).squeeze(1)).tolist()
        out = []
        for i, (cands, k) in enumerate(zip(candidates, chosen, strict=True)):
            ids = self.candidate_ids(cands[k])
            out.append(ActionSample(cands[k], list(ids), float(logp[i, k]), tokens[slot[i]][k, :len(ids)].tolist(),
                                    True, cands[k], logp[i, :len(cands)].tolist()))
        return out

    def _act_generate(self, prompts: list[list[int]], greedy: bool) -> list[ActionSample]:
        """Identical prompts (`_distinct`) are encoded once and their KV cache copied to each sample."""
        unique, slots = _distinct([tuple(p) for p in prompts])
        rows = torch.tensor(slots, device=self.device)
        ids, mask = self._left_pad([list(p) for p in unique])
        pos = self._positions(mask)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                         **_keep_logits(self.model, 1))
        logits = out.logits[rows, -1]
        cache = _out_cache(out)
        if len(unique) < len(prompts):
            _select_rows(cache, rows)
        mask, pos = mask[rows], pos[rows]
        n = len(prompts)
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        gen: list[list[int]] = [[] for _ in range(n)]
        lps: list[list[float]] = [[] for _ in range(n)]
        next_pos = pos[:, -1] + 1
        for _ in range(self.config.max_new_tokens):
            logp = F.log_softmax(logits.float() / self.config.temperature, dim=-1)
            tok = logp.argmax(-1) if greedy else torch.multinomial(logp.exp(), 1).squeeze(1)
            tok_lp = logp.gather(1, tok.unsqueeze(1)).squeeze(1)
            for i in range(n):
                if not done[i]:
                    gen[i].append(int(tok[i]))
                    lps[i].append(float(tok_lp[i]))
            done |= tok == self.eos_id
            if bool(done.all()):
                break
            tok = torch.where(done, torch.full_like(tok, self.pad_id), tok)
            mask = torch.cat([mask, (~done).long().unsqueeze(1)], dim=1)
            out = self.model(input_ids=tok.unsqueeze(1), attention_mask=mask, position_ids=next_pos.unsqueeze(1),
                             use_cache=True, **_with_cache(self.model, cache))
            logits, cache = out.logits[:, -1], _out_cache(out)
            next_pos = next_pos + 1
        samples = []
        for g, lp in zip(gen, lps, strict=True):
            raw = self.tokenizer.decode(g, skip_special_tokens=True)
            action = parse_action(raw)
            samples.append(ActionSample(action or "", g, float(sum(lp)), lp, action is not None, raw))
        return samples
