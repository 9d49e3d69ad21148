"""Action names for NLE/MiniHack tasks: "north", "far east", "pickup", "esc"... and their parser.

NLE actions are `IntEnum` members whose value is the keycode sent to NetHack. A task's action set is
`env.unwrapped.actions`; `ActionSet` names each member (from its enum class and member name, so every
NLE action has a name without a hand-written table) and parses text back to the member's index.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from nle import nethack

from envs.core import action_key

_COMPASS = {"N": "north", "E": "east", "S": "south", "W": "west",
            "NE": "northeast", "SE": "southeast", "SW": "southwest", "NW": "northwest"}
_TEXT_CHARACTERS = {"PLUS": "plus", "MINUS": "minus", "SPACE": "space", "APOS": "apostrophe",
                    "QUOTE": "quote", "DOLLAR": "dollar"}
_CHOICES = re.compile(r"\[([a-zA-Z$\- ]+?)(?: or [^\]]*)?\]")
"""The key choices of a NetHack question: "[fghi or ?*]", "[a-c or ?*]", "[ynq]"."""


def action_name(action: int) -> str:
    """The name of one NLE action enum member (e.g. `CompassDirectionLonger.E` -> "far east")."""
    kind = type(action).__name__
    member = action.name
    if kind.startswith("Compass"):  # also the Cardinal/Intercardinal subsets (Boxoban moves only N, E, S, W)
        return ("far " if kind.endswith("Longer") else "") + _COMPASS[member]
    if kind == "TextCharacters":
        return _TEXT_CHARACTERS.get(member, member.removeprefix("NUM_"))
    return member.lower()


class ActionSet:
    """The names of one task's actions, in the task's own order, and the text -> index parser.

    An action is one of the names ("far east"), matched by credo's one rule (`envs.core.action_key`: case and
    surrounding whitespace aside, nothing else). A NetHack question answered by a key ("What do you want to eat?
    [fg or ?*]") is answered with the name of the action that presses it, which the observation's "Keys:" line
    gives (`key_hint`).
    """

    def __init__(self, actions: Sequence[int]) -> None:
        self.actions = tuple(actions)
        self.names = [action_name(a) for a in self.actions]
        self._by_name = {action_key(name): i for i, name in reversed(list(enumerate(self.names)))}
        self._by_key = {chr(int(a)): i for i, a in reversed(list(enumerate(self.actions)))
                        if chr(int(a)) in string.printable and not chr(int(a)).isspace()}

    def __len__(self) -> int:
        return len(self.actions)

    def parse(self, text: str) -> int | None:
        """Index of the action `text` names in this set, or None when it names none."""
        key = action_key(text)
        return None if key is None else self._by_name.get(key)

    def key_hint(self, question: str) -> str:
        """Which action presses each key a NetHack question offers, e.g. "Keys: f = fire, g = rush".

        A question such as "What do you want to eat? [fg or ?*]" is answered by pressing a letter, which is
        the keycode of some named action; "" when the question offers no key this set can press.
        """
        found = _CHOICES.findall(question)
        if not found:
            return ""
        keys = re.sub(r"([a-zA-Z])-([a-zA-Z])",
                      lambda m: "".join(chr(c) for c in range(ord(m[1]), ord(m[2]) + 1)), found[-1].replace(" ", ""))
        pairs = [f"{key} = {self.names[self._by_key[key]]}" for key in dict.fromkeys(keys) if key in self._by_key]
        return "Keys: " + ", ".join(pairs) if pairs else ""

    def uses_items(self) -> bool:
        """Whether any action acts on inventory items (then the observation shows the inventory)."""
        return any(a in _ITEM_COMMANDS for a in self.actions)


_ITEM_COMMANDS = frozenset({
    nethack.Command.APPLY, nethack.Command.DROP, nethack.Command.EAT, nethack.Command.FIRE,
    nethack.Command.PUTON, nethack.Command.QUAFF, nethack.Command.QUIVER, nethack.Command.READ,
    nethack.Command.REMOVE, nethack.Command.TAKEOFF, nethack.Command.THROW, nethack.Command.WEAR,
    nethack.Command.WIELD, nethack.Command.ZAP, nethack.Command.CAST,
})
