"""Rubrics: named prompt templates with their parser and what the embedding judge needs.

Built in (prompts written for credo from the descriptions in research/oni_lare.md §1.3, not copied):
- `oni-cls-<goal>`: ONI/Motif message classification, FOO (very helpful) vs BAR (unhelpful, neutral,
  lukewarm) for one NetHack message; goals `default`, `gold`, `combat`, `stairs`. Lax parsing (FOO
  anywhere -> 1, else 0) is the faithful default.
- `oni-rank-<goal>`: ONI-Ranking/Motif pairwise preference between two messages; 0 first, 1 second, 0.5 tie
  (also `oni-rank-zeroknowledge`, ONI's ranking variant with no goal sentence).
- `step-score`: generic LLM-as-judge, "score this step 0-10".

Users add their own in YAML (`load_rubrics(path)`), a list under `rubrics:` with the fields of `Rubric`:

    rubrics:
      - name: polite
        system: You judge customer-service replies.
        template: "Is this reply polite? {item}\\nAnswer <label>YES</label> or <label>NO</label>."
        parser: keyword
        keywords: {"YES": 1, "NO": 0}
        positive: ["Thank you, happy to help."]
        negative: ["Go away."]

Templates use `{item}` (single rubrics) or `{first}` / `{second}` (pair rubrics); nothing else in the
template is interpreted, so JSON braces in the text are safe.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, model_validator

from credo.config import Config, ConfigError
from llm_judges.base import Item
from llm_judges.parsing import parse_keyword, parse_ranking, parse_score


class Rubric(Config):
    """One way of judging: the prompt, how to read the reply, and the embedding judge's anchors."""

    name: str = Field(..., min_length=1, description="Name clients use to ask for this rubric.")
    description: str = Field("", description="One line shown by `credo judge rubrics`.")
    kind: Literal["single", "pair"] = Field("single", description="'single': label one text; 'pair': prefer one of two.")
    system: str = Field("", description="System message sent before the user prompt (empty: none).")
    template: str = Field(..., description="User prompt; `{item}` (single) or `{first}`/`{second}` (pair) are replaced.")
    parser: Literal["keyword", "ranking", "score"] = Field(
        "keyword", description="How a reply becomes a value: keyword classification, pairwise ranking, or a score.")
    keywords: dict[str, float] = Field(
        default_factory=lambda: {"FOO": 1.0, "BAR": 0.0},
        description="keyword parser: keyword -> value; in lax mode the first one found anywhere wins (order matters).")
    lax_default: float | None = Field(
        0.0, description="keyword parser, lax mode: value when no keyword is found (ONI: 0); null = no label.")
    score_range: tuple[float, float] = Field((0.0, 10.0), description="score parser: the accepted [low, high] range.")
    json_mode: bool = Field(False, description="Ask the back-end for a JSON reply (OpenAI response_format).")
    positive: list[str] = Field(
        default_factory=list, description="Embedding judge: descriptions of what deserves the positive label.")
    negative: list[str] = Field(
        default_factory=list, description="Embedding judge: descriptions of what deserves the negative label.")
    positive_value: float = Field(1.0, description="Embedding judge: the value given to texts closer to `positive`.")
    negative_value: float = Field(0.0, description="Embedding judge: the value given to texts closer to `negative`.")

    @model_validator(mode="after")
    def _check(self) -> Rubric:
        needed = ["{item}"] if self.kind == "single" else ["{first}", "{second}"]
        missing = [p for p in needed if p not in self.template]
        if missing:
            raise ValueError(f"rubric {self.name!r}: template must contain {' and '.join(missing)}")
        if self.parser == "keyword" and not self.keywords:
            raise ValueError(f"rubric {self.name!r}: the keyword parser needs at least one keyword")
        if self.score_range[0] >= self.score_range[1]:
            raise ValueError(f"rubric {self.name!r}: score_range must be [low, high] with low < high")
        return self

    def check_item(self, item: Item) -> None:
        """Raise a one-line ValueError when `item` does not fit this rubric's kind."""
        if self.kind == "single" and not isinstance(item, str):
            raise ValueError(f"rubric {self.name!r} labels single texts, got {type(item).__name__}")
        if self.kind == "pair" and not (isinstance(item, tuple | list) and len(item) == 2
                                        and all(isinstance(x, str) for x in item)):
            raise ValueError(f"rubric {self.name!r} compares pairs of texts, got {item!r:.60}")

    def render(self, item: Item) -> list[dict[str, str]]:
        """The chat messages asking the judge about `item`."""
        self.check_item(item)
        if self.kind == "single":
            user = self.template.replace("{item}", str(item))
        else:
            user = self.template.replace("{first}", item[0]).replace("{second}", item[1])
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": user}]

    def parse(self, reply: str, strict: bool = False) -> float | None:
        """The label value in `reply`, or None when it cannot be read (never raises)."""
        if self.parser == "keyword":
            return parse_keyword(reply, self.keywords, None if strict else self.lax_default, strict)
        if self.parser == "ranking":
            return parse_ranking(reply, strict)
        return parse_score(reply, *self.score_range, strict=strict)

    @property
    def fingerprint(self) -> str:
        """Short hash of everything that changes a label: stored labels are keyed on it."""
        data = self.model_dump(exclude={"description"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# --- ONI / Motif message rubrics ------------------------------------------------------------------------

NETHACK_SYSTEM = (
    "You are a careful and honest judge of play in the game NetHack. You know the game well and you judge "
    "whether what happens to the player is good for their progress. When you do not know something, say so "
    "rather than make it up."
)

GOALS: dict[str, str] = {
    "default": "The player wants a high score: kill monsters, pick up gold, and go down the dungeon as deep as possible.",
    "gold": "The player wants to collect as much gold as possible; nothing else matters.",
    "combat": "The player wants to defeat as many monsters as possible; nothing else matters.",
    "stairs": "The player wants to find the staircase down and descend to deeper levels; nothing else matters.",
}

# Worked examples: (message, {goal: FOO/BAR}); labels change with the goal, the closed door never helps.
_EXAMPLES: list[tuple[str, dict[str, str]]] = [
    ("You kill the jackal! Welcome to experience level 3.",
     {"default": "FOO", "gold": "BAR", "combat": "FOO", "stairs": "BAR"}),
    ("You hear the footsteps of a guard on patrol.",
     {"default": "FOO", "gold": "FOO", "combat": "BAR", "stairs": "BAR"}),
    ("12 gold pieces.", {"default": "FOO", "gold": "FOO", "combat": "BAR", "stairs": "BAR"}),
    ("There is a staircase down here.", {"default": "FOO", "gold": "BAR", "combat": "BAR", "stairs": "FOO"}),
    ("This door is locked.", {"default": "BAR", "gold": "BAR", "combat": "BAR", "stairs": "BAR"}),
]

_CLS_TEMPLATE = """Context: I am playing NetHack, and I will show you one message the game printed.
First say what you know about NetHack and what the player is trying to achieve. Then analyse the message and \
decide whether the situation it describes helps the player progress. "Helpful" means good for progress in the \
game, not merely informative.
Goal: {goal}
If the message is very helpful, answer FOO. If it is unhelpful, neutral or only mildly useful, answer BAR.
Examples:
{examples}
Message to rate: {{"{{item}}"}}
Reply in exactly this form: <knowledge>...</knowledge> <analysis>...</analysis> <label>FOO or BAR</label>"""

_RANK_TEMPLATE = """I will show you two short descriptions of moments in a game of NetHack.
First say what you know about NetHack and what the player is trying to achieve. {goal}
Analyse each description on its own, then compare them from first principles, and finally say which one more \
likely shows progress toward that goal, written as ("best_description": 1), ("best_description": 2), or \
("best_description": None) when neither does.
{{"description_1": "{{first}}"}}
{{"description_2": "{{second}}"}}"""

# What the embedding judge compares messages with, per goal (the limits are in llm_judges/README.md).
_ANCHORS: dict[str, tuple[list[str], list[str]]] = {
    "default": (
        ["You kill the monster!", "Welcome to experience level 5.", "You find 20 gold pieces.",
         "You climb down the stairs to a deeper level.", "You feel more experienced.", "You pick up a magic wand."],
        ["That door is closed.", "It's a wall.", "It's solid stone.", "You can't move there.", "Nothing happens.",
         "Never mind.", "You miss it.", "It bites you!", "You are hungry.", "Unknown command.",
         "Hello, welcome to the game."]),
    "gold": (
        ["You find 20 gold pieces.", "You pick up gold coins.", "You hear someone counting money.",
         "There is a pile of gold here."],
        ["That door is closed.", "You kill the monster!", "Nothing happens.", "The jackal bites!",
         "It's a wall.", "Unknown command."]),
    "combat": (
        ["You kill the monster!", "You destroy the zombie!", "You hit the goblin.",
         "Welcome to experience level 5."],
        ["That door is closed.", "You find 20 gold pieces.", "Nothing happens.", "You miss it.",
         "It's a wall.", "Unknown command."]),
    "stairs": (
        ["There is a staircase down here.", "You climb down the stairs to a deeper level.",
         "You see a staircase leading down.", "You enter a new dungeon level."],
        ["That door is closed.", "You find 20 gold pieces.", "You kill the monster!", "Nothing happens.",
         "It's a wall.", "Unknown command."]),
}


def _oni_rubrics() -> list[Rubric]:
    out = [Rubric(  # ONI-Ranking's "zeroknowledge" goal: no goal sentence at all
        name="oni-rank-zeroknowledge", kind="pair", system=NETHACK_SYSTEM, parser="ranking",
        description="ONI-Ranking/Motif without a goal sentence (the 'zeroknowledge' goal key)",
        template=_RANK_TEMPLATE.format(goal="").replace(" \n", "\n"),
        positive=_ANCHORS["default"][0], negative=_ANCHORS["default"][1])]
    for goal, sentence in GOALS.items():
        examples = "\n".join(f'- "{msg}" -> {labels[goal]}' for msg, labels in _EXAMPLES)
        positive, negative = _ANCHORS[goal]
        out.append(Rubric(
            name=f"oni-cls-{goal}", kind="single", system=NETHACK_SYSTEM, parser="keyword",
            description=f"ONI/Motif: is this NetHack message very helpful (1) or not (0)? goal: {goal}",
            template=_CLS_TEMPLATE.format(goal=sentence, examples=examples),
            keywords={"FOO": 1.0, "BAR": 0.0}, lax_default=0.0, positive=positive, negative=negative))
        out.append(Rubric(
            name=f"oni-rank-{goal}", kind="pair", system=NETHACK_SYSTEM, parser="ranking",
            description=f"ONI-Ranking/Motif: which of two NetHack messages shows more progress? goal: {goal}",
            template=_RANK_TEMPLATE.format(goal=sentence), positive=positive, negative=negative))
    return out


STEP_SCORE = Rubric(
    name="step-score", kind="single", parser="score", score_range=(0.0, 10.0),
    description="Generic LLM-as-judge: how much does this step advance the task, 0-10?",
    system="You are a strict, fair judge of an agent's actions in an interactive task.",
    template=("Here is one step of an agent working on a task (the task, what it saw, what it did):\n{item}\n"
              "How much does this step advance the task? 0 means useless or harmful, 10 means it clearly makes "
              "decisive progress. Explain briefly, then end with one line of the form `Score: N`."),
    positive=["The agent makes clear progress toward completing the task.", "The action achieves the goal."],
    negative=["The action is useless or repeats itself.", "The action is invalid or harmful to the task."],
    positive_value=10.0, negative_value=0.0,
)

_RUBRICS: dict[str, Rubric] = {r.name: r for r in [*_oni_rubrics(), STEP_SCORE]}


def register_rubric(rubric: Rubric) -> None:
    """Add (or replace) a rubric under its name."""
    _RUBRICS[rubric.name] = rubric


def rubrics() -> dict[str, Rubric]:
    """All known rubrics by name, sorted."""
    return dict(sorted(_RUBRICS.items()))


def get_rubric(name: str) -> Rubric:
    """The rubric called `name`; a one-line KeyError listing close names otherwise."""
    if name not in _RUBRICS:
        from difflib import get_close_matches

        close = get_close_matches(name, list(_RUBRICS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(_RUBRICS))}"
        raise KeyError(f"unknown rubric {name!r}{hint}")
    return _RUBRICS[name]


def load_rubrics(path: str | Path) -> list[Rubric]:
    """Read user rubrics from YAML (a list under `rubrics:`), register them, and return them.

    A wrong file or field is a one-line `ConfigError` naming it.
    """
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such rubric file") from None
    except yaml.YAMLError:
        raise ConfigError(f"{path}: is not valid YAML") from None
    entries = data.get("rubrics") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected a list of rubrics under the key 'rubrics'")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: rubrics.{i}: expected a mapping of rubric fields")
        rubric = Rubric.build(entry, source=f"{path}: rubrics.{i}")
        register_rubric(rubric)
        out.append(rubric)
    return out
