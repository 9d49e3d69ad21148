"""Rubrics and reply parsing: ONI's lax behaviour by default, strict on request, never a crash."""

from __future__ import annotations

import pytest

from credo.config import ConfigError
from llm_judges.parsing import parse_keyword, parse_ranking, parse_score
from llm_judges.rubrics import get_rubric, load_rubrics, rubrics

FOO_BAR = {"FOO": 1.0, "BAR": 0.0}


def test_lax_classification_is_onis_foo_anywhere():
    assert parse_keyword("blah FOO blah", FOO_BAR) == 1.0
    assert parse_keyword("<label>BAR</label> though FOO was tempting", FOO_BAR) == 1.0  # FOO anywhere wins
    assert parse_keyword("<label>BAR</label>", FOO_BAR) == 0.0
    assert parse_keyword("no idea", FOO_BAR) == 0.0  # neither -> 0, as ONI
    assert parse_keyword("", FOO_BAR, lax_default=None) is None


def test_strict_classification_reads_only_the_label_tag():
    assert parse_keyword("FOO FOO <label> [BAR] </label>", FOO_BAR, strict=True) == 0.0
    assert parse_keyword("<label>FOO</label>", FOO_BAR, strict=True) == 1.0
    assert parse_keyword("FOO", FOO_BAR, strict=True) is None
    assert parse_keyword("<label>FOO or BAR</label>", FOO_BAR, strict=True) is None


def test_ranking_parser():
    assert parse_ranking('so ("best_description": 1)') == 0.0
    assert parse_ranking("Best_Description is 2") == 1.0
    assert parse_ranking('"best_description": None') == 0.5
    assert parse_ranking("I cannot decide") == 0.5  # lax: no match is a tie
    assert parse_ranking("I cannot decide", strict=True) is None
    assert parse_ranking('"best_description": 1 ... "best_description": 2', strict=True) is None
    assert parse_ranking('"best_description": None', strict=True) == 0.5


def test_score_parser():
    assert parse_score("good step\nScore: 7", 0, 10) == 7.0
    assert parse_score("I'd give it a score of 8.5 overall", 0, 10) == 8.5
    assert parse_score("I'd give it a score of 8.5 overall", 0, 10, strict=True) is None
    assert parse_score("Score: 42", 0, 10) is None
    assert parse_score("nothing numeric", 0, 10) is None


def test_builtin_rubrics_render_the_item_and_parse():
    names = set(rubrics())
    for goal in ("default", "gold", "combat", "stairs", "key", "door", "keyroom", "fountain"):
        assert {f"oni-cls-{goal}", f"oni-rank-{goal}"} <= names
    # the worked examples flip with the goal, and the failed pick-up on the up staircase never helps
    keyroom = get_rubric("oni-cls-keyroom").render("x")[-1]["content"]
    assert '"g - a key named The Master Key of Thievery." -> FOO' in keyroom
    assert '"$ - 12 gold pieces." -> BAR' in keyroom
    for goal in ("default", "stairs", "keyroom"):
        assert '"The stairs are solidly fixed to the floor." -> BAR' in get_rubric(f"oni-cls-{goal}").render("x")[-1][
            "content"]
    cls = get_rubric("oni-cls-gold")
    msgs = cls.render("You find 3 gold pieces.")
    assert msgs[0]["role"] == "system" and 'Message to rate: {"You find 3 gold pieces."}' in msgs[-1]["content"]
    assert "gold" in msgs[-1]["content"].split("Goal:")[1].splitlines()[0]
    assert cls.parse("<label>FOO</label>") == 1.0 and cls.parse("nothing") == 0.0
    assert cls.parse("nothing", strict=True) is None
    rank = get_rubric("oni-rank-default")
    text = rank.render(("You kill the newt!", "It's a wall."))[-1]["content"]
    assert '{"description_1": "You kill the newt!"}' in text and '{"description_2": "It\'s a wall."}' in text
    with pytest.raises(ValueError, match="compares pairs"):
        rank.render("just one")
    assert get_rubric("step-score").parse("Score: 3") == 3.0
    # goals change the prompt and hence the stored-label key
    assert get_rubric("oni-cls-gold").fingerprint != get_rubric("oni-cls-combat").fingerprint


def test_unknown_rubric_names_close_matches():
    with pytest.raises(KeyError, match="did you mean oni-cls-gold"):
        get_rubric("oni-cls-gol")


def test_user_rubrics_from_yaml(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("""rubrics:
  - name: polite
    template: "Is this polite? {item} Answer <label>YES</label> or <label>NO</label>."
    keywords: {"YES": 1, "NO": 0}
    lax_default: null
    positive: ["Thank you!"]
    negative: ["Go away."]
""")
    (r,) = load_rubrics(path)
    assert get_rubric("polite") is r
    assert r.parse("sure, YES") == 1.0 and r.parse("hmm") is None
    assert "Is this polite? hi there Answer" in r.render("hi there")[-1]["content"]


@pytest.mark.parametrize("body, match", [
    ("rubrics:\n  - name: x\n    template: no placeholder\n", "must contain {item}"),
    ("rubrics:\n  - name: x\n    kind: pair\n    template: '{first}'\n", "must contain {second}"),
    ("rubrics:\n  - name: x\n    template: '{item}'\n    colour: red\n", "colour: unknown key"),
    ("rubrics: 3\n", "expected a list of rubrics"),
    ("rubrics: [\n", "not valid YAML"),
])
def test_bad_rubric_files_are_one_line_errors(tmp_path, body, match):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=match) as err:
        load_rubrics(path)
    assert "\n" not in str(err.value)
