"""A judge that replays recorded LLM replies, call by call: LaRe without an LLM (tests, demos, reproductions).

A replies file is JSON: `{"calls": [{"n": 5, "replies": ["...", ...]}, {"n": 1, "replies": ["..."]}, ...]}`;
the i-th `complete` call gets the i-th entry. Other keys (a label saying the replies are recorded, where they
came from) are ignored. A run's own `dialogue.json` has the same `calls` list, so any run can be replayed.
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

    def __init__(self, path: str | Path) -> None:
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
