"""WebShop goals: synthetic goal text and options as WebShop writes them, the price clause, splits, human goals."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from envs.webshop.catalog import GeneratedCatalog, load_webshop_catalog
from envs.webshop.goals import NO_PRICE_LIMIT, GoalSet, price_clause, price_uppers
from tests.test_webshop_catalog import write_webshop_files


@pytest.fixture(scope="module")
def goals() -> GoalSet:
    return GoalSet(GeneratedCatalog(1000, seed=0))


def test_one_goal_per_option_combination_per_product(goals):
    cat = goals.catalog
    assert len(goals) == int(cat.goal_counts().sum()) > 3000
    by_product: dict[int, list[dict]] = {}
    for i in range(len(goals)):
        g = goals[i]
        by_product.setdefault(g.product_index, []).append(g.goal_options)
    for p_index in list(by_product)[:40]:
        options = cat[p_index].options
        names = sorted(options)
        expected = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(options[n] for n in names))]
        got = by_product[p_index]
        assert sorted(map(str, got)) == sorted(map(str, expected))


def test_goal_text_follows_webshop(goals):
    for i in range(0, 400, 13):
        g = goals[i]
        p = goals.catalog[g.product_index]
        assert g.asin == p.asin and g.name == p.name and g.query == p.query
        assert g.attributes == p.instruction_attributes
        option_text = ", and ".join(f"{k}: {v}" for k, v in g.goal_options.items())
        expected = p.instruction_text + (f" with {option_text}" if option_text else "") + price_clause(g.price_upper)
        assert g.instruction_text == expected
        assert p.price < g.price_upper
        if g.price_upper < NO_PRICE_LIMIT:
            assert re.search(r", and price lower than \d+\.00 dollars$", g.instruction_text)


def test_price_upper_rule():
    rng = np.random.default_rng(0)
    prices = np.array([12.99] * 2000 + [975.0] * 200 + [985.0] * 200 + [20.0] * 200)
    up = price_uppers(prices, rng)
    # 12.99: candidates 20, 30, 40, 50; the larger of two distinct draws is 30, 40 or 50
    assert set(up[:2000]) == {30.0, 40.0, 50.0}
    counts = {v: int((up[:2000] == v).sum()) for v in (30.0, 40.0, 50.0)}
    assert counts[30.0] < counts[40.0] < counts[50.0]  # P = 1/6, 2/6, 3/6
    assert set(up[2000:2200]) == {990.0}  # 975: candidates 980, 990 -> both drawn, the larger is 990
    assert set(up[2200:2400]) == {NO_PRICE_LIMIT}  # 985: only 990 is above -> no clause
    assert set(up[2400:]) <= {40.0, 50.0, 60.0}  # strictly above 20
    assert price_clause(NO_PRICE_LIMIT) == ""
    assert price_clause(40.0) == ", and price lower than 40.00 dollars"


def test_goals_are_shuffled_deterministically():
    a, b = GoalSet(GeneratedCatalog(300, seed=3)), GoalSet(GeneratedCatalog(300, seed=3))
    assert [a[i] for i in range(0, len(a), 50)] == [b[i] for i in range(0, len(b), 50)]
    first = [a[i].product_index for i in range(50)]
    assert first != sorted(first)


def test_splits(goals):
    n = len(goals)
    assert goals.split("test") == range(0, 500)
    assert goals.split("train") == range(500, n - 500)
    assert goals.split("validation") == range(n - 500, n)
    assert goals.split("validation", "webshop") == range(500, 1500)
    assert goals.split("train", "webshop") == range(1500, n)
    assert goals.split("all") == range(n)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        goals.split("dev")
    with pytest.raises(ValueError, match="unknown split scheme"):
        goals.split("test", "nope")
    small = GoalSet(GeneratedCatalog(30, seed=0))
    with pytest.raises(ValueError, match="is empty"):
        small.split("train")
    with pytest.raises(IndexError, match="goal_index"):
        small[len(small)]


def test_human_goals(tmp_path):
    write_webshop_files(tmp_path)
    goals = GoalSet(load_webshop_catalog(tmp_path, human_goals=True), tmp_path / "items_human_ins.json")
    assert len(goals) == 2  # the annotation without attributes is dropped
    gloss = next(goals[i] for i in range(2) if goals[i].asin == "B000AAA001")
    assert gloss.goal_options == ["rose pink"] and gloss.option_values == ["rose pink"]
    assert gloss.instruction_text.startswith("i need a rose pink lip gloss that lasts long")
    assert "lasts long." not in gloss.instruction_text  # WebShop strips the final period
    assert gloss.price_upper > 12.99
    synthetic = GoalSet(load_webshop_catalog(tmp_path))
    assert len(synthetic) == 3  # gloss: 2 colours x 1 size; pretzels: no options; lamp: not annotated
    (tmp_path / "items_ins_v2_1000.json").unlink()
    with pytest.raises(ValueError, match="items_ins_v2"):
        GoalSet(load_webshop_catalog(tmp_path))
    (tmp_path / "bad.json").write_text("[")
    with pytest.raises(ValueError, match="could not be read"):
        GoalSet(load_webshop_catalog(tmp_path, human_goals=True), tmp_path / "bad.json")
