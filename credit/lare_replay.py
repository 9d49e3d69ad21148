"""A judge that replays recorded LLM replies, call by call: LaRe without an LLM (tests, demos, reproductions).

A replies file is JSON: `{"family": "textworld", "schema": "<hash>", "calls": [{"n": 5, "replies": ["...", ...]},
{"n": 1, "replies": ["..."]}, ...]}`; the i-th `complete` call gets the i-th entry. `family` and `schema` say which
env family and state schema (`credit.lare_state.schema_hash` of the STATE FORM the prompt showed) the replies were
written for: replaying them for another is a one-line `ConfigError`, since code written for other keys reads
defaults everywhere and looks like it works. Other keys (a label saying the replies are recorded, where they came
from) are ignored. A run's own `dialogue.json` has the same keys, so any run can be replayed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from credo.config import ConfigError
from llm_judges.base import Item, Judge, JudgeError, Label


class ReplayJudge(Judge):
    """Answers `complete` from a recorded list of calls, in order; `annotate` is not recorded."""

    name = "replay"

    def __init__(self, path: str | Path, family: str, schema: str) -> None:
        """Load `path`, recorded for env `family` and state schema hash `schema` (a mismatch is refused)."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"lare: recorded replies file {str(path)!r} does not exist") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"lare: recorded replies file {str(path)!r} is not JSON (line {err.lineno})") from None
        calls = data.get("calls") if isinstance(data, dict) else None
        if not isinstance(calls, list) or not all(
                isinstance(c, dict) and isinstance(c.get("replies"), list) for c in calls):
            raise ConfigError(f'lare: {str(path)!r} must hold {{"calls": [{{"replies": [...]}}, ...]}}')
        written = (data.get("family"), data.get("schema"))
        if written == (None, None):
            raise ConfigError(f"lare: recorded replies {str(path)!r} do not say which env family and state schema "
                              f'they were written for; if this env\'s: add "family": "{family}", "schema": "{schema}"')
        if written != (family, schema):
            raise ConfigError(f"lare: recorded replies {str(path)!r} were written for the {written[0]} env family "
                              f"(state schema {written[1]}), not this env's {family} family (state schema {schema}); "
                              "record replies for this env or pass credit_config.lare.code_file")
        self.path = str(path)
        self.calls: list[list[str]] = [[str(r) for r in c["replies"]] for c in calls]
        self.used = 0

    async def complete(self, messages: list[dict[str, str]], *, n: int = 1, temperature: float = 1.0,
                       max_tokens: int = 1024, json_mode: bool = False, **kwargs: Any) -> list[str]:
        if self.used >= len(self.calls):
            raise JudgeError(f"{self.path}: all {len(self.calls)} recorded calls are used up")
        replies = self.calls[self.used]
        self.used += 1
        if len(replies) < n:
            raise JudgeError(f"{self.path}: call {self.used} recorded {len(replies)} replies, {n} were asked for")
        return replies[:n]

    async def annotate(self, items: list[Item], rubric: str) -> list[Label]:
        raise JudgeError("the replay judge only replays `complete` calls")
