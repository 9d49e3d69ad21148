"""LaRe evaluation factors for MiniHack KeyRoom and Room, written by hand: the informative arm of the credit
comparison (`credit_config.lare.code_file=configs/lare/minihack_informative.py`).

Reads only what the agent could see: the inventory and the visible things around the hero (`state["objects"]`,
see envs/nethack/env.py's state_schema), never the outcome keys. On Room the key and door factors stay constant
and the staircase factors carry the signal.
"""

import re

UNSEEN = 20.0
"""Distance used for a thing not in view (more than any distance inside a MiniHack room)."""


def _nearest(objects, names):
    dists = [o.get("dist", UNSEEN) for o in objects if o.get("name") in names]
    return float(min(dists)) if dists else UNSEEN


def evaluate(state):
    objects = state.get("objects") or []
    inventory = state.get("inventory") or {}
    has_key = any(re.search(r"\bkey\b", str(item)) for item in inventory.values())
    key_dist = 0.0 if has_key else _nearest(objects, {"key"})
    stairs_dist = _nearest(objects, {"staircase down"})
    stairs_seen = stairs_dist < UNSEEN  # KeyRoom: only through the open door
    door_open = stairs_seen or any(o.get("name") in ("open door", "doorway", "broken door") for o in objects)
    door_dist = _nearest(objects, {"open door", "closed door", "locked door", "doorway", "broken door"})
    if door_dist == UNSEEN and stairs_seen:  # standing in the doorway (the hero hides it), or a room without one
        door_dist = 0.0
    return [
        1.0 if has_key else 0.0,  # holds the key
        -key_dist,  # closer to the key (0 once held)
        1.0 if door_open else 0.0,  # the door is open
        -door_dist,  # closer to the door
        1.0 if stairs_seen else 0.0,  # the staircase down is in view
        -stairs_dist,  # closer to the staircase down
    ]
