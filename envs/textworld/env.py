"""`TextWorldEnv`: a TextWorld challenge game as a credo text env (one id = one challenge level, games by seed).

Contract choices (see envs/README.md):
- An id is a family of `num_games` games (default 100). `reset(seed=k)` plays game `first_game + k % num_games`
  (generated into the cache on first use; `credo envs pregenerate ID --seeds 0-99` makes them all ahead of
  time); `reset()` without a seed plays the next game in order (`first_game` for a new env, then the game after the
  last one), so unseeded runs are reproducible too and touch only a few cached games instead of generating
  random ones. For held-out games, make the env with `first_game` past the training games (`first_game=100`
  with the default `num_games`): no seed then reaches a training game.
- The observation is TextWorld's feedback, compacted: the ASCII banner and runs of blank lines removed.
- An action is valid when it is one of TextWorld's admissible commands (case and surrounding whitespace aside,
  credo's one rule `envs.core.action_key`). An invalid
  action is not sent to the game: nothing happens, the step is counted, `valid_action=False` and the next
  observation says it was not understood. With `forward_invalid=True` the command is still sent to the game
  and its own reply ("That's not a verb I recognise.", "You can't go that way.") is shown after the note;
  the game may then change state on a command its logic does not list, which is why it is not the default.
- Reward is TextWorld's own: the change in game points. `info["score"]` is points / max points (BALROG's
  TextWorld sub-goal fraction). `terminated` when the game is won or lost, `truncated` at `max_steps`.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, ClassVar

from envs.core import TextEnv, action_key, invalid_action_note
from envs.textworld.games import GAMES_PER_ID, challenges, ensure_game

_BANNER_LINE = re.compile(r"^[\s_|\\$/<>]*$")
_ROOM_HEADER = re.compile(r"^-= (.+?) =-\s*$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n\s*\n(\s*\n)+")
_PROMPT_LINE = re.compile(r"^>.*$", re.MULTILINE)  # the '>' prompt with Inform's status bar after it
_END_MENU = "Would you like to RESTART"


def compact(text: str) -> str:
    """TextWorld feedback without the ASCII-art banner, the prompt/status line, the end-of-game menu,
    trailing spaces and runs of blank lines."""
    text = _PROMPT_LINE.sub("", text.split(_END_MENU, 1)[0])
    lines = text.splitlines()
    start = 0
    while start < len(lines) and _BANNER_LINE.match(lines[start]):
        start += 1
    body = "\n".join(line.rstrip() for line in lines[start:])
    return _BLANK_RUNS.sub("\n\n", body).strip()


def parse_inventory(text: str) -> list[str]:
    """TextWorld's inventory text as item names, articles stripped; nothing carried -> `[]`. Both layouts:
    `"You are carrying: a knife, a fried carrot and a key."` (TextWorld 1.7's games) and one item a line
    (`"You are carrying:\\n  a key\\n  a coin"`)."""
    _, colon, rest = text.partition(":")
    if not colon:
        return []
    if rest.lstrip(" ").startswith("\n"):
        parts = rest.splitlines()
    else:
        parts = re.split(r",\s*|\s+and\s+", rest.strip().rstrip("."))
    items = []
    for part in parts:
        item = re.sub(r"^(an?|the|some)\s+", "", part.strip())
        if item:
            items.append(item)
    return items


_KINDS = {"d": "door", "c": "container", "s": "supporter", "k": "key", "f": "food", "o": "object", "t": "thing"}
"""TextWorld's entity types, by the nearest ancestor a custom type (Cooking's oven, stove, meal) descends from."""
_EXITS = {"north_of": "north", "south_of": "south", "east_of": "east", "west_of": "west"}


def entity_kinds(game: Any) -> dict[str, str]:
    """{entity name: kind} of a TextWorld `Game` (kind from `_KINDS`; rooms and the player left out)."""
    out = {}
    for info in game.infos.values():
        if info.name and info.type not in ("r", "P", "I"):
            types = [info.type, *game.kb.types.get_ancestors(info.type)]
            out[info.name] = next((_KINDS[t] for t in types if t in _KINDS), "thing")
    return out


def room_view(facts: list[Any], kinds: dict[str, str]) -> tuple[list[dict[str, str]], list[str]]:
    """What the player sees of the room from TextWorld's (human-readable) facts: the things there (those on a
    visible supporter or in a visible open container too, never the inside of a closed one) and the exits.

    Each thing is `{"name", "kind", "where", "status"}`: where is "room", "on X", "in X" or a door's direction;
    status is "open", "closed", "locked" or "".
    """
    room = next((f.arguments[1].name for f in facts if f.name == "at" and f.arguments[0].type == "P"), None)
    status: dict[str, str] = {}
    placed: list[tuple[str, str, str]] = []  # (relation, thing, holder)
    exits: dict[str, str] = {}  # neighbour room -> direction
    doors: list[tuple[str, str]] = []  # (door, neighbour room)
    for f in facts:
        names = [a.name for a in f.arguments]
        if f.name in ("open", "closed", "locked"):
            status[names[0]] = f.name
        elif f.name in ("at", "on", "in") and f.arguments[0].type not in ("P", "I") and len(names) == 2:
            placed.append((f.name, names[0], names[1]))
        elif f.name in _EXITS and names[1] == room:
            exits[names[0]] = _EXITS[f.name]
        elif f.name == "link" and names[0] == room:
            doors.append((names[1], names[2]))
    things = [{"name": door, "kind": "door", "where": exits.get(there, ""), "status": status.get(door, "")}
              for door, there in doors]
    seen = {room}
    frontier = [room]
    while frontier:  # things in the room, then on or in what is visible (inside containers only when open)
        holder = frontier.pop(0)
        for relation, thing, where in placed:
            if where != holder or thing in seen or (relation == "in" and status.get(holder, "open") != "open"):
                continue
            seen.add(thing)
            frontier.append(thing)
            things.append({"name": thing, "kind": kinds.get(thing, "thing"),
                           "where": "room" if holder == room else f"{relation} {holder}",
                           "status": status.get(thing, "")})
    return things, sorted(set(exits.values()))


class TextWorldEnv(TextEnv):
    """A TextWorld challenge at fixed settings; game `k` is the game TextWorld generates with seed `k`."""

    family: ClassVar[str] = "textworld"
    state_schema: ClassVar[dict[str, str]] = {
        "room": "name of the room the player is in (from the last '-= Room =-' header)",
        "inventory": "list of carried item names, articles stripped",
        "objects": "the things the player can see in the room, as a list of {\"name\", \"kind\", \"where\", "
                   "\"status\"}: kind door, container, supporter, key, food, object or thing; where \"room\", \"on "
                   "<supporter>\", \"in <open container>\" or a door's direction; status \"open\", \"closed\", "
                   "\"locked\" or \"\" (the inside of a closed container is not listed)",
        "exits": "directions the player can leave the room by (north, south, east, west), doors included",
        "points": "game points earned so far (int)",
        "max_points": "points of a completed game (int)",
        "moves": "moves TextWorld counted (commands it parsed; invalid actions do not count)",
        "won": "whether the game is won",
        "lost": "whether the game is lost",
        "game": "index (seed) of the game being played",
    }
    outcome_keys: ClassVar[frozenset[str]] = frozenset({"points", "won", "lost"})
    """Points are the reward summed (`score` = points / max points); won and lost end the episode."""

    def __init__(self, challenge: str, settings: dict[str, Any], max_steps: int = 100, num_games: int = GAMES_PER_ID,
                 first_game: int = 0,
                 cache_dir: str | None = None, forward_invalid: bool = False, render_mode: str | None = None) -> None:
        super().__init__(render_mode)
        known = {c.name: c for c in challenges()}
        if challenge not in known:
            raise ValueError(f"unknown TextWorld challenge {challenge!r}; known: {sorted(known)}")
        if max_steps < 1 or num_games < 1 or first_game < 0:
            raise ValueError(f"max_steps and num_games must be >= 1 and first_game >= 0, got {max_steps}, "
                             f"{num_games} and {first_game}")
        self.challenge = challenge
        self.settings = {**known[challenge].defaults, **settings}
        self.max_steps = max_steps
        self.num_games = num_games
        self.first_game = first_game
        self.cache_dir = cache_dir
        self.forward_invalid = forward_invalid
        self._tw: Any = None
        self._game_file = ""
        self._game = first_game - 1  # an unseeded reset plays the next game: first_game for a new env
        self._walkthroughs: dict[str, list[str]] = {}
        self._kinds: dict[str, dict[str, str]] = {}
        self._state: Any = None
        self._steps = 0
        self._room = ""

    # -- games ----------------------------------------------------------------------------------
    def _load(self, game: int) -> None:
        """Point the TextWorld interpreter at game `game`, generating it if needed."""
        import textworld

        path = str(ensure_game(self.challenge, self.settings, game, self.cache_dir))
        if path == self._game_file:
            return
        with warnings.catch_warnings():  # jericho warns that it cannot score TextWorld games: TextWorld does
            warnings.simplefilter("ignore")
            if self._tw is None:
                infos = textworld.EnvInfos(feedback=True, admissible_commands=True, score=True, max_score=True,
                                           won=True, lost=True, moves=True, objective=True, inventory=True,
                                           facts=True)
                self._tw = textworld.start(path, infos)
            else:
                self._tw.load(path)
        if path not in self._walkthroughs:
            data = textworld.Game.load(path[:-3] + ".json")
            self._walkthroughs[path] = list(data.walkthrough or [])
            self._kinds[path] = entity_kinds(data)
        self._game_file, self._game = path, game

    # -- the contract ---------------------------------------------------------------------------
    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        k = int(seed) if seed is not None else self._game - self.first_game + 1
        self._load(self.first_game + k % self.num_games)
        self._state = self._tw.reset()
        self._steps = 0
        self._room = ""
        obs = compact(self._state.feedback)
        objective = self._state.objective or ""
        obs = obs[len(objective):].strip() if objective and obs.startswith(objective) else obs
        return obs, self._info(valid=True)

    def _step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        self._steps += 1
        admissible = {action_key(a): a for a in self._state.admissible_commands or []}
        key = action_key(action)
        command = None if key is None else admissible.get(key)
        reward = 0.0
        if command is not None:
            before = self._state.score or 0
            self._state, _, _ = self._tw.step(command)
            reward = float((self._state.score or 0) - before)
            obs = compact(self._state.feedback)
        else:
            obs = invalid_action_note(action) + " Choose one of the admissible commands."
            if self.forward_invalid and key:
                before = self._state.score or 0
                self._state, _, _ = self._tw.step(action)
                reward = float((self._state.score or 0) - before)
                obs += "\n" + compact(self._state.feedback)
        terminated = bool(self._state.won or self._state.lost)
        truncated = not terminated and self._steps >= self.max_steps
        return obs, reward, terminated, truncated, self._info(valid=command is not None)

    def _info(self, valid: bool) -> dict[str, Any]:
        s = self._state
        rooms = _ROOM_HEADER.findall(s.feedback or "")
        if rooms:
            self._room = rooms[-1]
        points, max_points = int(s.score or 0), int(s.max_score or 0)
        objects, exits = room_view(s.facts or [], self._kinds[self._game_file])
        return {
            "instruction": compact(s.objective or "") or "Win the game.",
            "admissible_actions": list(s.admissible_commands or []),
            "valid_action": valid,
            "success": bool(s.won),
            "score": points / max_points if max_points else float(bool(s.won)),
            "lost": bool(s.lost),
            "walkthrough": list(self._walkthroughs[self._game_file]),
            "state": {
                "room": self._room,
                "inventory": parse_inventory(s.inventory or ""),
                "objects": objects,
                "exits": exits,
                "points": points,
                "max_points": max_points,
                "moves": int(s.moves or 0),
                "won": bool(s.won),
                "lost": bool(s.lost),
                "game": self._game,
            },
        }

    def close(self) -> None:
        if self._tw is not None:
            self._tw.close()
            self._tw = None
            self._game_file = ""
