"""WebShop reward, clause by clause, on hand-built products and goals (research note spa_oprl.md §3.3)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from envs.webshop.catalog import Product
from envs.webshop.goals import Goal
from envs.webshop.reward import (
    attribute_matches,
    fuzzy_match,
    normalize_color,
    option_matches,
    purchase_reward,
    title_nouns,
    type_reward,
)

SHAMPOO = Product(
    asin="B0SHAMPOO1", name="Aveno Sulfate Free Shampoo for Dry Hair", description="Gentle daily shampoo, paraben free.",
    bullet_points=["Moisturizing formula", "Made with argan oil"], price=14.99, price_tag="$14.99",
    options={"size": ["8 fl oz", "16 fl oz"], "color": ["navy blue", "light pink"]},
    attributes=["sulfate free", "long lasting"], category="beauty", query="shampoo",
    product_category="Beauty & Personal Care › Hair Care › Shampoos",
)
GOAL = Goal(
    asin="B0SHAMPOO1", product_index=0, instruction_text="i need a sulfate free shampoo", attributes=["sulfate free"],
    goal_options={"size": "16 fl oz"}, price_upper=30.0, name=SHAMPOO.name, query="shampoo", category="beauty",
    product_category=SHAMPOO.product_category,
)


def test_perfect_purchase_scores_one():
    r = purchase_reward(SHAMPOO, 14.99, {"size": "16 fl oz"}, GOAL)
    assert (r.r_type, r.attributes_matched, r.options_matched, r.price_ok, r.total) == (1.0, 1, 1, True, 1.0)


def test_formula_counts_each_clause():
    # wrong option, price over the limit: (1 att + 0 opt + 0 price) / (1 + 1 + 1)
    r = purchase_reward(SHAMPOO, 31.0, {"size": "8 fl oz"}, GOAL)
    assert r.total == pytest.approx(1 / 3) and not r.price_ok and r.options_matched == 0
    # no option chosen at all, price fine: (1 + 0 + 1) / 3
    assert purchase_reward(SHAMPOO, 10.0, {}, GOAL).total == pytest.approx(2 / 3)
    # two goal attributes, one matched: (1 + 1 + 1) / (2 + 1 + 1)
    goal = replace(GOAL, attributes=["sulfate free", "vegan"])
    assert purchase_reward(SHAMPOO, 10.0, {"size": "16 fl oz"}, goal).total == pytest.approx(3 / 4)
    # price equal to the limit passes (<=)
    assert purchase_reward(SHAMPOO, 30.0, {"size": "16 fl oz"}, GOAL).price_ok


def test_attributes_fuzzy_or_substring():
    assert attribute_matches(SHAMPOO, replace(GOAL, attributes=["sulfate-free"])) == 1  # fuzzy vs attribute list
    assert attribute_matches(SHAMPOO, replace(GOAL, attributes=["long lasting"])) == 1
    assert attribute_matches(SHAMPOO, replace(GOAL, attributes=["dry hair"])) == 1  # substring of the title
    assert attribute_matches(SHAMPOO, replace(GOAL, attributes=["argan oil"])) == 1  # substring of a bullet
    assert attribute_matches(SHAMPOO, replace(GOAL, attributes=["paraben free"])) == 1  # substring of description
    assert attribute_matches(SHAMPOO, replace(GOAL, attributes=["gluten free", "vegan"])) == 0
    # token_set_ratio > 85, not >=: a subset of tokens is 100, a near miss is not enough
    assert fuzzy_match("long lasting", "long lasting formula") and not fuzzy_match("long lasting", "long lashing x")


def test_options_with_colour_normalisation():
    # each side maps to the first colour word (alphabetically) it contains: any two blues match
    assert normalize_color("navy blue") == "blue" and normalize_color("dark navy") == "dark"
    assert option_matches({"color": "navy blue"}, replace(GOAL, goal_options={"color": "royal blue"})) == 1
    assert option_matches({"color": "navy blue"}, replace(GOAL, goal_options={"color": "dark navy"})) == 0
    assert normalize_color("rose | pink") == "pink" and normalize_color("16 fl oz") == "16 fl oz"
    assert option_matches({"color": "light pink"}, replace(GOAL, goal_options={"color": "hot pink"})) == 0
    assert option_matches({"color": "pink"}, replace(GOAL, goal_options={"color": "hot pink"})) == 1
    # two goal options, one chosen value matches each at most; extra chosen options do not hurt
    goal = replace(GOAL, goal_options={"size": "16 fl oz", "color": "light pink"})
    assert option_matches({"size": "16 fl oz", "color": "light pink", "scent": "rose"}, goal) == 2
    assert option_matches({"size": "8 fl oz"}, goal) == 0
    # human goals: a list of free-text option values
    assert option_matches({"size": "16 fl oz"}, replace(GOAL, goal_options=["16 fl oz (pack of 1)"])) == 1


def test_type_reward_rules():
    other = replace(SHAMPOO, query="lipstick", product_category="Beauty › Makeup › Lips")
    # same title nouns: 1.0 even without query/category match
    assert type_reward(other, GOAL) == (1.0, 1.0)
    # no shared noun at all: 0
    lamp = replace(other, name="Brightly Floor Lamp")
    assert type_reward(lamp, GOAL)[0] == 0.0
    assert title_nouns(GOAL.name) == {"aveno", "sulfate", "shampoo", "hair"}  # no "free", "dry", "for"
    # one shared noun of the goal's five (0.2, not > 0.2), no query/category match: 0.5
    goal5 = replace(GOAL, name="Aveno Shampoo Hair Bottle Pump")
    one = replace(other, name="Zeta Hair Clip")
    assert type_reward(one, goal5) == (0.5, 0.2)
    # the same product under the goal's query keeps 1.0
    assert type_reward(replace(one, query="shampoo"), goal5)[0] == 1.0
    # >= 2 shared category segments count as a category match
    assert type_reward(replace(one, product_category="Beauty & Personal Care › Hair Care › Brushes"), goal5)[0] == 1.0
    # a title score below 0.1 gives 0.1 whatever else matches
    long_goal = replace(GOAL, name="Aveno Shampoo Hair Bottle Pump Refill Kit Salon Spa Argan Keratin Mask")
    assert type_reward(replace(SHAMPOO, name="Kit Brush"), long_goal) == (0.1, pytest.approx(1 / 12))  # 12 nouns
    # a goal title without nouns scores 0.2 (and r_type rests on query/category)
    assert type_reward(SHAMPOO, replace(GOAL, name="Long Lasting Free"))[1] == 0.2
    # r_type multiplies the whole sum
    assert purchase_reward(one, 10.0, {"size": "8 fl oz"}, goal5).total == pytest.approx(0.5 * 2 / 3)
