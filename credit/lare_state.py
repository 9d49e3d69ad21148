"""What LaRe's code φ reads: an env's `info["state"]` without the outcome, plus the action when asked.

One place decides it, for both the states φ runs on (probe states, every training step) and the STATE FORM the
prompt describes, so the two never disagree:
- **outcome left out.** Each env family lists the state keys that are the episode's outcome or a proxy of it
  (`TextEnv.outcome_keys`: NetHack/MiniHack `score` and `progression`, TextWorld `points`, `won` and `lost`,
  the Gymnasium adapter's `return`). φ never sees them by default: a decoder fed factors that read the reward
  would learn r̂ by copying it, which is a leak, not credit assignment. `include_outcome=true` restores them (the
  leak-control ablation). Code that names a left-out key as a string is refused before it runs.
- **action added.** `include_action=true` adds the action text as `state["action"]` (the paper's MuJoCo φ(s, a)):
  the action of the step whose state φ reads, i.e. the action that led to it with `state_input=next` and the
  action taken in it with `state_input=current`; "" for a state no action led to (an episode's first state).
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from typing import Any

ACTION_KEY = "action"
ACTION_DOC = {
    "next": "the action text the agent sent at this step, the one that led to this state (\"\" for an "
            "episode's first state)",
    "current": "the action text the agent sent from this state at this step",
}


@dataclass(frozen=True)
class StateView:
    """The φ input of one run: which state keys are hidden and whether the action is added."""

    hidden: frozenset[str] = frozenset()
    """State keys φ does not see (the env's `outcome_keys`, empty with `include_outcome`)."""
    include_action: bool = False
    state_input: str = "next"
    """Which state of a step φ reads (LaReConfig.state_input); only changes how the action key is described."""

    def __call__(self, state: dict[str, Any], action: str = "") -> dict[str, Any]:
        """The dict φ receives for one step."""
        out = {k: v for k, v in state.items() if k not in self.hidden}
        if self.include_action:
            out[ACTION_KEY] = action
        return out

    def schema(self, schema: dict[str, str]) -> dict[str, str]:
        """The STATE FORM lines the prompt shows: the family's schema less the hidden keys, plus the action."""
        out = {k: v for k, v in schema.items() if k not in self.hidden}
        if self.include_action:
            out[ACTION_KEY] = ACTION_DOC.get(self.state_input, ACTION_DOC["next"])
        return out

    def reads_hidden(self, code: str) -> list[str]:
        """Hidden keys that `code` names as string literals (`state["score"]`, `state.get("won")`), sorted.

        A literal is what reading a key needs, so this catches code written for the outcome; code that does not
        parse returns [] (the sandbox's own check reports the syntax error).
        """
        if not self.hidden:
            return []
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return []
        names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        return sorted(names & self.hidden)


def schema_hash(schema: dict[str, str]) -> str:
    """A short fingerprint of a state schema as the prompt describes it (keys and descriptions): what recorded
    replies and cached code remember, so that code is never used on states it was not written for."""
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:10]
