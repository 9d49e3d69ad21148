"""WebShop-like shop: a generated catalogue, BM25 search, WebShop's pages, actions and reward (family "webshop").

Ids:
- `credo/WebShop-v0`: 1,000 generated products (the size of verl-agent's small WebShop set), step cap 15;
- `credo/WebShop-100k-v0`: 100,000 generated products.
Both take the `WebShopEnv` keyword arguments (`num_products`, `catalog_seed`, `data_dir`, `human_goals`,
`max_steps`, `split_scheme`, `cache_dir`, `item_names`, `reward`), e.g. `envs.make("credo/WebShop-v0", data_dir="~/webshop/data")`
plays on the real WebShop files; `item_names=True` offers results as `click[item - <title>]`, WebShop's baseline
env option `click_item_name`.
"""

from __future__ import annotations

ENTRY_POINT = "envs.webshop.env:WebShopEnv"
EXAMPLE = "i need a long lasting and sulfate free shampoo with size: 8 fl oz, and price lower than 30.00 dollars"


def register_envs() -> None:
    """Register the shop's ids (called by `import envs`)."""
    from envs.registry import register

    register("credo/WebShop-v0", ENTRY_POINT, family="webshop", instruction_example=EXAMPLE,
             kwargs={"num_products": 1000}, tags=("web", "shopping", "sparse-reward"))
    register("credo/WebShop-100k-v0", ENTRY_POINT, family="webshop", instruction_example=EXAMPLE,
             kwargs={"num_products": 100_000}, tags=("web", "shopping", "sparse-reward", "large"))
