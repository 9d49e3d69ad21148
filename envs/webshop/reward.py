"""WebShop's purchase reward (`engine/goal.py::get_reward`; research note spa_oprl.md §3.3).

    R = r_type * (N_att + N_opt + [price <= price_upper]) / (|goal attributes| + |goal options| + 1)

- N_att: goal attributes g matched by some product attribute a with token_set_ratio(a, g) > 85, or found as a
  substring of the lowercased title, the joined bullet points or the description.
- N_opt: goal options matched by some chosen option value with token_set_ratio > 85, both sides first mapped
  by `normalize_color` (the first colour word of `COLORS`, in its order, that the text contains).
  For synthetic goals credo matches on the option *value*, as the research note reads WebShop (its code passes
  (name, value) pairs, which makes the colour step a tuple-membership test).
- r_type: 1, then 0.5 if neither the query, >= 2 category-path segments, nor title_score > 0.2 matches;
  then 0.1 if title_score < 0.1; then 0 if title_score == 0. title_score = |nouns(bought) & nouns(goal)| /
  |nouns(goal)| over the two titles, 0.2 when the goal title has no nouns.

Fuzzy matching uses rapidfuzz with `default_process` (lowercase, punctuation to spaces), which is what
thefuzz/fuzzywuzzy (WebShop's library) do by default. WebShop tags nouns with spaCy (NOUN/PROPN); credo has no
spaCy, so `title_nouns` is a documented heuristic: the title's alphabetic words minus stop words, a list of
common adjectives and words with adjective suffixes (-ful, -ous, -ive, -able, -ible, -less, -ish).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz, utils

from envs.webshop.catalog import Product
from envs.webshop.goals import Goal

MATCH_THRESHOLD = 85
"""A fuzzy match needs token_set_ratio strictly above this (WebShop's threshold)."""

COLORS = (
    "aqua", "beige", "berry", "black", "blue", "blush", "bronze", "brown", "burgundy", "camel", "camo", "charcoal",
    "chocolate", "clear", "copper", "coral", "cream", "dark", "denim", "espresso", "gold", "gray", "green", "grey",
    "indigo", "ivory", "khaki", "lavender", "light", "lilac", "lime", "magenta", "maroon", "mauve", "midnight",
    "mint", "multicolor", "natural", "navy", "nude", "olive", "orange", "peach", "pink", "plum", "purple", "red",
    "rose", "ruby", "rust", "sand", "silver", "tan", "taupe", "teal", "turquoise", "violet", "walnut", "white",
    "wine", "yellow",
)
"""Colour words, alphabetical (the order decides which word a multi-colour string maps to)."""

STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "its", "of", "on",
    "or", "our", "the", "this", "that", "to", "with", "without", "your", "you", "men", "women", "mens", "womens",
    "man", "woman", "unisex", "kids", "set", "pack", "edition", "model", "premium", "original", "value", "gift",
    "box"
})
ADJECTIVES = frozenset({
    "long", "lasting", "free", "high", "low", "easy", "natural", "dry", "sensitive", "fine", "non", "toxic", "anti",
    "damaged", "professional", "new", "best", "great", "soft", "slim", "relaxed", "short", "quick", "rubber",
    "elastic", "classic", "daily", "light", "lightweight", "heavy", "solid", "small", "large", "extra", "super",
    "ultra", "mini", "big", "hot", "cold", "fresh", "pure", "organic", "certified", "plant", "based", "ready",
    "zero", "fat", "grass", "individually", "artificial", "resealable", "wireless", "portable", "fast", "dual",
    "smart", "digital", "electric", "stereo", "modern", "rustic", "black", "white", "red", "blue", "green", "grey",
    "gray", "brown", "pink", "purple", "yellow", "navy", "beige", "dark", "deep", "warm", "medium", "clear",
    "sturdy", "durable", "compatible", "adjustable", "breathable", "waterproof", "resistant", "drying", "wicking",
    "plated", "cancelling"
})
_ADJ_SUFFIXES = ("ful", "ous", "ive", "able", "ible", "less", "ish")


def normalize_color(text: str) -> str:
    """The first colour word of `COLORS` that `text` contains (a substring test, as WebShop's), else `text`."""
    for color in COLORS:
        if color in text:
            return color
    return text


def fuzzy_match(a: str, b: str) -> bool:
    """WebShop's fuzzy equality: token_set_ratio above 85 after thefuzz-style preprocessing."""
    return fuzz.token_set_ratio(a, b, processor=utils.default_process) > MATCH_THRESHOLD


def title_nouns(title: str) -> set[str]:
    """Heuristic stand-in for spaCy's NOUN/PROPN tags on a product title (see the module docstring)."""
    words = re.findall(r"[a-z]+", title.lower())
    return {w for w in words if len(w) > 1 and w not in STOP_WORDS and w not in ADJECTIVES
            and not w.endswith(_ADJ_SUFFIXES)}


def type_reward(product: Product, goal: Goal) -> tuple[float, float]:
    """(r_type, title_score) of buying `product` for `goal`."""
    query_match = product.query == goal.query
    bought_path = {s.strip() for s in product.product_category.split("›")}
    goal_path = {s.strip() for s in goal.product_category.split("›")}
    category_match = len(bought_path & goal_path) >= 2
    goal_nouns = title_nouns(goal.name)
    title_score = len(title_nouns(product.name) & goal_nouns) / len(goal_nouns) if goal_nouns else 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, title_score


def attribute_matches(product: Product, goal: Goal) -> int:
    """N_att: goal attributes found among the product's attributes (fuzzily) or in its text (verbatim)."""
    title, bullets, description = product.name.lower(), " ".join(product.bullet_points).lower(), product.description.lower()
    count = 0
    for wanted in goal.attributes:
        if any(fuzzy_match(have, wanted) for have in product.attributes) or (
            wanted in title or wanted in bullets or wanted in description
        ):
            count += 1
    return count


def option_matches(chosen: dict[str, str], goal: Goal) -> int:
    """N_opt: goal option values matched by some chosen option value, after colour normalisation."""
    bought = [normalize_color(v) for v in chosen.values()]
    return sum(
        any(fuzzy_match(have, normalize_color(wanted)) for have in bought) for wanted in goal.option_values
    )


@dataclass
class RewardBreakdown:
    """Every term of the formula, kept so logs can show why a purchase scored what it did."""

    r_type: float
    title_score: float
    attributes_matched: int
    options_matched: int
    price_ok: bool
    total: float


def purchase_reward(product: Product, price: float, chosen: dict[str, str], goal: Goal) -> RewardBreakdown:
    """WebShop's reward for buying `product` at `price` with options `chosen` when the shopper wants `goal`."""
    r_type, title_score = type_reward(product, goal)
    n_att = attribute_matches(product, goal)
    n_opt = option_matches(chosen, goal)
    price_ok = price <= goal.price_upper
    total = r_type * (n_att + n_opt + int(price_ok)) / (len(goal.attributes) + len(goal.option_values) + 1)
    return RewardBreakdown(r_type, title_score, n_att, n_opt, price_ok, total)
