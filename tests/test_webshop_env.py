"""credo/WebShop-v0: pages, transitions, parsing, invalid actions, step cap, purchase reward, resets, the contract."""

from __future__ import annotations

import json

import pytest

import envs
from envs.core import NotText, invalid_action_note
from envs.webshop.env import WebShopEnv
from envs.webshop.pages import SEP
from envs.webshop.reward import purchase_reward
from tests.test_webshop_catalog import write_webshop_files


@pytest.fixture()
def env() -> WebShopEnv:
    return WebShopEnv(num_products=1000, max_steps=15)


def go(env: WebShopEnv, *actions: str):
    out = None
    for a in actions:
        out = env.step(a)
        assert out[4]["valid_action"], f"{a!r} was refused: {out[0][:200]}"
    return out


def test_search_page_and_admissible_search(env):
    obs, info = env.reset(seed=0)
    instr = info["instruction"]
    assert obs == SEP.join(["WebShop", "Instruction:", instr, "Search"])
    assert info["admissible_actions"] == [info["admissible_actions"][0]]
    query = info["admissible_actions"][0]
    assert query.startswith("search[") and "price lower than" not in query
    assert set(info["state"]) == set(WebShopEnv.state_schema)
    assert info["state"]["page"] == "search" and info["state"]["steps_left"] == 15
    assert info["valid_action"] and not info["success"] and info["score"] == 0.0


def test_results_pages_and_navigation(env):
    _, info = env.reset(seed=1)
    obs, _, _, _, info = go(env, info["admissible_actions"][0])
    assert obs.startswith(SEP.join(["Instruction:", info["instruction"], "Back to Search", "Page 1 (Total results: 50)",
                                    "Next >"]))
    asins = [a for a in info["admissible_actions"] if a.startswith("click[b0")]
    assert len(asins) == 10 and "click[< prev]" not in info["admissible_actions"]
    assert info["state"] | {"results_page": 1, "num_results": 50} == info["state"]
    obs2, *_ , info2 = go(env, "click[next >]")
    assert "Page 2 (Total results: 50) [SEP] < Prev [SEP] Next >" in obs2 and info2["state"]["results_page"] == 2
    assert not set(asins) & set(info2["admissible_actions"])
    for _ in range(3):
        go(env, "click[next >]")
    obs5, *_, info5 = env.step("click[next >]")
    assert info5["valid_action"] is False  # page 5 is the last
    back, *_ = go(env, "click[< prev]")
    assert "Page 4 (Total results: 50)" in back
    obs_search, *_, info_s = go(env, "click[back to search]")
    assert obs_search.startswith("WebShop [SEP] Instruction:") and info_s["state"]["query"] == ""


def test_item_page_options_persist_and_reset(env):
    _, info = env.reset(seed=2)
    _, *_, info = go(env, info["admissible_actions"][0])
    asins = [a for a in info["admissible_actions"] if a.startswith("click[b0")]
    obs, *_, info = go(env, asins[0])
    product = env.catalog[env.page.product]
    assert info["state"]["page"] == "item" and info["state"]["asin"] == product.asin
    assert obs.endswith(SEP.join([product.name, f"Price: {product.price_tag}", "Rating: N.A.", "Description",
                                  "Features", "Reviews", "Buy Now"]))
    for name, values in product.options.items():
        assert SEP.join([name, *values]) in obs
        assert f"click[{values[-1]}]" in info["admissible_actions"]
    name, values = next(iter(product.options.items()))
    *_, info = go(env, f"click[{values[-1]}]")
    assert info["state"]["options"] == {name: values[-1]}
    obs_d, *_, info_d = go(env, "click[description]")
    assert obs_d.endswith(f"< Prev [SEP] {product.description}") and info_d["state"]["sub_page"] == "description"
    assert info_d["admissible_actions"] == ["click[back to search]", "click[< prev]"]
    obs_f, *_ = go(env, "click[< prev]", "click[features]")
    assert obs_f.endswith(SEP.join(product.bullet_points))
    go(env, "click[< prev]", "click[< prev]")  # item_sub -> item -> results
    *_, info = go(env, asins[1])  # options persist across products, as in WebShop
    assert info["state"]["options"] == {name: values[-1]}
    *_, info = go(env, "search[anything at all]")  # a search from any page resets them
    assert info["state"]["options"] == {} and info["state"]["query"] == "anything at all"
    *_, info = go(env, [a for a in info["admissible_actions"] if a.startswith("click[b0")][0])
    *_, info = go(env, "click[back to search]")
    assert info["state"]["options"] == {} and info["state"]["page"] == "search"


def test_parsing_follows_webshop():
    env = WebShopEnv(num_products=1000, max_steps=30)
    _, info = env.reset(seed=3)
    go(env, info["admissible_actions"][0])
    asin = env.catalog[env.page.page_results()[0]].asin
    *_, info = go(env, f"  click[{asin.upper()}]  ")  # argument lowercased, surrounding spaces ignored
    assert info["state"]["page"] == "item"
    before = env.render()
    for bad in ("click[]", "search[]", "search[   ]", "click buy now", "buy", "click[search]", "click[not a button]",
                "", "[buy now]", "[click[buy now]]", "'click[buy now]'", "click[buy now]!!", "click[buy now] please",
                ["click[buy now]"], ("click[buy now]",)):
        obs, reward, term, trunc, info = env.step(bad)
        assert info["valid_action"] is False, bad
        assert obs.split("\n", 1) == [invalid_action_note(NotText(bad) if not isinstance(bad, str) else bad), before]
        assert reward == 0.0 and not term
    assert env.step(None)[4]["valid_action"] is False
    *_, info = go(env, " CLICK[Buy Now] ")  # the one rule: case and surrounding whitespace aside
    assert info["state"]["page"] == "done"


def test_invalid_actions_use_up_steps_and_cap_truncates():
    env = WebShopEnv(max_steps=3)
    _, info = env.reset(seed=4)
    assert env.step("nonsense")[4]["state"]["steps_left"] == 2
    _, r, term, trunc, info = env.step(info["admissible_actions"][0])
    assert not (term or trunc)
    obs, r, term, trunc, info = env.step("click[next >]")
    assert trunc and not term and r == 0.0 and not info["success"] and info["admissible_actions"] == []
    obs, r, term, trunc, info = env.step("click[< prev]")  # stepping a finished episode does nothing
    assert term and info["valid_action"] is False and r == 0.0


def test_buying_pays_webshop_reward(env):
    _, info = env.reset(seed=5)
    go(env, info["admissible_actions"][0])
    index = env.page.page_results()[0]
    product = env.catalog[index]
    go(env, f"click[{product.asin.lower()}]")
    chosen = {}
    for name, values in product.options.items():
        go(env, f"click[{values[0]}]")
        chosen[name] = values[0]
    obs, reward, term, trunc, info = go(env, "click[buy now]")
    expected = purchase_reward(product, float(env.catalog.prices[index]), chosen, env.goal)
    assert term and not trunc and reward == pytest.approx(expected.total) == info["score"]
    assert info["success"] == (expected.total == 1.0) and info["reward_info"]["total"] == expected.total
    assert obs.startswith("Thank you for shopping with us!") and obs.endswith(f"{reward:.4f}")


def test_success_reward_pays_only_an_exact_purchase():
    """`reward="success"` (iStar's verifier): 1 for the oracle's purchase, 0 for a partial match; `score` unchanged."""
    env = WebShopEnv(num_products=1000, max_steps=15, reward="success")
    _, info = env.reset(seed=3)
    while True:
        obs, reward, term, _, info = go(env, env.expert_action())
        if term:
            break
    assert reward == 1.0 and info["score"] == 1.0 and info["success"]
    partial = []
    for seed in range(40):  # buy the first result as it comes (no options chosen): often partial credit
        _, info = env.reset(seed=seed)
        go(env, info["admissible_actions"][0])
        go(env, f"click[{env.catalog[env.page.page_results()[0]].asin.lower()}]")
        _, reward, term, _, info = go(env, "click[buy now]")
        if 0 < info["score"] < 1:
            partial.append(reward)
    assert partial and set(partial) == {0.0}
    with pytest.raises(ValueError, match="reward must be one of"):
        WebShopEnv(num_products=1000, reward="points")


def test_resets_pick_goals_by_index_split_and_seed(env):
    assert env.reset(seed=11)[1]["instruction"] == env.reset(seed=11)[1]["instruction"]
    goals = {env.reset(seed=s)[1]["goal_index"] for s in range(20)}
    assert len(goals) > 15 and all(g in env.goals.split("train") for g in goals)
    assert all(env.reset(seed=s, options={"split": "test"})[1]["goal_index"] < 500 for s in range(10))
    _, info = env.reset(options={"goal_index": 42, "split": "test"})
    assert info["goal_index"] == 42 and info["instruction"] == env.goals[42].instruction_text
    with pytest.raises(ValueError, match="goal_index 42 is not in split 'train'"):
        env.reset(options={"goal_index": 42})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"session": 3})
    with pytest.raises(ValueError, match="unknown split"):
        env.reset(options={"split": "dev"})
    with pytest.raises(ValueError, match="max_steps"):
        WebShopEnv(max_steps=0)


def test_registered_ids_pass_the_contract_checks():
    from envs.check import check_env_id

    assert "credo/WebShop-v0" in envs.cards() and "credo/WebShop-100k-v0" in envs.cards()
    assert envs.card("credo/WebShop-v0").family == "webshop"
    assert check_env_id("credo/WebShop-v0") == []
    env = envs.make("credo/WebShop-v0", max_steps=10)
    assert env.unwrapped.max_steps == 10 and len(env.unwrapped.catalog) == 1000


def test_real_webshop_files_with_human_goals(tmp_path):
    write_webshop_files(tmp_path)
    env = WebShopEnv(data_dir=str(tmp_path), human_goals=True, split="all")
    outcomes = []
    for goal_index in range(len(env.goals)):
        _, info = env.reset(options={"goal_index": goal_index})
        done = False
        while not done:
            _, reward, term, trunc, info = env.step(env.expert_action())
            done = term or trunc
        outcomes.append(info["success"])
    assert outcomes == [True, True]
    with pytest.raises(ValueError, match="needs data_dir"):
        WebShopEnv(num_products=100, human_goals=True)


def test_item_names_click_results_by_title(env):
    """`item_names=True` (WebShop's baseline `click_item_name`): results are offered and clicked by title."""
    named = WebShopEnv(num_products=1000, max_steps=15, item_names=True)
    for shop in (env, named):
        _, info = shop.reset(seed=3)
        go(shop, info["admissible_actions"][0])
    state = named.page
    titles = [named.catalog[i].name.lower() for i in state.page_results()]
    asins = [named.catalog[i].asin.lower() for i in state.page_results()]
    obs, _, _, _, info = named.step("click[next >]")
    obs, _, _, _, info = named.step("click[< prev]")
    assert info["admissible_actions"][2:] == [f"click[item - {t}]" for t in titles]
    assert obs == env._render()[0]  # the page shows the same text either way
    assert env._info(env._render()[1], True)["admissible_actions"][2:] == [f"click[{a}]" for a in asins]

    _, _, _, _, info = go(named, f"click[ITEM - {titles[3].upper()}]  ")  # credo's one rule: case and outer space
    assert info["state"]["page"] == "item" and info["state"]["asin"].lower() == asins[3]
    go(named, "click[< prev]", f"click[{asins[5]}]")  # an asin click stays valid, as in WebShop
    assert named.page.product == state.page_results()[5]

    named.step("click[< prev]")
    steps_left = named.max_steps - named.steps
    obs, reward, term, trunc, info = named.step("click[item - nonsense]")
    assert not info["valid_action"] and not term and reward == 0.0 and info["state"]["page"] == "results"
    assert obs.startswith(invalid_action_note("click[item - nonsense]") + "\nNo result on this page has that title")
    assert info["state"]["steps_left"] == steps_left - 1
    for bad in ("click[item - ]", f"click[item - {titles[0]}] extra", f"click[item - {titles[0][:-3]}]"):
        assert not named.step(bad)[4]["valid_action"], bad
    # the paper's site (the default) offers no title clicks and says so
    obs, _, _, _, info = env.step(f"click[item - {titles[0]}]")
    assert not info["valid_action"] and "item_names is off" in obs
    # a title click elsewhere than on a results page
    go(named, f"click[item - {titles[0]}]")
    obs, _, _, _, info = named.step(f"click[item - {titles[0]}]")
    assert not info["valid_action"] and "on a results page only" in obs


def test_item_names_titles_shared_on_a_page(tmp_path):
    """Two results with one title: the best-ranked is clicked by title, the other by its asin; the oracle
    clicks what the page offers and buys either."""
    items = [{"asin": f"B000AAA00{k}", "name": "Lumi Long Lasting Lip Gloss", "full_description": "A lip gloss.",
              "small_description": ["long lasting shine"], "pricing": "$12.99", "customization_options": {},
              "category": "beauty", "query": "lip gloss", "product_category": "Beauty"} for k in (1, 2)]
    items.append({**items[0], "asin": "B000AAA003", "name": "Crunchy Pretzels", "full_description": "Salty.",
                  "small_description": ["snack"], "query": "pretzels"})
    (tmp_path / "items_shuffle_1000.json").write_text(json.dumps(items))
    (tmp_path / "items_ins_v2_1000.json").write_text(json.dumps({
        f"B000AAA00{k}": {"attributes": ["long lasting"], "instruction": "i want a long lasting lip gloss",
                          "instruction_attributes": ["long lasting"]} for k in (1, 2)}))
    env = WebShopEnv(data_dir=str(tmp_path), split="all", item_names=True)
    for goal_index in range(len(env.goals)):
        _, info = env.reset(options={"goal_index": goal_index})
        go(env, "search[lip gloss]")
        first, second = env.page.page_results()[:2]
        asins = [env.catalog[i].asin.lower() for i in (first, second)]
        actions = env._info(env._render()[1], True)["admissible_actions"]
        assert actions.count("click[item - lumi long lasting lip gloss]") == 1
        assert f"click[{asins[1]}]" in actions and f"click[{asins[0]}]" not in actions
        target = env.goal.product_index
        assert env.expert_action() == ("click[item - lumi long lasting lip gloss]" if target == first
                                       else f"click[{asins[1]}]")
        go(env, "click[item - lumi long lasting lip gloss]")
        assert env.page.product == first
        go(env, "click[< prev]")
        done = False
        while not done:
            _, _, term, trunc, info = env.step(env.expert_action())
            assert info["valid_action"]
            done = term or trunc
        assert info["success"] and info["state"]["asin"] == env.catalog[target].asin

