"""Rubrics: named prompt templates with their parser and what the embedding judge needs.

Built in (the ONI ones are in `llm_judges/oni_rubrics.py`, with their goals and anchors):
- `oni-cls-<goal>`: ONI/Motif message classification, FOO (very helpful) vs BAR (unhelpful, neutral,
  lukewarm) for one NetHack message; goals `default`, `gold`, `combat`, `stairs` (ONI's) and `key`, `door`,
  `keyroom`, `fountain` (MiniHack's sub-goals). Lax parsing (FOO anywhere -> 1, else 0) is the faithful default.
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
    per_sentence: bool = Field(False, description="Embedding judge: score each sentence of a text and keep the best "
                                                  "(for texts that join several events, as NetHack's message line).")
    margin: float | None = Field(None, description="Embedding judge: how much closer to `positive` than to `negative` "
                                                   "a text must be for the positive label (null: the judge's margin).")

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

_RUBRICS: dict[str, Rubric] = {}


def _registry() -> dict[str, Rubric]:
    """The rubrics by name, the built-in ones added on first use (`llm_judges.oni_rubrics` builds on `Rubric`)."""
    if STEP_SCORE.name not in _RUBRICS:
        from llm_judges.oni_rubrics import oni_rubrics

        _RUBRICS.update({r.name: r for r in [*oni_rubrics(), STEP_SCORE]})
    return _RUBRICS


def register_rubric(rubric: Rubric) -> None:
    """Add (or replace) a rubric under its name."""
    _registry()[rubric.name] = rubric


def rubrics() -> dict[str, Rubric]:
    """All known rubrics by name, sorted."""
    return dict(sorted(_registry().items()))


def get_rubric(name: str) -> Rubric:
    """The rubric called `name`; a one-line KeyError listing close names otherwise."""
    known = _registry()
    if name not in known:
        from difflib import get_close_matches

        close = get_close_matches(name, list(known), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(known))}"
        raise KeyError(f"unknown rubric {name!r}{hint}")
    return known[name]


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
