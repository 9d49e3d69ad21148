"""Shopping goals made as WebShop makes them, and their fixed train/validation/test splits.

Synthetic goals (WebShop's `get_synthetic_goals`, research note spa_oprl.md §3.1): every annotated product gives
one goal per combination of its option values (option names sorted, combinations in `itertools.product`
order); the text is "{instruction} with {opt1}: {v1}, and {opt2}: {v2}" plus the price clause. Price clause:
of the multiples of 10 (10..990) strictly above the product's price keep the first 4; if there are at least 2,
draw 2 and the larger is `price_upper` (", and price lower than {price_upper:.2f} dollars"), else
`price_upper` = 1e6 and no clause. Human goals (`items_human_ins.json`) take the annotators' text and options.
Goals are shuffled with seed 233 and addressed by index; all goals of a product share its price draw, as in
WebShop. WebShop's weighted sampling (by attribute rarity) is not used: the env picks goals by index or seed.

Splits by goal index (`SPLIT_SCHEMES`):
- "istar" (default; verl-agent/iStar): test 0-499, train 500 up to the last 500, validation the last 500 goals
  (iStar trains on all of 500+; credo holds the last 500 out so that a validation split exists);
- "webshop" (the original WebShop): test 0-499, validation 500-1499, train 1500+.
Every scheme also has "all" (every goal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from envs.webshop.catalog import GOAL_SEED, Catalog

NO_PRICE_LIMIT = 1_000_000.0
SPLIT_SCHEMES: dict[str, dict[str, tuple[int, int | None]]] = {
    # split: (start, stop); negative numbers count from the end, None = the end
    "istar": {"test": (0, 500), "train": (500, -500), "validation": (-500, None)},
    "webshop": {"test": (0, 500), "validation": (500, 1500), "train": (1500, None)},
}


@dataclass
class Goal:
    """What the shopper wants: the target product and what the reward checks."""

    asin: str
    product_index: int
    instruction_text: str
    attributes: list[str]
    goal_options: dict[str, str] | list[str]
    """{option name: value} for synthetic goals; a list of values for human goals (as in WebShop)."""
    price_upper: float
    name: str
    """The target product's title (the reward's title-noun overlap compares against it)."""
    query: str
    category: str
    product_category: str

    @property
    def option_values(self) -> list[str]:
        return list(self.goal_options.values()) if isinstance(self.goal_options, dict) else list(self.goal_options)


def price_uppers(prices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """WebShop's price limit for each price (vectorised): the larger of 2 of the first 4 multiples of 10 above it."""
    first = np.floor(prices / 10).astype(np.int64) + 1  # smallest k with 10k > price
    count = np.clip(99 - first + 1, 0, 4)  # multiples k..k+3 that are <= 990
    i = rng.integers(0, np.maximum(count, 1))
    j = rng.integers(0, np.maximum(count - 1, 1))
    j = j + (j >= i)  # a second, distinct pick
    upper = 10.0 * (first + np.maximum(i, j))
    return np.where(count >= 2, upper, NO_PRICE_LIMIT)


def price_clause(price_upper: float) -> str:
    return "" if price_upper >= NO_PRICE_LIMIT else f", and price lower than {price_upper:.2f} dollars"


class GoalSet:
    """All goals of a catalogue, shuffled with seed 233; synthetic goals are written out on demand."""

    def __init__(self, catalog: Catalog, human_goals_file: str | Path | None = None) -> None:
        self.catalog = catalog
        rng = np.random.default_rng(GOAL_SEED)
        self._human: list[Goal] | None = None
        if human_goals_file is not None:
            self._human = self._load_human(Path(human_goals_file), rng)
            order = rng.permutation(len(self._human))
            self._human = [self._human[k] for k in order]
            return
        counts = catalog.goal_counts()
        if not counts.any():
            raise ValueError("no product of the catalogue has an instruction to make goals from "
                             "(WebShop data: is items_ins_v2*.json in data_dir?)")
        self._upper = price_uppers(catalog.prices, rng)
        product = np.repeat(np.arange(len(counts)), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        combo = np.arange(len(product)) - starts
        order = rng.permutation(len(product))
        self._product, self._combo = product[order].astype(np.int32), combo[order].astype(np.int32)

    def __len__(self) -> int:
        return len(self._human) if self._human is not None else len(self._product)

    def __getitem__(self, index: int) -> Goal:
        if not 0 <= index < len(self):
            raise IndexError(f"goal_index {index} out of range 0..{len(self) - 1}")
        if self._human is not None:
            return self._human[index]
        p_index, combo = int(self._product[index]), int(self._combo[index])
        product = self.catalog[p_index]
        chosen: dict[str, str] = {}
        for name in reversed(sorted(product.options)):  # itertools.product order: the last name varies fastest
            values = product.options[name]
            combo, k = divmod(combo, len(values))
            chosen[name] = values[k]
        goal_options = {name: chosen[name] for name in sorted(chosen)}
        option_text = ", and ".join(f"{k}: {v}" for k, v in goal_options.items())
        upper = float(self._upper[p_index])
        text = (product.instruction_text or "").strip(".") + (f" with {option_text}" if option_text else "")
        return Goal(
            asin=product.asin, product_index=p_index, instruction_text=text + price_clause(upper),
            attributes=list(product.instruction_attributes), goal_options=goal_options, price_upper=upper,
            name=product.name, query=product.query, category=product.category,
            product_category=product.product_category,
        )

    def split(self, name: str, scheme: str = "istar") -> range:
        """Goal indices of split `name` ("train", "validation", "test" or "all") under `scheme`."""
        if name == "all":
            return range(len(self))
        if scheme not in SPLIT_SCHEMES:
            raise ValueError(f"unknown split scheme {scheme!r}; choose one of {', '.join(SPLIT_SCHEMES)}")
        bounds = SPLIT_SCHEMES[scheme]
        if name not in bounds:
            raise ValueError(f"unknown split {name!r}; choose one of {', '.join([*bounds, 'all'])}")
        start, stop = bounds[name]
        indices = range(len(self))[slice(start, stop)]
        # the tail split of "istar" must not overlap the head splits of a small goal set
        if scheme == "istar" and name == "validation":
            indices = range(max(indices.start, min(500, len(self))), indices.stop)
        if len(indices) == 0:
            raise ValueError(f"split {name!r} of scheme {scheme!r} is empty: the catalogue has only "
                             f"{len(self)} goals; use split='all' or a larger catalogue")
        return indices

    def _load_human(self, path: Path, rng: np.random.Generator) -> list[Goal]:
        """WebShop's `get_human_goals`: one goal per annotated instruction that names at least one attribute."""
        try:
            annotations = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"human goals file {str(path)!r} could not be read: {err}") from None
        goals: list[Goal] = []
        for p_index in range(len(self.catalog)):
            product = self.catalog[p_index]
            for ann in annotations.get(product.asin, []):
                attributes = list(ann.get("instruction_attributes") or [])
                if not attributes:
                    continue
                upper = float(price_uppers(np.array([product.price]), rng)[0])
                goals.append(Goal(
                    asin=product.asin, product_index=p_index,
                    instruction_text=str(ann.get("instruction", "")).strip(".") + price_clause(upper),
                    attributes=attributes, goal_options=list(ann.get("instruction_options") or []),
                    price_upper=upper, name=product.name, query=product.query, category=product.category,
                    product_category=product.product_category,
                ))
        if not goals:
            raise ValueError(f"{path}: no human goal matches a product of the catalogue")
        return goals
