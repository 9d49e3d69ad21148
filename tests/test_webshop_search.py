"""WebShop search: BM25 over WebShop's index text, top 50, empty on no match, and a disk cache that round-trips."""

from __future__ import annotations

import pytest

from envs.webshop import search
from envs.webshop.catalog import GeneratedCatalog
from envs.webshop.env import WebShopEnv
from envs.webshop.goals import GoalSet
from envs.webshop.search import SearchEngine, query_from_instruction


@pytest.fixture(scope="module")
def catalog() -> GeneratedCatalog:
    return GeneratedCatalog(1000, seed=0)


def test_search_ranks_by_bm25_and_caps_at_50(catalog):
    engine = SearchEngine(catalog, cache_dir=None)
    target = catalog[123]
    hits = engine.search(target.name)
    assert hits[0] == 123 and len(hits) == len(set(hits)) == 50
    assert engine.search(target.name.upper()) == hits  # queries are lowercased like the index
    noun = target.query.split()[-1]
    top = engine.search(noun)
    assert all(noun in catalog[i].index_text() for i in top[:10])
    assert engine.search("qqqq zzzz") == [] and engine.search("the and of") == []


def test_instruction_query_finds_most_targets(catalog):
    engine, goals = SearchEngine(catalog, cache_dir=None), GoalSet(catalog)
    found = [goals[i].product_index in engine.search(query_from_instruction(goals[i].instruction_text))
             for i in range(200)]
    assert sum(found) >= 150


def test_query_from_instruction():
    text = "i'm looking for a long lasting shampoo with size: 8 fl oz, and price lower than 30.00 dollars"
    assert query_from_instruction(text) == "long lasting shampoo with size: 8 fl oz"
    assert query_from_instruction("find me gluten free pretzels") == "gluten free pretzels"
    assert query_from_instruction("I need") == "i need"  # never empty


def test_index_cache_round_trips(catalog, tmp_path, monkeypatch):
    monkeypatch.setattr(search, "CACHE_MIN_PRODUCTS", 0)
    built = SearchEngine(catalog, cache_dir=tmp_path)
    assert (tmp_path / catalog.key / "params.index.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    loaded = SearchEngine(catalog, cache_dir=tmp_path)
    for query in ("long lasting shampoo", "usb c hdmi cable 4", catalog[5].name):
        assert loaded.search(query) == built.search(query)
    other = GeneratedCatalog(1000, seed=1)
    SearchEngine(other, cache_dir=tmp_path)
    assert (tmp_path / other.key).is_dir() and other.key != catalog.key


@pytest.mark.slow
def test_100k_shop_builds_caches_and_solves(tmp_path):
    env = WebShopEnv(num_products=100_000, cache_dir=str(tmp_path))
    assert len(env.catalog) == 100_000 and any(tmp_path.iterdir())
    for seed in range(20):
        env.reset(seed=seed)
        done = False
        while not done:
            _, _, term, trunc, info = env.step(env.expert_action())
            done = term or trunc
        assert info["success"]
