"""BM25 search over the catalogue as WebShop indexes it (bm25s in place of WebShop's Lucene/pyserini index).

Each product's document is its lowercased title, description, first bullet point and options
(`Product.index_text`). Queries and documents share bm25s' tokenizer with English stop words; a search returns
the top 50 products with a positive score (Lucene returns only matching documents), best first; pages show 10.
Building the index for 100k products takes a few seconds, so it is cached on disk, keyed by the catalogue's
content key (generator version, seed and size, or the data files' names, sizes and dates).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import bm25s
import numpy as np

from credo.paths import cache_root
from envs.webshop.catalog import Catalog

TOP_K = 50
RESULTS_PER_PAGE = 10
STOPWORDS = "en"
DEFAULT_CACHE_DIR = cache_root() / "webshop"
CACHE_MIN_PRODUCTS = 5000
"""Smaller catalogues index in well under a second and are not cached."""

_PRICE_CLAUSE = re.compile(r",? and price lower than [\d.]+ dollars")
_FILLER = re.compile(r"^(i need to buy|i need|i want|i'm looking for|i am looking for|find me|i would like|"
                     r"looking for|get me|please find|i'd like)\b\s*(an? |some )?")


def query_from_instruction(instruction: str) -> str:
    """The search keywords the env advertises for an instruction: its text without the opening request
    words and without the price clause (what a person would type into the search box)."""
    text = _PRICE_CLAUSE.sub("", instruction.lower()).strip()
    return _FILLER.sub("", text).strip() or text


class SearchEngine:
    """`search(keywords) -> product indices`, best first, at most `TOP_K`."""

    def __init__(self, catalog: Catalog, cache_dir: str | Path | None = DEFAULT_CACHE_DIR) -> None:
        self.catalog = catalog
        cached = Path(cache_dir) / catalog.key if cache_dir is not None and len(catalog) >= CACHE_MIN_PRODUCTS else None
        if cached is not None and (cached / "params.index.json").exists():
            self.retriever = bm25s.BM25.load(str(cached), show_progress=False)
            return
        large = len(catalog) >= CACHE_MIN_PRODUCTS  # worth a progress bar (bm25s' own) while it builds
        docs = [catalog[i].index_text() for i in range(len(catalog))]
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(docs, stopwords=STOPWORDS, show_progress=large), show_progress=large)
        if cached is not None:
            self._save(cached)

    def _save(self, target: Path) -> None:
        """Write the index atomically (a temporary folder renamed into place), so a crash leaves no half index."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
        try:
            self.retriever.save(str(tmp), show_progress=False)
            tmp.rename(target)
        except OSError:  # another process won the race, or the disk is read-only: the in-memory index is fine
            shutil.rmtree(tmp, ignore_errors=True)

    def search(self, keywords: str) -> list[int]:
        """Indices of the best-matching products for `keywords` (empty when no word of it is in the index)."""
        tokens = bm25s.tokenize([keywords.lower()], stopwords=STOPWORDS, show_progress=False, return_ids=False)
        if not tokens[0]:
            return []
        k = min(TOP_K, len(self.catalog))
        docs, scores = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [int(d) for d in docs[0][np.asarray(scores[0]) > 0]]
