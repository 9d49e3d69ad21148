"""The oracle shopper: knows the target product and its options, and takes the shortest path to buying them.

Used to collect demonstrations (`credo collect --policy expert` calls `env.unwrapped.expert_action()`) and to
check that every goal is solvable. From any state it returns the next action:
- on the search page: the env's advertised search (the instruction's keywords) when it retrieves the target,
  otherwise a search for the target's title;
- on results: the target's clickable if it is on this page (its asin, or with `item_names` the
  `item - <title>` the page offers for it, as `Shop.result_clicks` says), else "next >" / "< prev" towards it, or a title search
  when the results do not hold it;
- on another product's item page, or a sub page: "< prev"; on the target's item page: each goal option not yet
  chosen (the product's option value that best matches it), then "buy now".
"""

from __future__ import annotations

from rapidfuzz import fuzz, process, utils

from envs.webshop.goals import Goal
from envs.webshop.pages import BUY, NEXT, PREV, PageState, Shop
from envs.webshop.search import RESULTS_PER_PAGE, query_from_instruction


def expert_action(state: PageState, goal: Goal, shop: Shop, item_names: bool = False) -> str:
    """The oracle's next action in `state` for `goal` (a `search[...]` or `click[...]` string); `item_names`:
    the env's option of that name (results clicked by title)."""
    if state.page == "done":
        raise ValueError("the episode is over: the oracle has no action after buy now")
    target = goal.product_index
    product = shop.catalog[target]
    title_search = f"search[{product.name.lower()}]"
    if state.page == "search":
        query = query_from_instruction(goal.instruction_text)
        return f"search[{query}]" if target in shop.engine.search(query) else title_search
    if state.page == "results":
        if target not in state.results:
            return title_search
        page = state.results.index(target) // RESULTS_PER_PAGE + 1
        if page == state.results_page:
            clicks = shop.result_clicks(state, item_names)
            return f"click[{clicks[state.page_results().index(target)]}]"
        return f"click[{NEXT}]" if page > state.results_page else f"click[{PREV}]"
    if state.page == "item_sub" or state.product != target:
        return f"click[{PREV}]"
    for name, value in _option_choices(goal, product.options):
        if state.options.get(name) != value:
            return f"click[{value}]"
    return f"click[{BUY}]"


def _option_choices(goal: Goal, options: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(option name, value) pairs of the product that realise the goal's options."""
    if isinstance(goal.goal_options, dict):
        return [(name, value) for name, value in goal.goal_options.items() if value in options.get(name, [])]
    # human goals name options in free text: pick, per goal option, the closest value the product offers
    pairs = [(name, value) for name, values in options.items() for value in values]
    picks = []
    for wanted in goal.goal_options:
        best = process.extractOne(wanted, [v for _, v in pairs], scorer=fuzz.token_set_ratio,
                                  processor=utils.default_process)
        if best is not None:
            picks.append(pairs[best[2]])
    return picks
