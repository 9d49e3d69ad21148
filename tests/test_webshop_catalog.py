"""WebShop catalogue: the generator is deterministic, realistic and lean; the loader reads WebShop's file format."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from envs.webshop import vocab
from envs.webshop.catalog import NO_ATTRIBUTE, TYPE_ATTRIBUTES, GeneratedCatalog, load_webshop_catalog


def test_same_seed_same_catalogue_other_seed_other_catalogue():
    a, b, c = GeneratedCatalog(500, seed=7), GeneratedCatalog(500, seed=7), GeneratedCatalog(500, seed=8)
    assert [a[i] for i in range(0, 500, 37)] == [b[i] for i in range(0, 500, 37)]
    assert np.array_equal(a.prices, b.prices)
    assert sum(a[i].name != c[i].name for i in range(50)) > 40


def test_products_are_realistic_and_consistent():
    cat = GeneratedCatalog(2000, seed=0)
    products = [cat[i] for i in range(2000)]
    assert len({p.asin for p in products}) == 2000
    assert all(len(p.asin) == 10 and p.asin.startswith("B0") for p in products)
    assert Counter(p.category for p in products).keys() == vocab.CATEGORIES.keys()
    for i, p in enumerate(products[:300]):
        assert 2 <= len(p.attributes) <= 5 and set(p.attributes) <= set(TYPE_ATTRIBUTES[cat.type_id[i]])
        assert len(set(p.attributes)) == len(p.attributes)
        assert set(p.instruction_attributes) <= set(p.attributes) and p.instruction_attributes
        assert all(a in p.instruction_text for a in p.instruction_attributes)
        noun = next(t.noun for t in vocab.CATEGORIES[p.category].types if t.query == p.query)
        assert noun in p.instruction_text and noun in p.name.lower()
        assert p.product_category.startswith(vocab.CATEGORIES[p.category].root + " › ")
        assert len(p.bullet_points) == len(p.attributes) and p.description
        for name, values in p.options.items():
            assert name == name.lower() and 2 <= len(values) <= 5 and len(set(values)) == len(values)
            assert all(v == v.lower() and "/" not in v for v in values)
        lo, *hi = (float(x) for x in p.price_tag.replace("$", "").split(" to "))
        assert lo <= p.price <= (hi[0] if hi else lo)
    assert 0.15 < np.mean([" to " in p.price_tag for p in products]) < 0.35  # some products have a price range
    assert np.mean([bool(p.options) for p in products]) > 0.8


def test_asin_lookup_round_trips_and_rejects_unknown():
    cat = GeneratedCatalog(3000, seed=1)
    for i in (0, 1, 1234, 2999):
        assert cat.index_of(cat[i].asin) == i
        assert cat.index_of(cat[i].asin.lower()) == i
    assert cat.index_of("B0!!!!!!!!") is None and cat.index_of("nonsense") is None
    rng = np.random.default_rng(0)
    random_asins = ["B0" + "".join(rng.choice(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 8)) for _ in range(500)]
    found = [cat.index_of(a) for a in random_asins]
    assert all(i is None or cat[i].asin == a for i, a in zip(found, random_asins, strict=True))
    assert found.count(None) >= 499  # 3,000 products among 36**8 codes
    with pytest.raises(IndexError):
        cat[3000]


def test_index_text_is_what_webshop_indexes():
    p = GeneratedCatalog(50, seed=0)[3]
    text = p.index_text()
    assert text == text.lower()
    assert p.name.lower() in text and p.bullet_points[0].lower() in text and p.description.lower() in text
    for name, values in p.options.items():
        assert f"{name}: {', '.join(values)}" in text


def test_goal_counts_are_option_combinations():
    cat = GeneratedCatalog(300, seed=2)
    counts = cat.goal_counts()
    for i in range(0, 300, 17):
        assert counts[i] == int(np.prod([len(v) for v in cat[i].options.values()]))


def test_100k_catalogue_is_fast_and_lean():
    cat = GeneratedCatalog(100_000, seed=0)
    arrays = sum(v.nbytes for v in vars(cat).values() if isinstance(v, np.ndarray))
    assert arrays < 50e6, f"catalogue arrays take {arrays / 1e6:.0f} MB"
    assert cat[99_999].asin != cat[0].asin


def write_webshop_files(folder, human: bool = True) -> None:
    """Tiny files in WebShop's formats (items_shuffle, items_ins_v2, items_human_ins)."""
    items = [
        {"asin": "B000AAA001", "name": "Lumi Long Lasting Lip Gloss", "full_description": "A glossy lip gloss.",
         "small_description": ["LONG LASTING shine", "vegan formula"], "pricing": "$12.99",
         "customization_options": {"Color": [{"value": "Rose/Pink", "image": None}, {"value": "Berry", "image": None}],
                                   "Size": [{"value": "0.5 Ounce"}]},
         "category": "beauty", "query": "Lip Gloss ", "product_category": "Beauty › Makeup › Lips"},
        {"asin": "B000AAA002", "name": "Crunchy Gluten Free Pretzels", "full_description": "Salty.",
         "small_description": "snack time", "pricing": "$5.00 - $9.00", "customization_options": None,
         "category": "food", "query": "pretzels", "product_category": "Grocery › Snacks › Pretzels"},
        {"asin": "nan", "name": "skipped", "pricing": "", "customization_options": {}},
        {"asin": "B000AAA001", "name": "duplicate, skipped", "pricing": "", "customization_options": {}},
        {"asin": "B000AAA00100", "name": "asin too long, skipped", "pricing": "", "customization_options": {}},
        {"asin": "B000AAA003", "name": "No Price Lamp", "full_description": "", "small_description": [],
         "pricing": "", "customization_options": {}, "category": "furniture", "query": "lamp",
         "product_category": "Home › Lighting"},
    ]
    (folder / "items_shuffle_1000.json").write_text(json.dumps(items))
    (folder / "items_ins_v2_1000.json").write_text(json.dumps({
        "B000AAA001": {"attributes": ["long lasting", "vegan"], "instruction": "i want a long lasting lip gloss.",
                       "instruction_attributes": ["long lasting"]},
        "B000AAA002": {"attributes": ["gluten free"], "instruction": "i need gluten free pretzels",
                       "instruction_attributes": ["gluten free"]},
    }))
    if human:
        (folder / "items_human_ins.json").write_text(json.dumps({
            "B000AAA001": [{"asin": "B000AAA001", "instruction": "i need a rose pink lip gloss that lasts long.",
                            "instruction_attributes": ["long lasting"], "instruction_options": ["rose pink"]},
                           {"asin": "B000AAA001", "instruction": "no attributes: dropped",
                            "instruction_attributes": [], "instruction_options": []}],
            "B000AAA002": [{"asin": "B000AAA002", "instruction": "gluten free pretzels please",
                            "instruction_attributes": ["gluten free"], "instruction_options": []}],
        }))


def test_loader_reads_webshop_files(tmp_path):
    write_webshop_files(tmp_path)
    cat = load_webshop_catalog(tmp_path)
    assert [p.asin for p in cat.products] == ["B000AAA001", "B000AAA002", "B000AAA003"]
    gloss, pretzels, lamp = cat.products
    assert gloss.options == {"color": ["rose | pink", "berry"], "size": ["0.5 ounce"]}
    assert gloss.price == 12.99 and gloss.price_tag == "$12.99" and gloss.query == "lip gloss"
    assert gloss.attributes == ["long lasting", "vegan"] and gloss.instruction_attributes == ["long lasting"]
    assert pretzels.price_tag == "$5.0 to $9.0" and 5.0 <= pretzels.price <= 9.0
    assert pretzels.bullet_points == ["snack time"]
    assert lamp.price == 100.0 and lamp.attributes == [NO_ATTRIBUTE] and lamp.instruction_text is None
    assert cat.index_of("B000AAA002") == 1 and cat.index_of("B0NOTTHERE") is None
    assert list(cat.goal_counts()) == [2, 1, 0]
    assert load_webshop_catalog(tmp_path).key == cat.key
    assert load_webshop_catalog(tmp_path, human_goals=True).products[0].instruction_text is None


def test_loader_errors_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_webshop_catalog(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no items_shuffle"):
        load_webshop_catalog(tmp_path)
    (tmp_path / "items_shuffle.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_webshop_catalog(tmp_path)
