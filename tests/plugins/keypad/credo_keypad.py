"""`keypad/Keypad-v0`: open `doors` doors in a row by typing the code each door's screen shows.

The right action copies text from the observation (`try 4719` when the screen shows 4719); the wrong ones are
other codes of the same length, and `hint`, a short action that only repeats the rules. Reward 1 when the last
door opens. Random play opens both doors within the 4 steps ~18% of the time; reading the screen opens them in 2.
It is a third-party env: registered through the `credo.envs` entry point of its own package, nothing in credo.
"""

from __future__ import annotations

from typing import Any

import envs
from envs.core import TextEnv, action_key, invalid_action_note

HINT = "hint"


class KeypadEnv(TextEnv):
    """Doors with codes on screens (module docstring)."""

    family = "keypad"
    state_schema = {"door": "index of the door to open (0-based)", "code": "the code the screen shows",
                    "opened": "doors opened so far"}

    def __init__(self, doors: int = 2, digits: int = 4, decoys: int = 3, max_steps: int = 4,
                 render_mode: str | None = None) -> None:
        super().__init__(render_mode)
        self.doors, self.digits, self.decoys, self.max_steps = doors, digits, decoys, max_steps
        self.codes: list[str] = []
        self.actions: list[str] = []
        self.opened = self.t = 0

    def _code(self) -> str:
        return "".join(str(int(d)) for d in self.np_random.integers(0, 10, self.digits))

    def _new_door(self) -> None:
        """The door's code and its shuffled action list (the right code, decoy codes, `hint`)."""
        code = self.codes[self.opened]
        decoys: set[str] = set()
        while len(decoys) < self.decoys:
            other = self._code()
            if other != code:
                decoys.add(other)
        actions = [f"try {c}" for c in [code, *sorted(decoys)]] + [HINT]
        self.actions = [actions[i] for i in self.np_random.permutation(len(actions))]

    def _screen(self) -> str:
        return f"door {self.opened + 1} of {self.doors} . the screen shows {self.codes[self.opened]}"

    def _info(self, valid: bool) -> dict[str, Any]:
        won = self.opened == self.doors
        return {"instruction": f"open the {self.doors} doors", "admissible_actions": [] if won else list(self.actions),
                "valid_action": valid, "success": won, "score": self.opened / self.doors,
                "state": {"door": self.opened, "code": "" if won else self.codes[self.opened], "opened": self.opened}}

    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.codes = [self._code() for _ in range(self.doors)]
        self.opened = self.t = 0
        self._new_door()
        return self._screen(), self._info(True)

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.t += 1  # every step counts, invalid ones too
        named = {action_key(a): a for a in self.actions}.get(action_key(action))  # credo's one action rule
        valid = named is not None
        if not valid:
            obs = f"{invalid_action_note(action)} {self._screen()}"
        elif named == HINT:
            obs = f"hint : type try and the code . {self._screen()}"
        elif named == f"try {self.codes[self.opened]}":
            self.opened += 1
            if self.opened == self.doors:
                obs = "the last door opens"
            else:
                self._new_door()
                obs = f"the door opens . {self._screen()}"
        else:
            obs = f"wrong code . {self._screen()}"
        won = self.opened == self.doors
        return obs, float(won), won, self.t >= self.max_steps and not won, self._info(valid)


def register() -> None:
    envs.register("keypad/Keypad-v0", entry_point="credo_keypad:KeypadEnv", family="keypad",
                  instruction_example="open the 2 doors")
