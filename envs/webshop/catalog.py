"""The product catalogue: a seeded generator (1k to 100k+ products) and a loader for WebShop's real data files.

A product has the fields WebShop's `engine.load_products` gives it (research note spa_oprl.md §3.1): `asin`,
`name` (= Title), `description`, `bullet_points`, the `price_tag` shown on pages, the realised `price` (drawn once,
uniformly in the pricing range), `options` {name: [values]}, `attributes` (short phrases), `category`, `query`
(the search that scraped it), `product_category` ("A › B › C") and, for products that can be goals,
`instruction_text` and `instruction_attributes` (WebShop's `items_ins_v2` annotation).

`GeneratedCatalog` keeps only small numpy arrays (drawn vectorised from the seed) and writes a product's text
when it is asked for, so 100,000 products take a few MB and a fraction of a second; the same seed and size
always give the same catalogue. `load_webshop_catalog` reads the real files when a user has them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from envs.webshop import vocab

GOAL_SEED = 233
"""WebShop seeds Python's `random` with 233 before drawing prices and shuffling goals; credo seeds numpy with it."""

NO_ATTRIBUTE = "DUMMY_ATTR"
"""WebShop's attribute for products missing from `items_ins_v2` (it never matches a goal attribute)."""


@dataclass
class Product:
    """One product as WebShop's pages and reward see it."""

    asin: str
    name: str
    description: str
    bullet_points: list[str]
    price: float
    """Realised price in dollars (what the reward compares with the goal's `price_upper`)."""
    price_tag: str
    """The price as pages show it: "$12.99" or "$12.99 to $18.49"."""
    options: dict[str, list[str]]
    attributes: list[str]
    category: str
    query: str
    product_category: str
    instruction_text: str | None = None
    instruction_attributes: list[str] = field(default_factory=list)

    def index_text(self) -> str:
        """What the search engine indexes: lowercased title, description, first bullet and the options."""
        options = ", and ".join(f"{name}: {', '.join(values)}" for name, values in self.options.items())
        first_bullet = self.bullet_points[0] if self.bullet_points else ""
        return f"{self.name} {self.description} {first_bullet} {options}".lower()


class Catalog:
    """A sequence of products with an asin lookup; `key` identifies its content (search-index cache key)."""

    key: str
    prices: np.ndarray
    """Realised price of every product (float64)."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Product:
        raise NotImplementedError

    def index_of(self, asin: str) -> int | None:
        """Index of the product with this asin (None when absent)."""
        raise NotImplementedError

    def goal_counts(self) -> np.ndarray:
        """Synthetic goals per product: the number of option-value combinations, 0 for products without an
        instruction (WebShop only makes goals from annotated products)."""
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------------------------

_TYPES: list[tuple[str, vocab.ProductType]] = [(c, t) for c, cat in vocab.CATEGORIES.items() for t in cat.types]
TYPE_ATTRIBUTES: list[tuple[str, ...]] = [
    tuple(dict.fromkeys(t.attributes + vocab.CATEGORIES[c].attributes)) for c, t in _TYPES
]
"""Attribute pool of each product type: its own phrases, then its category's general ones."""
_POOL_KEYS = list(vocab.OPTION_POOLS)
_MAX_GROUPS = max(len(t.option_groups) for _, t in _TYPES)
_MAX_POOL = max(len(values) for _, values in vocab.OPTION_POOLS.values())
_MAX_ATTRS = 5
_GROUP_PROB = (0.9, 0.65, 0.35)
"""Probability that a product offers its type's 1st, 2nd, 3rd option group."""
_NO_ARTICLE = {"jeans", "potato chips", "running shoes", "sandals", "leggings", "socks", "curtains",
               "coffee beans", "green tea", "beef jerky", "dark chocolate", "pasta sauce", "almond butter",
               "granola", "olive oil", "wireless earbuds"}
_ASIN_SPACE = 36**8
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
GENERATOR_VERSION = 3
"""Bumped whenever the generator's output changes, so cached search indexes are rebuilt."""


def _brand_names(rng: np.random.Generator, count: int) -> list[str]:
    """Made-up, pronounceable brand names (two syllables plus an ending), unique, in draw order."""
    names: dict[str, None] = {}
    while len(names) < count:
        draw = 2 * count
        onset = np.array(vocab.BRAND_ONSETS)[rng.integers(0, len(vocab.BRAND_ONSETS), (draw, 2))]
        vowel = np.array(vocab.BRAND_VOWELS)[rng.integers(0, len(vocab.BRAND_VOWELS), (draw, 2))]
        coda = np.array(vocab.BRAND_CODAS)[rng.integers(0, len(vocab.BRAND_CODAS), draw)]
        for parts in zip(onset[:, 0], vowel[:, 0], onset[:, 1], vowel[:, 1], coda, strict=True):
            names.setdefault("".join(parts).capitalize())
    return list(names)[:count]


def _first_k_mask(rng: np.random.Generator, n: int, width: int, valid: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Boolean (n, width) mask choosing min(k, valid) random columns among the first `valid[i]` of each row."""
    keys = rng.random((n, width))
    keys[np.arange(width)[None, :] >= valid[:, None]] = np.inf
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    return (ranks < k[:, None]) & np.isfinite(keys)


def _title(words: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in words.split())


class GeneratedCatalog(Catalog):
    """A realistic synthetic catalogue drawn from `seed`; products are written out on demand."""

    def __init__(self, num_products: int = 1000, seed: int = 0) -> None:
        if num_products < 1:
            raise ValueError(f"num_products must be >= 1, got {num_products}")
        self.num_products, self.seed = int(num_products), int(seed)
        self.key = f"gen-v{GENERATOR_VERSION}-seed{seed}-n{num_products}"
        n = self.num_products
        rng = np.random.default_rng([seed, n, GENERATOR_VERSION])
        self.brands = _brand_names(rng, max(50, min(5000, n // 8)))
        self.type_id = rng.integers(0, len(_TYPES), n).astype(np.int16)
        self.brand_id = rng.integers(0, len(self.brands), n).astype(np.int32)
        # attributes: 2..5 distinct phrases from the type's pool; the first 1..2 are the instruction's
        pool_size = np.array([len(pool) for pool in TYPE_ATTRIBUTES])[self.type_id]
        keys = rng.random((n, max(pool_size)))
        keys[np.arange(keys.shape[1])[None, :] >= pool_size[:, None]] = np.inf
        self.attr = np.argsort(keys, axis=1)[:, :_MAX_ATTRS].astype(np.int8)
        self.n_attr = rng.integers(2, _MAX_ATTRS + 1, n).astype(np.int8)
        self.n_instr_attr = rng.integers(1, 3, n).astype(np.int8)
        # option groups: which of the type's groups the product offers, and 2..5 values of each
        type_groups = np.full((len(_TYPES), _MAX_GROUPS), -1)
        for t, (_, ptype) in enumerate(_TYPES):
            type_groups[t, : len(ptype.option_groups)] = [_POOL_KEYS.index(g) for g in ptype.option_groups]
        self.group = type_groups[self.type_id].astype(np.int8)  # (n, G) pool index or -1
        present = (self.group >= 0) & (rng.random((n, _MAX_GROUPS)) < np.array(_GROUP_PROB)[None, :_MAX_GROUPS])
        pool_len = np.array([len(v) for _, v in vocab.OPTION_POOLS.values()])
        self.values = np.zeros((n, _MAX_GROUPS, _MAX_POOL), dtype=bool)
        for g in range(_MAX_GROUPS):
            valid = np.where(present[:, g], pool_len[self.group[:, g]], 0)
            self.values[:, g] = _first_k_mask(rng, n, _MAX_POOL, valid, rng.integers(2, 6, n))
        # prices: a base price in the type's band; a quarter of products have a range ("$lo to $hi")
        band = np.array([t.price for _, t in _TYPES])[self.type_id]
        lo = np.round(np.round(band[:, 0] + rng.random(n) * (band[:, 1] - band[:, 0])) - 0.01, 2)  # x.99
        has_range = rng.random(n) < 0.25
        hi = np.where(has_range, np.round(np.round(lo * (1.2 + rng.random(n) * 0.6)) - 0.01, 2), lo)
        self.price_lo, self.price_hi = lo, hi
        self.prices = np.where(has_range, lo + np.random.default_rng([GOAL_SEED, n]).random(n) * (hi - lo), lo)
        self.text_choice = rng.integers(0, 1 << 30, (n, 8)).astype(np.int32)
        # asins: an affine bijection of the index into 8 base-36 digits, unique by construction
        self._asin_a = int(rng.integers(1, _ASIN_SPACE // 7)) * 2 * 3 + 1  # odd, not a multiple of 3
        while np.gcd(self._asin_a, _ASIN_SPACE) != 1:
            self._asin_a += 2
        self._asin_b = int(rng.integers(0, _ASIN_SPACE))
        self._asin_inv = pow(self._asin_a, -1, _ASIN_SPACE)
        self._render = lru_cache(maxsize=4096)(self._write_product)  # pages re-read the same few products

    def __len__(self) -> int:
        return self.num_products

    def asin(self, index: int) -> str:
        code = (self._asin_a * index + self._asin_b) % _ASIN_SPACE
        digits = []
        for _ in range(8):
            code, d = divmod(code, 36)
            digits.append(_B36[d])
        return "B0" + "".join(reversed(digits))

    def index_of(self, asin: str) -> int | None:
        asin = asin.upper()
        if len(asin) != 10 or not asin.startswith("B0") or any(c not in _B36 for c in asin[2:]):
            return None
        code = int(asin[2:], 36)
        index = (code - self._asin_b) * self._asin_inv % _ASIN_SPACE
        return index if index < self.num_products else None

    def option_groups(self, index: int) -> dict[str, list[str]]:
        """The product's options {name: values}, in its type's group order."""
        out: dict[str, list[str]] = {}
        for g in range(_MAX_GROUPS):
            chosen = np.flatnonzero(self.values[index, g])
            if len(chosen):
                name, pool = vocab.OPTION_POOLS[_POOL_KEYS[self.group[index, g]]]
                out[name] = [pool[j] for j in chosen]
        return out

    def goal_counts(self) -> np.ndarray:
        counts = self.values.sum(axis=2)
        return np.where(counts > 0, counts, 1).prod(axis=1).astype(np.int64)

    def __getitem__(self, index: int) -> Product:
        if not 0 <= index < self.num_products:
            raise IndexError(f"product index {index} out of range 0..{self.num_products - 1}")
        return self._render(int(index))

    def _write_product(self, index: int) -> Product:
        cat_name, ptype = _TYPES[self.type_id[index]]
        cat = vocab.CATEGORIES[cat_name]
        u = [int(x) for x in self.text_choice[index]]
        brand = self.brands[self.brand_id[index]]
        pool = TYPE_ATTRIBUTES[self.type_id[index]]
        attrs = [pool[j] for j in self.attr[index, : self.n_attr[index]]]
        use = cat.uses[u[0] % len(cat.uses)]
        extra = vocab.TITLE_EXTRAS[u[1] % len(vocab.TITLE_EXTRAS)]
        title = f"{brand} {_title(attrs[0])} {_title(ptype.noun)}, {_title(attrs[1])}"
        title += f", {extra}" if extra else ""
        fill = {"brand": brand, "noun": ptype.noun, "use": use, "a1": attrs[-1], "a2": attrs[1 % len(attrs)]}
        description = vocab.DESCRIPTION_TEMPLATES[u[2] % len(vocab.DESCRIPTION_TEMPLATES)].format(**fill)
        bullets = [
            vocab.BULLET_TEMPLATES[(u[3] + k) % len(vocab.BULLET_TEMPLATES)].format(A=a.upper(), a=a, **fill)
            for k, a in enumerate(attrs)
        ]
        instr_attrs = attrs[: self.n_instr_attr[index]]
        opening = vocab.INSTRUCTION_OPENINGS[u[4] % len(vocab.INSTRUCTION_OPENINGS)]
        article = "" if ptype.noun in _NO_ARTICLE else ("an " if ptype.noun[0] in "aeiou" else "a ")
        form = u[5] % 3
        if form == 0:
            instruction = f"{opening} {article}{' and '.join(instr_attrs)} {ptype.noun}"
        elif form == 1:
            instruction = f"{opening} {article}{ptype.noun} that is {' and '.join(instr_attrs)}"
        else:
            instruction = f"{opening} {' and '.join(instr_attrs)} {ptype.noun} for {use}"
        lo, hi = float(self.price_lo[index]), float(self.price_hi[index])
        return Product(
            asin=self.asin(index), name=title, description=description, bullet_points=bullets,
            price=float(self.prices[index]), price_tag=f"${lo:.2f}" if lo == hi else f"${lo:.2f} to ${hi:.2f}",
            options=self.option_groups(index), attributes=attrs, category=cat_name, query=ptype.query,
            product_category=f"{cat.root} › {ptype.path}", instruction_text=instruction,
            instruction_attributes=instr_attrs,
        )


# ---------------------------------------------------------------------------------------------------------------
# Real WebShop data
# ---------------------------------------------------------------------------------------------------------------


class ListCatalog(Catalog):
    """A catalogue held as a list of products (the real WebShop data)."""

    def __init__(self, products: list[Product], key: str) -> None:
        self.products, self.key = products, key
        self.prices = np.array([p.price for p in products], dtype=np.float64)
        self._by_asin = {p.asin: i for i, p in enumerate(products)}

    def __len__(self) -> int:
        return len(self.products)

    def __getitem__(self, index: int) -> Product:
        return self.products[index]

    def index_of(self, asin: str) -> int | None:
        return self._by_asin.get(asin)

    def goal_counts(self) -> np.ndarray:
        return np.array([
            int(np.prod([len(v) for v in p.options.values()])) if p.instruction_text and p.instruction_attributes
            else 0 for p in self.products
        ], dtype=np.int64)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None


def _parse_pricing(text: Any) -> list[float]:
    """WebShop's pricing string ("$12.99" or "$10.00 - $20.00") as [price] or [lo, hi]; [100.0] when missing."""
    if not text or not isinstance(text, str):
        return [100.0]
    values = []
    for part in text.split("$")[1:]:
        digits = re.sub(r"[^\d.]", "", part)
        try:
            values.append(float(digits))
        except ValueError:
            continue
    return values[:2] or [100.0]


def find_data_file(data_dir: Path, stem: str) -> Path | None:
    """The file `stem*.json` in `data_dir` (e.g. items_shuffle_1000.json or items_shuffle.json); smallest wins."""
    found = sorted(data_dir.glob(f"{stem}*.json"), key=lambda p: p.stat().st_size)
    return found[0] if found else None


def load_webshop_catalog(data_dir: str | Path, num_products: int | None = None,
                         human_goals: bool = False) -> ListCatalog:
    """Read WebShop's `items_shuffle*.json` (products) and `items_ins_v2*.json` (attributes and instructions)
    from `data_dir`, as WebShop's `load_products` does: asins that are "nan", longer than 10 characters or
    repeated are skipped; option values are lowercased with "/" written " | "; a missing price becomes $100.
    With `human_goals`, products keep no synthetic instruction (goals come from `items_human_ins.json`)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"WebShop data_dir {str(data_dir)!r} is not a directory")
    items_path = find_data_file(data_dir, "items_shuffle")
    if items_path is None:
        raise FileNotFoundError(f"no items_shuffle*.json in {data_dir}")
    raw = _read_json(items_path)
    if not isinstance(raw, list):
        raise ValueError(f"{items_path}: expected a list of products")
    ins_path = find_data_file(data_dir, "items_ins_v2")
    annotations: dict[str, Any] = _read_json(ins_path) if ins_path else {}
    rng = np.random.default_rng(GOAL_SEED)
    products: list[Product] = []
    seen: set[str] = set()
    for item in raw[:num_products] if num_products else raw:
        asin = str(item.get("asin", "nan"))
        if asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        pricing = _parse_pricing(item.get("pricing"))
        tag = f"${pricing[0]}" if len(pricing) == 1 else f"${pricing[0]} to ${pricing[1]}"
        price = pricing[0] if len(pricing) == 1 else float(rng.uniform(pricing[0], pricing[1]))
        options: dict[str, list[str]] = {}
        for name, contents in (item.get("customization_options") or {}).items():
            if contents:
                options[name.lower()] = [str(c["value"]).strip().replace("/", " | ").lower() for c in contents]
        bullets = item.get("small_description") or []
        ann = annotations.get(asin, {})
        products.append(Product(
            asin=asin, name=str(item.get("name", "")), description=str(item.get("full_description") or ""),
            bullet_points=bullets if isinstance(bullets, list) else [str(bullets)], price=price, price_tag=tag,
            options=options, attributes=list(ann.get("attributes") or [NO_ATTRIBUTE]),
            category=str(item.get("category", "")), query=str(item.get("query", "")).lower().strip(),
            product_category=str(item.get("product_category", "")),
            instruction_text=None if human_goals else ann.get("instruction"),
            instruction_attributes=[] if human_goals else list(ann.get("instruction_attributes") or []),
        ))
    stamp = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in (items_path, ins_path) if p)
    digest = hashlib.sha1(f"{stamp}|{num_products}|{human_goals}".encode()).hexdigest()[:12]
    return ListCatalog(products, key=f"data-{digest}")
