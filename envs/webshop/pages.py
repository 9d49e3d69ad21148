"""WebShop's pages as a small state machine: page state, text rendering, clickables and transitions.

Follows WebShop's text env in "simple" observation mode (research note spa_oprl.md §3.2):
- pages: search -> results -> item -> item_sub (description / features / reviews) -> done;
- the observation is the page's visible strings joined by " [SEP] ";
- clickables are the lowercased button texts, the result asins and the item's option values;
- "back to search" goes to the search page from anywhere; "< prev" goes results page p -> p-1, item -> results,
  item_sub -> item; "next >" goes to the next results page; clicking an option value sets it; a search (allowed
  from any page, as in WebShop's text env) and "back to search" clear the chosen options, which otherwise
  persist across products;
- `click[search]` is never valid (WebShop excludes it); "buy now" ends the episode.

With `item_names=True` (WebShop's baseline env option `click_item_name`, used by the paper's IL and RL models) a
result is clicked as `item - <lowercased title>` instead of its asin, and the click maps the title back to the
product. WebShop looks titles up in one catalogue-wide dict (`name2asin`: with two products of one title, the
last loaded wins, possibly a product not on the page); credo resolves a title among the products of the page shown,
so a title click always opens a product the page lists: when two results on the page share a title, the
best-ranked one is clicked by title and the others keep their asin as their clickable. An asin click stays valid
in this mode, as in WebShop, whose underlying site still takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from envs.webshop.catalog import Catalog
from envs.webshop.search import RESULTS_PER_PAGE, SearchEngine

SEP = " [SEP] "
PAGES = ("search", "results", "item", "item_sub", "done")
SUB_PAGES = ("description", "features", "reviews")
BACK_TO_SEARCH, PREV, NEXT, BUY = "back to search", "< prev", "next >", "buy now"
ITEM = "item - "
"""Prefix of a result's clickable in `item_names` mode (WebShop's baseline `click_item_name`)."""


@dataclass(frozen=True)
class PageState:
    """Where the shopper is. Immutable: a transition returns a new state."""

    page: str = "search"
    query: str = ""
    results: tuple[int, ...] = ()
    """Product indices of the last search, best first."""
    results_page: int = 1
    product: int | None = None
    """Catalogue index of the open item (item and item_sub pages; kept on done: what was bought)."""
    sub_page: str = ""
    options: dict[str, str] = field(default_factory=dict)
    """Chosen option values by option name."""

    @property
    def num_pages(self) -> int:
        return max(1, -(-len(self.results) // RESULTS_PER_PAGE))

    def page_results(self) -> tuple[int, ...]:
        start = (self.results_page - 1) * RESULTS_PER_PAGE
        return self.results[start : start + RESULTS_PER_PAGE]


class Shop:
    """The site: renders a `PageState` for an instruction and applies `search[...]` / `click[...]` to it."""

    def __init__(self, catalog: Catalog, engine: SearchEngine) -> None:
        self.catalog, self.engine = catalog, engine

    # -- rendering -------------------------------------------------------------------------------------------
    def render(self, state: PageState, instruction: str, score: float | None = None,
               item_names: bool = False) -> tuple[str, list[str]]:
        """(observation text, clickables) of the page; the done page shows the purchase's `score`.

        `item_names`: results are clicked by title (`result_clicks`); the text shown is the same.
        """
        head = ["Instruction:", instruction, "Back to Search"]
        if state.page == "search":
            return SEP.join(["WebShop", "Instruction:", instruction, "Search"]), ["search"]
        if state.page == "results":
            parts = [*head, f"Page {state.results_page} (Total results: {len(state.results)})"]
            clicks = [BACK_TO_SEARCH]
            if state.results_page > 1:
                parts.append("< Prev")
                clicks.append(PREV)
            if state.results_page < state.num_pages:
                parts.append("Next >")
                clicks.append(NEXT)
            for index in state.page_results():
                product = self.catalog[index]
                parts += [product.asin, product.name, product.price_tag]
            return SEP.join(parts), [*clicks, *self.result_clicks(state, item_names)]
        assert state.product is not None
        product = self.catalog[state.product]
        if state.page == "item":
            parts, clicks = [*head, "< Prev"], [BACK_TO_SEARCH, PREV]
            for name, values in product.options.items():
                parts += [name, *values]
                clicks += values
            parts += [product.name, f"Price: {product.price_tag}", "Rating: N.A.", "Description", "Features",
                      "Reviews", "Buy Now"]
            return SEP.join(parts), [*clicks, *SUB_PAGES, BUY]
        if state.page == "item_sub":
            body = {"description": [product.description], "features": product.bullet_points, "reviews": []}
            return SEP.join([*head, "< Prev", *body[state.sub_page]]), [BACK_TO_SEARCH, PREV]
        chosen = ", ".join(f"{k}: {v}" for k, v in state.options.items()) or "none"
        return SEP.join(["Thank you for shopping with us!", "Purchased", product.asin, product.name,
                         f"Options: {chosen}", "Your score (min 0.0, max 1.0)", f"{score or 0.0:.4f}"]), []

    def result_clicks(self, state: PageState, item_names: bool) -> list[str]:
        """The clickables of the results on the page shown, in rank order: lowercased asins, or with `item_names`
        `item - <lowercased title>` for the best-ranked result of each title and the asin for the others."""
        clicks: list[str] = []
        for index in state.page_results():
            product = self.catalog[index]
            named = ITEM + product.name.lower()
            clicks.append(named if item_names and named not in clicks else product.asin.lower())
        return clicks

    def result_by_click(self, state: PageState, value: str) -> int | None:
        """The catalogue index a results-page click opens: an asin of the page, or `item - <title>` naming the
        best-ranked product of the page with that title (case aside); None when nothing on the page matches."""
        for index in state.page_results():
            product = self.catalog[index]
            if value in (product.asin.lower(), ITEM + product.name.lower()):
                return index
        return None

    # -- transitions -----------------------------------------------------------------------------------------
    def search(self, keywords: str) -> PageState:
        return PageState(page="results", query=keywords, results=tuple(self.engine.search(keywords)))

    def click(self, state: PageState, value: str, clickables: list[str]) -> PageState | None:
        """The state after clicking `value`, or None when it is not clickable here (an invalid action).

        A result's asin is clickable even when `clickables` names results by title (`item_names`)."""
        if state.page == "results" and value not in clickables:
            index = self.result_by_click(state, value)
            return None if index is None or value.startswith(ITEM) else replace(state, page="item", product=index)
        if value not in clickables or value == "search":
            return None
        if value == BACK_TO_SEARCH:
            return PageState()
        if state.page == "results":
            if value == NEXT:
                return replace(state, results_page=state.results_page + 1)
            if value == PREV:
                return replace(state, results_page=state.results_page - 1)
            return replace(state, page="item", product=self.result_by_click(state, value))
        if state.page == "item_sub":  # only "< prev" is left
            return replace(state, page="item", sub_page="")
        # item page
        if value == PREV:
            return replace(state, page="results", product=None)
        if value in SUB_PAGES:
            return replace(state, page="item_sub", sub_page=value)
        if value == BUY:
            return replace(state, page="done")
        assert state.product is not None
        options = self.catalog[state.product].options
        name = next(n for n, values in options.items() if value in values)
        return replace(state, options={**state.options, name: value})
