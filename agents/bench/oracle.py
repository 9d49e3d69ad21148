"""Oracle values of MiniHack states, for the credit-quality diagnostic: how far the hero still is from success.

An episode is replayed in a fresh env with its seed and actions (MiniHack is deterministic given the seed; the
replay checks that every observation matches the recorded one), and each state is read from the NLE observation
itself (glyphs and inventory), not from `info["state"]`, so the oracle does not depend on what a state schema
exposes (and no credit module can read it).

- `room`: V(s) = -(Chebyshev distance from the hero to the staircase down), 0 on success: in an open MiniHack
  room the Chebyshev distance is the number of moves left.
- `keyroom` (KeyRoom: key -> locked door -> stairs): V(s) = -(moves left along the sub-goals): without the key,
  hero -> key + key -> door + door -> stairs; with the key and the door closed, hero -> door + door -> stairs;
  once the door is open, hero -> stairs. Distances are Chebyshev; the key, door and stairs positions are the
  ones seen anywhere in the episode (the layout does not move within an episode: hindsight is exact), and a leg
  to a thing never seen in the episode counts 1 (a constant: it cancels in V(s') - V(s) until it is seen).
The oracle advantage of step t is V(s_{t+1}) - V(s_t): +1 for a move that brings the hero one step closer
along the path, 0 for one that does not, the jump of a sub-goal reached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np

from credo.trajectory import Episode

OracleKind = Literal["room", "keyroom"]
DOOR_OPEN = ("open door", "doorway", "broken door")
DOOR_ANY = ("closed door", *DOOR_OPEN)
_KEY_RE = re.compile(r"\bkey\b")


class ReplayDiverged(RuntimeError):
    """The env did not reproduce a recorded episode (the oracle would describe other states)."""


@dataclass
class Seen:
    """What one state shows: the hero, the things the oracle needs (None: not in view), the inventory key."""

    hero: tuple[int, int]
    stairs: tuple[int, int] | None
    key: tuple[int, int] | None
    door: tuple[int, int] | None
    door_open: bool
    has_key: bool
    success: bool


@cache
def _glyph_sets() -> dict[str, np.ndarray]:
    """Boolean lookup tables by glyph: staircase down, doors (any / open), the skeleton key object."""
    from nle import nethack

    from envs.nethack.text import glyph_tables

    names = np.array(glyph_tables().names, dtype=object)
    key = np.zeros(len(names), bool)
    for i in range(nethack.GLYPH_CMAP_OFF - nethack.GLYPH_OBJ_OFF):
        if nethack.OBJ_NAME(nethack.objclass(i)) == "skeleton key":
            key[nethack.GLYPH_OBJ_OFF + i] = True
    return {"stairs": names == "staircase down", "door": np.isin(names, DOOR_ANY),
            "door_open": np.isin(names, DOOR_OPEN), "key": key}


def _where(glyphs: np.ndarray, table: np.ndarray) -> tuple[int, int] | None:
    found = np.argwhere(table[glyphs])
    return (int(found[0][1]), int(found[0][0])) if len(found) else None


def observe(env: Any, success: bool) -> Seen:
    """Read a MiniHack text env's current NLE observation."""
    from envs.nethack.text import decode

    raw = env.unwrapped
    obs, state = raw._obs, raw._state
    sets = _glyph_sets()
    glyphs = obs["glyphs"]
    door = _where(glyphs, sets["door"])
    inventory = " ".join(decode(s) for s in obs["inv_strs"])
    return Seen(hero=(int(state["x"]), int(state["y"])), stairs=_where(glyphs, sets["stairs"]),
                key=_where(glyphs, sets["key"]), door=door,
                door_open=door is not None and bool(sets["door_open"][glyphs[door[1], door[0]]]),
                has_key=bool(_KEY_RE.search(inventory)), success=success)


def replay(env: Any, episode: Episode) -> list[Seen]:
    """The states s_0..s_T of `episode`, replayed in `env` (reset with the episode's seed)."""
    obs, info = env.reset(seed=episode.seed)
    seen = [observe(env, False)]
    for t, step in enumerate(episode.steps):
        if obs != step.observation:
            raise ReplayDiverged(f"episode {episode.episode_id} (seed {episode.seed}): step {t} observation differs "
                                 "on replay")
        obs, _, _, _, info = env.step(step.action_text)
        seen.append(observe(env, bool(info.get("success"))))
    return seen


def _cheb(a: tuple[int, int] | None, b: tuple[int, int] | None) -> float:
    return 1.0 if a is None or b is None else float(max(abs(a[0] - b[0]), abs(a[1] - b[1])))


def _first(states: list[Seen], attr: str) -> tuple[int, int] | None:
    return next((getattr(s, attr) for s in states if getattr(s, attr) is not None), None)


def values(states: list[Seen], kind: OracleKind) -> np.ndarray:
    """V(s_0..s_T) of one episode's states (the last one included)."""
    stairs, key, door = _first(states, "stairs"), _first(states, "key"), _first(states, "door")
    out = np.zeros(len(states))
    door_stairs, key_door = _cheb(door, stairs), _cheb(key, door)
    opened = False
    for t, s in enumerate(states):
        if s.success:
            out[t] = 0.0
            continue
        if kind == "room":
            out[t] = -_cheb(s.hero, stairs) if stairs is not None else 0.0
            continue
        opened = opened or s.door_open
        if opened:
            out[t] = -_cheb(s.hero, stairs) if stairs is not None else -(_cheb(s.hero, door) + door_stairs)
        elif s.has_key:
            out[t] = -(_cheb(s.hero, door) + door_stairs)
        else:
            out[t] = -(_cheb(s.hero, key) + key_door + door_stairs)
    return out


def oracle_advantages(env: Any, episodes: list[Episode], kind: OracleKind) -> list[np.ndarray]:
    """V(s_{t+1}) - V(s_t) for every step of every episode."""
    return [np.diff(values(replay(env, ep), kind)) for ep in episodes]
