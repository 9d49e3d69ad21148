"""Turn a judge's free-text reply into a label value, the way ONI does (lax) or strictly.

Lax parsing is the faithful default (research/oni_lare.md §1.3): ONI gives label 1 when `FOO` appears
anywhere in the reply, 0 otherwise, and reads a ranking reply with a forgiving search for
`best_description`, treating "None" or no match as a tie. Strict parsing only accepts the answer in the
place the prompt asks for it (the `<label>` tag, a single `best_description`, a `Score:` line) and returns
None ("no label") otherwise; it changes the label distribution, so it is an option, not the default.
A parser never raises: whatever the reply, the result is a number or None.
"""

from __future__ import annotations

import re

_LABEL_TAG = re.compile(r"<label>(.*?)</label>", re.IGNORECASE | re.DOTALL)
# "best_description", optional punctuation, at most one word ("is", "description"...), then 1, 2 or None.
_RANK = re.compile(r"best_description\W*(?:[a-z_]+\W+)?(1|2|none)\b", re.IGNORECASE)
_SCORE_LINE = re.compile(r"^\s*score\s*[:=]\s*(-?\d+(?:\.\d+)?)\s*$", re.IGNORECASE | re.MULTILINE)
_SCORE_ANY = re.compile(r"score\W{0,3}(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)(?![\w.])")


def parse_keyword(reply: str, keywords: dict[str, float], lax_default: float | None = 0.0,
                  strict: bool = False) -> float | None:
    """Classification by keyword.

    Lax (ONI): the first keyword, in `keywords` order, found anywhere in the reply wins; when none is found
    the result is `lax_default` (ONI: 0, i.e. "BAR"). Strict: the last `<label>...</label>` must contain
    exactly one of the keywords, else None.
    """
    if strict:
        tags = _LABEL_TAG.findall(reply)
        if not tags:
            return None
        found = [kw for kw in keywords if kw in tags[-1]]
        return keywords[found[0]] if len(found) == 1 else None
    for kw, value in keywords.items():
        if kw in reply:
            return value
    return lax_default


def parse_ranking(reply: str, strict: bool = False) -> float | None:
    """Pairwise preference: 0.0 = first is better, 1.0 = second, 0.5 = tie.

    Lax (ONI): the first `best_description ... 1|2|None` match decides; "None" or no match is a tie (0.5).
    Strict: exactly one distinct answer must be present; no match is None ("no label"), an explicit None a tie.
    """
    answers = [m.lower() for m in _RANK.findall(reply)]
    if strict and len(set(answers)) != 1:
        return None
    if not answers:
        return 0.5
    return {"1": 0.0, "2": 1.0}.get(answers[0], 0.5)


def parse_score(reply: str, low: float, high: float, strict: bool = False) -> float | None:
    """A number in [low, high].

    Strict: the last line of the form `Score: N`. Lax: the last "score N" anywhere, else the last number in
    range. Out-of-range or missing: None.
    """
    found = _SCORE_LINE.findall(reply)
    if not found and not strict:
        found = _SCORE_ANY.findall(reply) or [n for n in _NUMBER.findall(reply) if low <= float(n) <= high]
    if not found:
        return None
    value = float(found[-1])
    return value if low <= value <= high else None
