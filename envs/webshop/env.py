"""`credo/WebShop-v0`: the shop as a credo text env (search[...] / click[...] actions, WebShop's reward).

An episode: the shopper gets an instruction, searches, browses results and items, picks options and clicks
"buy now"; the reward on purchase is WebShop's score in [0, 1] (`reward.purchase_reward`), `score` = that score
and `success` = (score == 1). Reaching `max_steps` without buying ends the episode truncated with reward 0.
`reward="success"` pays 1 for an exact purchase and 0 otherwise, iStar's rule-verifier outcome (research note
spa_oprl.md: 10 or 0 there; the scale only sets the advantage's units); `info["score"]` stays WebShop's score.

Actions are parsed as WebShop does: the regex `(.+)\\[(.+)\\]`, the argument lowercased, with credo's one rule
(`envs.core.action_key`: case and surrounding whitespace aside) and the whole action matched, where WebShop's
`re.match` ignores text after the closing bracket. A search needs non-empty keywords; a click must name one of the
page's clickables. Unlike WebShop's silent no-op, an invalid action follows
the credo contract: the page does not change, `valid_action` is False, and the next observation starts with a
one-line note saying the action was not understood; it still uses up a step, as under WebShop's step cap.

`item_names=True` is WebShop's baseline env option `click_item_name` (the paper's IL and RL models): a result is
offered as `click[item - <title>]` and the title is mapped back to the product (see `pages` for titles that two
results share). A title may hold brackets, so `click[item - ...]` is read as WebShop's baseline reads it: the text
between `click[item - ` and the last `]`. Off by default: the paper's site actions stay the default.

`reset(options=...)` keys: `goal_index` (an absolute goal index, WebShop's `session`), `split` ("train",
"validation", "test", "all"; see `goals.SPLIT_SCHEMES`). With a seed and no `goal_index`, the goal is drawn from
the split with that seed (same seed, same goal).
"""

from __future__ import annotations

import numbers
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from envs.core import TextEnv, action_key, invalid_action_note
from envs.webshop.catalog import Catalog, GeneratedCatalog, find_data_file, load_webshop_catalog
from envs.webshop.expert import expert_action
from envs.webshop.goals import Goal, GoalSet
from envs.webshop.pages import ITEM, PageState, Shop
from envs.webshop.reward import purchase_reward
from envs.webshop.search import DEFAULT_CACHE_DIR, SearchEngine, query_from_instruction

ACTION_PATTERN = re.compile(r"(.+)\[(.+)\]")
"""WebShop's action regex (`parse_action`), matched against the whole action's `action_key`."""
ITEM_CLICK = f"click[{ITEM}"
"""How a click by product title starts (`item_names`), matched before the regex as WebShop's baseline does."""
RESET_OPTIONS = ("goal_index", "split")
REWARDS = ("score", "success")
"""What a purchase pays: WebShop's score (the WebShop paper, SPA, ETO) or 1 for an exact match only (iStar)."""


@lru_cache(maxsize=8)
def load_shop(num_products: int, catalog_seed: int, data_dir: str | None, human_goals: bool,
              cache_dir: str | None) -> tuple[Catalog, GoalSet, Shop]:
    """Catalogue, goals and site for a configuration, built once per process and shared by its envs."""
    goals_file = None
    if data_dir is not None:
        catalog: Catalog = load_webshop_catalog(data_dir, human_goals=human_goals)
        if human_goals:
            goals_file = find_data_file(Path(data_dir), "items_human_ins")
            if goals_file is None:
                raise FileNotFoundError(f"human_goals=True but no items_human_ins*.json in {data_dir}")
    else:
        if human_goals:
            raise ValueError("human_goals=True needs data_dir= pointing at WebShop's data files")
        catalog = GeneratedCatalog(num_products, catalog_seed)
    goals = GoalSet(catalog, goals_file)
    return catalog, goals, Shop(catalog, SearchEngine(catalog, cache_dir))


class WebShopEnv(TextEnv):
    """A WebShop-like shop: generated (or real) catalogue, BM25 search, WebShop's pages, actions and reward."""

    family: ClassVar[str] = "webshop"
    state_schema: ClassVar[dict[str, str]] = {
        "page": "current page: search, results, item, item_sub or done",
        "query": "keywords of the last search ('' before any search)",
        "results_page": "page number of the search results (1-based)",
        "num_results": "number of products the last search returned (at most 50)",
        "asin": "asin of the open (or bought) product, '' when none",
        "sub_page": "description, features or reviews on an item_sub page, else ''",
        "options": "chosen option values by option name, e.g. {'size': 'large'}",
        "steps_left": "steps before the step cap ends the episode",
    }
    outcome_keys: ClassVar[frozenset[str]] = frozenset()
    """None: the reward compares the bought item with the goal's attributes, which the state does not show."""

    def __init__(self, num_products: int = 1000, catalog_seed: int = 0, data_dir: str | None = None,
                 human_goals: bool = False, max_steps: int = 15, split: str = "train", split_scheme: str = "istar",
                 cache_dir: str | None = str(DEFAULT_CACHE_DIR), item_names: bool = False,
                 reward: str = "score", render_mode: str | None = None) -> None:
        """
        Args:
            num_products: size of the generated catalogue (ignored with `data_dir`).
            catalog_seed: seed of the generated catalogue (same seed and size, same products and goals).
            data_dir: folder with WebShop's `items_shuffle*.json` (+ `items_ins_v2*.json`, `items_human_ins.json`)
                to play on the real catalogue instead of a generated one.
            human_goals: with `data_dir`, use the human instructions of `items_human_ins.json`.
            max_steps: step cap (SPA and iStar use 10 on WebShop; 15 here by default).
            split: goal split a reset draws from unless its options say otherwise.
            split_scheme: "istar" or "webshop" (see `goals.SPLIT_SCHEMES`).
            cache_dir: where large catalogues' search indexes are cached (None: never cache).
            item_names: results clicked as `item - <title>`, WebShop's baseline env option `click_item_name`.
            reward: "score" (WebShop's score in [0, 1]) or "success" (1 for an exact purchase, else 0; iStar's).
        """
        super().__init__(render_mode)
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {list(REWARDS)}, got {reward!r}")
        data = str(Path(data_dir).expanduser()) if data_dir is not None else None
        self.catalog, self.goals, self.shop = load_shop(int(num_products), int(catalog_seed), data,
                                                        bool(human_goals), cache_dir)
        self.max_steps, self.split_scheme, self.item_names = int(max_steps), split_scheme, bool(item_names)
        self.reward_kind = reward
        self.default_split = split
        self.goals.split(split, split_scheme)  # a bad split or scheme fails here, not at the first reset
        self.goal: Goal | None = None
        self.goal_index = -1
        self.page = PageState()
        self.steps = 0
        self.done = False
        self.reward = 0.0

    # -- episode ---------------------------------------------------------------------------------------------
    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        unknown = sorted(set(options) - set(RESET_OPTIONS))
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; WebShop takes {list(RESET_OPTIONS)}")
        split = self.goals.split(str(options.get("split", self.default_split)), self.split_scheme)
        if options.get("goal_index") is not None:
            index = options["goal_index"]
            if not isinstance(index, numbers.Integral) or isinstance(index, bool) or int(index) not in split:
                raise ValueError(f"goal_index {index!r} is not in split {options.get('split', self.default_split)!r}"
                                 f" (goals {split.start}..{split.stop - 1})")
            index = int(index)
        else:
            index = split[int(self.np_random.integers(len(split)))]
        self.goal_index, self.goal = index, self.goals[index]
        self.page, self.steps, self.done, self.reward = PageState(), 0, False, 0.0
        obs, clickables = self._render()
        return obs, self._info(clickables, valid=True)

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        assert self.goal is not None, "call reset() before step()"
        obs, clickables = self._render()
        note = f"{invalid_action_note(action)}\n"
        if self.done:  # stepping a finished episode changes nothing
            return note + obs, 0.0, True, False, self._info(clickables, valid=False)
        new_page = self._apply(action, clickables)
        self.steps += 1  # an invalid action uses up a step too, as under WebShop's step-capped wrappers
        terminated, extra = False, {}
        if new_page is None:
            obs = note + self._invalid_hint(action) + obs
        else:
            self.page = new_page
            if self.page.page == "done":
                assert self.page.product is not None
                price = float(self.catalog.prices[self.page.product])
                breakdown = purchase_reward(self.catalog[self.page.product], price, self.page.options, self.goal)
                self.reward, terminated, extra = breakdown.total, True, {"reward_info": vars(breakdown)}
            obs, clickables = self._render()
        truncated = not terminated and self.steps >= self.max_steps
        self.done = terminated or truncated
        score = self.reward if terminated else 0.0
        info = self._info(clickables, valid=new_page is not None, score=score, success=score == 1.0, **extra)
        reward = float(score == 1.0) if self.reward_kind == "success" else score
        return obs, reward, terminated, truncated, info

    def _render(self) -> tuple[str, list[str]]:
        assert self.goal is not None
        return self.shop.render(self.page, self.goal.instruction_text, self.reward, self.item_names)

    def _apply(self, action: str, clickables: list[str]) -> PageState | None:
        """The page after `action`, or None when the action is invalid here."""
        key = action_key(action)
        if key is not None and key.startswith(ITEM_CLICK) and key.endswith("]"):
            return self.shop.click(self.page, key[len("click[") : -1].strip(), clickables)
        match = None if key is None else ACTION_PATTERN.fullmatch(key)
        if match is None:
            return None
        name, arg = match.group(1), match.group(2).strip()
        if name == "search" and arg:
            return self.shop.search(arg)
        if name == "click":
            return self.shop.click(self.page, arg, clickables)
        return None

    def _invalid_hint(self, action: str) -> str:
        """A second line for an invalid click by title: which titles the page offers (or that it offers none)."""
        key = action_key(action)
        if key is None or not key.startswith(ITEM_CLICK):
            return ""
        if not self.item_names:
            return "Results are clicked by their asin here (item_names is off).\n"
        if self.page.page != "results":
            return "Products are clicked by title on a results page only.\n"
        return "No result on this page has that title; click one of the titles listed as an action.\n"

    def _info(self, clickables: list[str], valid: bool, score: float = 0.0, success: bool = False,
              **extra: Any) -> dict[str, Any]:
        assert self.goal is not None
        if self.done:
            admissible: list[str] = []
        elif self.page.page == "search":
            admissible = [f"search[{query_from_instruction(self.goal.instruction_text)}]"]
        else:
            admissible = [f"click[{c}]" for c in clickables]
        product = self.catalog[self.page.product].asin if self.page.product is not None else ""
        state = {
            "page": self.page.page, "query": self.page.query, "results_page": self.page.results_page,
            "num_results": len(self.page.results), "asin": product, "sub_page": self.page.sub_page,
            "options": dict(self.page.options), "steps_left": self.max_steps - self.steps,
        }
        return {"instruction": self.goal.instruction_text, "admissible_actions": admissible, "valid_action": valid,
                "success": success, "score": score, "state": state, "goal_index": self.goal_index, **extra}

    # -- oracle ----------------------------------------------------------------------------------------------
    def expert_action(self) -> str:
        """The oracle's next action for the current state (see `envs.webshop.expert`)."""
        assert self.goal is not None, "call reset() before expert_action()"
        return expert_action(self.page, self.goal, self.shop, self.item_names)
