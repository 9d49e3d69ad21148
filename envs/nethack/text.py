"""Render NLE observations (glyphs, chars, blstats, message, inventory) as text, shared by NetHack and MiniHack.

Everything here works on the raw numpy arrays with per-glyph lookup tables built once, so rendering costs
tens of microseconds per step (the target is at least half of raw NLE's steps/s; see
`benchmarks/env_throughput.py`). Names come from NetHack's own data (monster names, object names, map
symbol explanations), never from `screen_descriptions`, which is too slow to fill every step.

Unidentified objects are named by their class ("potion", "scroll", "wand") when NetHack shuffles their
appearances, by their fixed appearance otherwise ("key", "bag"), so the text never leaks an identity the player
could not see. `objects_state` and `inventory_state` give the same names as structured `info["state"]` fields.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from nle import nethack
from pydantic import Field

from credo.config import Config

# Kinds of glyph, for the "what surrounds you" list.
HIDDEN, ENTITY, TERRAIN = 0, 1, 2
"""HIDDEN: never listed (floor, walls, stone); ENTITY: listed, up to `max_per_kind` per name;
TERRAIN: listed once per name (water, lava, trees... can cover hundreds of cells)."""

_OBJECT_CLASS_NAMES = {
    nethack.WEAPON_CLASS: "weapon", nethack.ARMOR_CLASS: "armor", nethack.RING_CLASS: "ring",
    nethack.AMULET_CLASS: "amulet", nethack.TOOL_CLASS: "tool", nethack.FOOD_CLASS: "food",
    nethack.POTION_CLASS: "potion", nethack.SCROLL_CLASS: "scroll", nethack.SPBOOK_CLASS: "spellbook",
    nethack.WAND_CLASS: "wand", nethack.COIN_CLASS: "gold", nethack.GEM_CLASS: "gem",
}
_HUNGER = ("satiated", "not hungry", "hungry", "weak", "fainting", "fainted", "starved")
_ENCUMBRANCE = ("unencumbered", "burdened", "stressed", "strained", "overtaxed", "overloaded")
_CONDITIONS = tuple(
    (getattr(nethack, f"BL_MASK_{name.upper()}"), name)
    for name in ("stone", "slime", "strngl", "foodpois", "termill", "blind", "deaf", "stun", "conf", "hallu",
                 "lev", "fly", "ride")
)
_DIRECTIONS = {(0, -1): "north", (1, 0): "east", (0, 1): "south", (-1, 0): "west",
               (1, -1): "northeast", (1, 1): "southeast", (-1, 1): "southwest", (-1, -1): "northwest"}
_NEIGHBOURS = tuple(_DIRECTIONS.items())
STAIRS_DOWN = "staircase down"
_COMPACT_SKIP = frozenset({"staircase up"})
"""Left out of the compact text: where the hero arrived is never a goal (MiniHack, NetHack descents), and every
token costs the tiny model time in acting and in the update (research/calibration.md: keep prompts short)."""


@dataclass(frozen=True)
class GlyphTables:
    """Per-glyph lookup tables (index = glyph id)."""

    names: tuple[str, ...]
    kind: np.ndarray
    """uint8: HIDDEN, ENTITY or TERRAIN."""
    passable: np.ndarray
    """bool: a hero can step onto the cell (used for "blocked" neighbours and shortest paths)."""
    door: np.ndarray
    """bool: an open door (NetHack forbids diagonal moves into or out of it)."""
    stairs_down: np.ndarray
    """bool: a staircase down (the goal of navigation tasks)."""
    way_on: np.ndarray
    """bool: passable, or a closed door (a way on for exploration)."""
    name_kinds: dict[str, str]
    """What each listed name is: "monster", "object" or "feature" (map features: doors, stairs, fountain...)."""


_SHUFFLED = frozenset({nethack.AMULET_CLASS, nethack.POTION_CLASS, nethack.RING_CLASS, nethack.SCROLL_CLASS,
                       nethack.SPBOOK_CLASS, nethack.WAND_CLASS, nethack.ARMOR_CLASS})
"""Classes whose appearances NetHack shuffles per game (all of them, or for armor some helmets, gloves, cloaks
and boots): their objects are named by class, since the appearance table here is not the game's shuffled one."""


def _object_name(obj_index: int) -> str:
    """What the player sees of an unidentified object: its real name when it has no appearance, its fixed
    appearance ("key", "bag", "runed dagger", shared by look-alikes) in the unshuffled classes, else its class."""
    obj = nethack.objclass(obj_index)
    appearance = nethack.OBJ_DESCR(obj)
    if appearance is None:
        return nethack.OBJ_NAME(obj) or "strange object"
    if ord(obj.oc_class) in _SHUFFLED:
        return _OBJECT_CLASS_NAMES.get(ord(obj.oc_class), "object")
    return appearance


def _cmap_entry(index: int) -> tuple[str, int, bool]:
    """(name, kind, passable) of map symbol `index` (NetHack's defsyms order)."""
    name = nethack.symdef.from_idx(index).explanation
    if index == 0:  # S_stone: unexplored or solid rock, drawn blank; counts as blocked
        return "", HIDDEN, False
    if 1 <= index <= 11:  # walls
        return name, HIDDEN, False
    if index in (15, 16, 37, 38):  # closed doors, raised drawbridge
        return name, ENTITY, False
    if index in (17, 18, 32, 34, 41):  # iron bars, tree, water, lava, moat
        return name, TERRAIN, False
    if index in (33, 40):  # ice, cloud
        return name, TERRAIN, True
    if index in (19, 20, 21, 22, 39) or index >= 65 or not name:  # floor, corridors, air, effects
        return name, HIDDEN, True
    return name, ENTITY, True  # doorways, open doors, stairs, ladders, altar, fountain, traps...


@cache
def glyph_tables() -> GlyphTables:
    """Build the lookup tables once per process (a few milliseconds)."""
    size = nethack.MAX_GLYPH + 1
    names = [""] * size
    kind = np.full(size, ENTITY, np.uint8)
    passable = np.ones(size, bool)
    door = np.zeros(size, bool)
    stairs_down = np.zeros(size, bool)
    closed_door = np.zeros(size, bool)
    mon = nethack.permonst
    ranges = (
        (nethack.GLYPH_MON_OFF, nethack.GLYPH_PET_OFF, "monster", lambda i: mon(i).mname),
        (nethack.GLYPH_PET_OFF, nethack.GLYPH_INVIS_OFF, "monster", lambda i: "tame " + mon(i).mname),
        (nethack.GLYPH_DETECT_OFF, nethack.GLYPH_BODY_OFF, "monster", lambda i: mon(i).mname),
        (nethack.GLYPH_BODY_OFF, nethack.GLYPH_RIDDEN_OFF, "object", lambda i: mon(i).mname + " corpse"),
        (nethack.GLYPH_RIDDEN_OFF, nethack.GLYPH_OBJ_OFF, "monster", lambda i: "ridden " + mon(i).mname),
        (nethack.GLYPH_OBJ_OFF, nethack.GLYPH_CMAP_OFF, "object", _object_name),
        (nethack.GLYPH_WARNING_OFF, nethack.GLYPH_STATUE_OFF, "monster", lambda i: "warning of a monster"),
        (nethack.GLYPH_STATUE_OFF, nethack.MAX_GLYPH, "object", lambda i: "statue of a " + mon(i).mname),
    )
    name_kinds: dict[str, str] = {}
    for start, stop, group, name_of in ranges:
        for glyph in range(start, stop):
            names[glyph] = name_of(glyph - start)
            name_kinds.setdefault(names[glyph], group)
    names[nethack.GLYPH_INVISIBLE] = "unseen monster"
    name_kinds["unseen monster"] = "monster"
    passable[nethack.GLYPH_STATUE_OFF:nethack.MAX_GLYPH] = False
    for glyph in range(nethack.GLYPH_CMAP_OFF, nethack.GLYPH_EXPLODE_OFF):
        index = glyph - nethack.GLYPH_CMAP_OFF
        names[glyph], kind[glyph], passable[glyph] = _cmap_entry(index)
        door[glyph] = index in (13, 14)
        stairs_down[glyph] = index == 24
        closed_door[glyph] = index in (15, 16)
        name_kinds.setdefault(names[glyph], "feature")
    kind[nethack.GLYPH_EXPLODE_OFF:nethack.GLYPH_WARNING_OFF] = HIDDEN  # explosions, zaps, engulfing
    kind[nethack.MAX_GLYPH] = HIDDEN  # NO_GLYPH
    name_kinds.pop("", None)
    return GlyphTables(tuple(names), kind, passable, door, stairs_down, passable | closed_door, name_kinds)


class TextOptions(Config):
    """How NLE observations become text (env kwargs of every NetHack/MiniHack credo env)."""

    stats: bool = Field(True, description="Include the status line: hp, ac, depth, gold, xp level, time, hunger.")
    inventory: bool | None = Field(
        None, description="Include the inventory; None shows it when the task has item actions (eat, apply...).")
    crop: int = Field(0, ge=0, le=10, description="Radius of the ASCII map crop around the hero (0 = no map).")
    compact: bool = Field(
        False, description="Short word-level text for tiny models (about 10-20 words): stairs direction, up to two "
        "other entities and the blocked neighbours; no message, stats or inventory.")
    max_entities: int = Field(12, ge=0, description="Most entities listed in 'You see' (nearest first).")
    max_per_kind: int = Field(3, ge=1, description="Most entities of the same name listed (nearest first).")
    frontier: bool = Field(
        False, description="While no staircase down is in view, name the nearest known cell next to unexplored "
        "space ('unexplored 3 east 1 north'): an exploration cue for memoryless agents (calibration.md, Corridor).")


def where(dx: int, dy: int) -> str:
    """Direction and distance in words: "adjacent west", "3 east 2 south", "here"."""
    if dx == 0 and dy == 0:
        return "here"
    if abs(dx) <= 1 and abs(dy) <= 1:
        return "adjacent " + _DIRECTIONS[(dx, dy)]
    parts = []
    if dx:
        parts.append(f"{abs(dx)} {'east' if dx > 0 else 'west'}")
    if dy:
        parts.append(f"{abs(dy)} {'south' if dy > 0 else 'north'}")
    return " ".join(parts)


def decode(buffer: np.ndarray | bytes) -> str:
    """A null-padded NLE byte buffer as a string."""
    raw = buffer if isinstance(buffer, bytes) else buffer.tobytes()
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


_last_candidates: list[Any] = [None, []]
"""The last (glyph map, hero position) key and its sorted candidates: the text and the state ask for the same map
in the same step, so the second asks for free."""


def _candidates(glyphs: np.ndarray, x: int, y: int) -> list[tuple[int, int, int, int, int]]:
    """(distance, cell, glyph, dx, dy) of every listable cell but the hero's, nearest first (cached, one entry)."""
    key = (glyphs.tobytes(), glyphs.shape, x, y)
    if _last_candidates[0] == key:
        return _last_candidates[1]
    tables = glyph_tables()
    flat = glyphs.ravel()
    cells = np.flatnonzero(tables.kind.take(flat))
    width = glyphs.shape[1]
    candidates = []
    for cell, glyph in zip(cells.tolist(), flat.take(cells).tolist(), strict=True):
        cy, cx = divmod(cell, width)
        dx, dy = cx - x, cy - y
        if dx or dy:  # not the hero itself
            candidates.append((max(abs(dx), abs(dy)), cell, glyph, dx, dy))
    candidates.sort()
    _last_candidates[:] = [key, candidates]
    return candidates


def surroundings(glyphs: np.ndarray, x: int, y: int, max_entities: int, max_per_kind: int) -> list[tuple[str, int, int]]:
    """(name, dx, dy) of the visible entities nearest the hero at (x, y), nearest first.

    Two numpy calls find the candidate cells; the rest is plain Python over those few cells, which is
    cheaper than more numpy calls at NetHack's scale (a handful to a hundred candidates).
    """
    if max_entities == 0:
        return []
    tables = glyph_tables()
    names, kinds = tables.names, tables.kind
    counts: dict[str, int] = {}
    out = []
    for _, _, glyph, dx, dy in _candidates(glyphs, x, y):
        name = names[glyph]
        seen = counts.get(name, 0)
        if seen >= (1 if kinds[glyph] == TERRAIN else max_per_kind):
            continue
        counts[name] = seen + 1
        out.append((name, dx, dy))
        if len(out) >= max_entities:
            break
    return out


def blocked_directions(glyphs: np.ndarray, x: int, y: int) -> list[str]:
    """Compass directions whose neighbouring cell the hero cannot step onto (off-map counts as blocked)."""
    passable = glyph_tables().passable
    height, width = glyphs.shape
    if 0 < x < width - 1 and 0 < y < height - 1:
        around = passable.take(glyphs[y - 1:y + 2, x - 1:x + 2]).tolist()
        return [name for (dx, dy), name in _NEIGHBOURS if not around[1 + dy][1 + dx]]
    out = []
    for (dx, dy), name in _NEIGHBOURS:
        nx, ny = x + dx, y + dy
        if not (0 <= nx < width and 0 <= ny < height) or not passable[glyphs[ny, nx]]:
            out.append(name)
    return out


def shortest_path_length(glyphs: np.ndarray, x: int, y: int) -> int | None:
    """Fewest 8-way moves from (x, y) to a visible staircase down over passable cells; None if none is reachable.

    Diagonal moves into or out of an open door are not allowed, as in NetHack.
    """
    tables = glyph_tables()
    goal = tables.stairs_down[glyphs]
    if not goal.any():
        return None
    passable = tables.passable[glyphs]
    door = tables.door[glyphs]
    height, width = glyphs.shape
    dist = {(x, y): 0}
    queue = deque([(x, y)])
    while queue:
        cx, cy = queue.popleft()
        if goal[cy, cx]:
            return dist[(cx, cy)]
        for dx, dy in _DIRECTIONS:
            nx, ny = cx + dx, cy + dy
            if not (0 <= nx < width and 0 <= ny < height) or (nx, ny) in dist or not passable[ny, nx]:
                continue
            if dx and dy and (door[cy, cx] or door[ny, nx]):
                continue
            dist[(nx, ny)] = dist[(cx, cy)] + 1
            queue.append((nx, ny))
    return None


def nearest_frontier(glyphs: np.ndarray, x: int, y: int) -> tuple[int, int] | None:
    """(dx, dy) of the nearest known passable cell or closed door that touches unexplored (blank) space."""
    tables = glyph_tables()
    unknown = np.pad(glyphs == nethack.GLYPH_CMAP_OFF, 1)  # S_stone: never seen (or solid rock)
    height, width = glyphs.shape
    touches = np.zeros_like(glyphs, dtype=bool)
    for dx, dy in _DIRECTIONS:
        touches |= unknown[1 + dy:1 + dy + height, 1 + dx:1 + dx + width]
    touches &= tables.way_on[glyphs]
    touches[y, x] = False
    ys, xs = np.nonzero(touches)
    if len(xs) == 0:
        return None
    i = int(np.argmin(np.maximum(np.abs(xs - x), np.abs(ys - y))))
    return int(xs[i]) - x, int(ys[i]) - y


def crop_lines(chars: np.ndarray, x: int, y: int, radius: int) -> list[str]:
    """The (2r+1) x (2r+1) ASCII map around the hero; cells off the map are blank."""
    height, width = chars.shape
    side = 2 * radius + 1
    x0, x1 = max(0, x - radius), min(width, x + radius + 1)
    y0, y1 = max(0, y - radius), min(height, y + radius + 1)
    text = chars[y0:y1, x0:x1].tobytes().decode("latin-1")
    row_width, left = x1 - x0, " " * (x0 - (x - radius))
    blank = " " * side
    lines = [blank] * (y0 - (y - radius))
    lines += [(left + text[i:i + row_width]).ljust(side) for i in range(0, len(text), row_width)]
    lines += [blank] * (y + radius + 1 - y1)
    return lines


def stats_state(blstats: np.ndarray) -> dict[str, Any]:
    """Named bottom-line stats (the NLE blstats vector) as plain ints and strings."""
    b = blstats.tolist()
    condition = b[nethack.NLE_BL_CONDITION]
    return {
        "hp": b[nethack.NLE_BL_HP], "hp_max": b[nethack.NLE_BL_HPMAX],
        "energy": b[nethack.NLE_BL_ENE], "energy_max": b[nethack.NLE_BL_ENEMAX],
        "ac": b[nethack.NLE_BL_AC], "strength": b[nethack.NLE_BL_STR25],
        "depth": b[nethack.NLE_BL_DEPTH], "dungeon_number": b[nethack.NLE_BL_DNUM],
        "dungeon_level": b[nethack.NLE_BL_DLEVEL], "gold": b[nethack.NLE_BL_GOLD],
        "xp_level": b[nethack.NLE_BL_XP], "xp_points": b[nethack.NLE_BL_EXP], "score": b[nethack.NLE_BL_SCORE],
        "time": b[nethack.NLE_BL_TIME],
        "hunger": _HUNGER[b[nethack.NLE_BL_HUNGER]] if 0 <= b[nethack.NLE_BL_HUNGER] < len(_HUNGER) else "unknown",
        "encumbrance": _ENCUMBRANCE[b[nethack.NLE_BL_CAP]] if 0 <= b[nethack.NLE_BL_CAP] < 6 else "unknown",
        "conditions": [name for mask, name in _CONDITIONS if condition & mask],
        "x": b[nethack.NLE_BL_X], "y": b[nethack.NLE_BL_Y],
    }


STATE_OBJECTS, STATE_PER_NAME = 12, 3
"""Limits of `info["state"]["objects"]`: the nearest 12 visible things, at most 3 of one name (terrain once)."""
LOCKED_DOOR = "locked door"
_LOCKED_MESSAGES = ("This door is locked",)
_UNLOCKED_MESSAGES = ("You succeed in unlocking", "You succeed in picking the lock", "crashes open",
                      "You break open the lock")


def inventory_state(letters: np.ndarray, strs: np.ndarray) -> dict[str, str]:
    """The inventory as {letter: item as NetHack names it}, in inventory order."""
    return {chr(letter): decode(line) for letter, line in zip(letters.tolist(), strs, strict=True) if letter}


class StateFeatures:
    """The inventory and nearby things of `info["state"]` (structured forms of the text's inventory and "You
    see"), cached like the `Renderer` on the inventory bytes and on (glyph map, hero position).

    A closed door is called a locked door once the game said so ("This door is locked.") with the door next to
    the hero, until it is unlocked, broken open or no longer drawn as a closed door. `reset` at every episode.
    """

    def __init__(self) -> None:
        self._inventory_key = b""
        self._inventory: dict[str, str] = {}
        self._map_key: tuple[bytes, int, int] = (b"", -1, -1)
        self._nearby: list[tuple[str, int, int]] = []
        self._locked: set[tuple[int, int]] = set()
        self._objects: list[dict[str, Any]] = []
        self._objects_locked: frozenset[tuple[int, int]] = frozenset()

    def reset(self) -> None:
        self._locked.clear()
        self._map_key = (b"", -1, -1)

    def inventory(self, letters: np.ndarray, strs: np.ndarray) -> dict[str, str]:
        key = strs.tobytes()
        if key != self._inventory_key:
            self._inventory_key, self._inventory = key, inventory_state(letters, strs)
        return self._inventory

    def objects(self, glyphs: np.ndarray, x: int, y: int, message: str) -> list[dict[str, Any]]:
        """[{name, kind, dx, dy, dist}] of the visible things nearest the hero (see `STATE_OBJECTS`)."""
        key = (glyphs.tobytes(), x, y)
        moved = key != self._map_key
        if moved:
            self._map_key, self._nearby = key, surroundings(glyphs, x, y, STATE_OBJECTS, STATE_PER_NAME)
        if message:
            closed = [(x + dx, y + dy) for name, dx, dy in self._nearby
                      if name == "closed door" and max(abs(dx), abs(dy)) == 1]
            if any(m in message for m in _UNLOCKED_MESSAGES):
                self._locked.difference_update(closed)
            elif any(m in message for m in _LOCKED_MESSAGES):
                self._locked.update(closed)
        tables = glyph_tables()
        if self._locked and moved:  # a door no longer drawn closed (opened, broken) is no longer locked
            self._locked = {(cx, cy) for cx, cy in self._locked if tables.names[glyphs[cy, cx]] == "closed door"}
        if not moved and self._objects_locked == self._locked:
            return self._objects
        out = []
        for name, dx, dy in self._nearby:
            if name == "closed door" and (x + dx, y + dy) in self._locked:
                name = LOCKED_DOOR
            out.append({"name": name, "kind": tables.name_kinds.get(name, "feature"), "dx": dx, "dy": dy,
                        "dist": max(abs(dx), abs(dy))})
        self._objects, self._objects_locked = out, frozenset(self._locked)
        return out


def stats_line(state: dict[str, Any]) -> str:
    """The status line in words, from `stats_state`."""
    s = state
    line = (f"Status: hp {s['hp']}/{s['hp_max']}, energy {s['energy']}/{s['energy_max']}, ac {s['ac']}, "
            f"depth {s['depth']}, gold {s['gold']}, xp level {s['xp_level']}, time {s['time']}, hunger {s['hunger']}")
    if s["encumbrance"] != "unencumbered":
        line += f", {s['encumbrance']}"
    if s["conditions"]:
        line += ", " + ", ".join(s["conditions"])
    return line


class Renderer:
    """Turns one NLE observation into the text an agent reads (see `TextOptions` for the knobs).

    The map part ("You see", "Blocked", or the compact text) is cached on the glyph map and hero position,
    and the inventory on its bytes: many NetHack steps (menus, bumping into walls) change neither.
    """

    def __init__(self, options: TextOptions, show_inventory: bool) -> None:
        self.options = options
        self.show_inventory = show_inventory
        self._inventory_key = b""
        self._inventory_text = ""
        self._map_key: tuple[bytes, int, int] = (b"", -1, -1)
        self._map_lines: list[str] = []
        self._crop: list[str] = []

    def inventory(self, letters: np.ndarray, strs: np.ndarray) -> str:
        """"Inventory:" and one "a: item" line per item."""
        key = strs.tobytes()
        if key != self._inventory_key:
            items = [f"  {letter}: {item}" for letter, item in inventory_state(letters, strs).items()]
            self._inventory_key = key
            self._inventory_text = "\n".join(["Inventory:", *items]) if items else "Inventory: empty"
        return self._inventory_text

    def map_lines(self, glyphs: np.ndarray, x: int, y: int) -> list[str]:
        """The "You see" and "Blocked" lines (or the one compact line) for this glyph map and position."""
        key = (glyphs.tobytes(), x, y)
        if key != self._map_key:
            self._map_key = key
            if self.options.compact:
                self._map_lines = [self.compact(glyphs, x, y)]
            else:
                entities = surroundings(glyphs, x, y, self.options.max_entities, self.options.max_per_kind)
                seen = "; ".join(f"{name} {where(dx, dy)}" for name, dx, dy in entities)
                blocked = blocked_directions(glyphs, x, y)
                self._map_lines = [f"You see: {seen}" if seen else "You see: nothing of note"]
                if blocked:
                    self._map_lines.append("Blocked: " + ", ".join(blocked))
                explore = self.explore(glyphs, x, y, entities)
                if explore:
                    self._map_lines.append(f"Nearest {explore}")
        return self._map_lines

    def explore(self, glyphs: np.ndarray, x: int, y: int, entities: list[tuple[str, int, int]]) -> str:
        """"unexplored 3 east" when the `frontier` option is on and no staircase down is listed, else ""."""
        if not self.options.frontier or any(name == STAIRS_DOWN for name, _, _ in entities):
            return ""
        target = nearest_frontier(glyphs, x, y)
        return "" if target is None else f"unexplored {where(*target)}"

    def render(self, obs: dict[str, np.ndarray] | None, message: str, state: dict[str, Any], hint: str = "") -> str:
        """The observation text; `message` is the (possibly concatenated) game message, `hint` a line after it.

        `obs=None` renders the last map, inventory and crop again: the game is over and NLE's arrays are blank.
        """
        opt = self.options
        x, y = state["x"], state["y"]
        map_lines = self._map_lines if obs is None else self.map_lines(obs["glyphs"], x, y)
        if opt.compact:
            return map_lines[0]
        lines = [f"Message: {message}"] if message else []
        if hint:
            lines.append(hint)
        lines += map_lines
        if opt.stats:
            lines.append(stats_line(state))
        if self.show_inventory and (obs is None or "inv_strs" in obs):
            lines.append(self._inventory_text if obs is None else self.inventory(obs["inv_letters"], obs["inv_strs"]))
        if opt.crop:
            if obs is not None:
                self._crop = crop_lines(obs["chars"], x, y, opt.crop)
            lines.append("Map (you are @):")
            lines.extend(self._crop)
        return "\n".join(lines)

    @staticmethod
    def compact_text(entities: list[tuple[str, int, int]], blocked: list[str], explore: str = "") -> str:
        """"stairs 4 east 4 south . jackal adjacent west . blocked north west ." (calibration.md's format)."""
        stairs = next((f"stairs {where(dx, dy)}" for name, dx, dy in entities if name == STAIRS_DOWN), "stairs unseen")
        others = [f"{name} {where(dx, dy)}" for name, dx, dy in entities
                  if name != STAIRS_DOWN and name not in _COMPACT_SKIP][:2]
        parts = [stairs, *([explore] if explore else []), *others,
                 "blocked " + " ".join(blocked) if blocked else "blocked none"]
        return " . ".join(parts) + " ."

    def compact(self, glyphs: np.ndarray, x: int, y: int) -> str:
        """The compact text of one observation (see `compact_text`)."""
        entities = surroundings(glyphs, x, y, self.options.max_entities, 1)
        return self.compact_text(entities, blocked_directions(glyphs, x, y), self.explore(glyphs, x, y, entities))
