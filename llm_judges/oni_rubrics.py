"""The ONI/Motif message rubrics: one per goal, for an LLM (prompt + worked examples) and for the embedding judge
(anchors), written for credo from the description of ONI's prompts (research/oni_lare.md §1.3), not copied.

Goals: ONI's `default` (score: kill, gold, descend), `gold`, `combat`, `stairs`, plus the MiniHack sub-goals
`key` (get the key), `door` (open the way: unlock, open or break a door), `keyroom` (KeyRoom's chain: key, door,
staircase down) and `fountain`. Each gives `oni-cls-<goal>` (FOO/BAR classification of one message) and
`oni-rank-<goal>` (which of two messages shows more progress); `oni-rank-zeroknowledge` has no goal sentence.

The embedding judge's anchors were written against the hand-labelled messages of real random play in
`benchmarks/data/oni_messages.jsonl` (precision/recall per rubric: `benchmarks/oni_labels.py`, RESULTS.md "ONI
labels"). What they encode, so the judge does not call the everyday noise helpful:
- a shared list of noise (`NOISE`): walls, refused commands, prompts, the greeting, the up staircase and the
  failed pick-up on it ("The stairs are solidly fixed to the floor."), doors that stay shut, the pet's and the
  monsters' actions (a pet's kill is not the player's), other items, traps, food, status lines;
- fights written over the same early monsters on both sides (`MONSTERS`), so the verb decides, not the name;
- each goal's negatives are the noise plus the other goals' positives;
- the rubrics read each sentence of a message on its own (`per_sentence`: NetHack joins several game messages
  into one line) and need a margin of 0.07 (`margin`), chosen on that set; both are in-sample choices, the
  held-out collection (`oni_messages_heldout.jsonl`, other seeds) measures them out of sample.
"""

from __future__ import annotations

from llm_judges.rubrics import Rubric

NETHACK_SYSTEM = (
    "You are a careful and honest judge of play in the game NetHack. You know the game well and you judge "
    "whether what happens to the player is good for their progress. When you do not know something, say so "
    "rather than make it up."
)

GOALS: dict[str, str] = {
    "default": "The player wants a high score: kill monsters, pick up gold, and go down the dungeon as deep as possible.",
    "gold": "The player wants to collect as much gold as possible; nothing else matters.",
    "combat": "The player wants to defeat as many monsters as possible; nothing else matters.",
    "stairs": "The player wants to find the staircase down and descend to deeper levels; nothing else matters.",
    "key": "The player must find the key and pick it up; nothing else matters.",
    "door": "The player must get through a door: unlock it with a key, open it, or break it; nothing else matters.",
    "keyroom": "The player must pick up the key, unlock the locked door with it, and then reach the staircase down; "
               "nothing else matters.",
    "fountain": "The player wants to find a fountain and drink from it; nothing else matters.",
}

EXAMPLES: list[tuple[str, set[str]]] = [
    ("You kill the jackal! Welcome to experience level 3.", {"default", "combat"}),
    ("You hear the footsteps of a guard on patrol.", {"gold"}),
    ("$ - 12 gold pieces.", {"default", "gold"}),
    ("There is a staircase down here.", {"default", "stairs", "keyroom"}),
    ("g - a key named The Master Key of Thievery.", {"default", "key", "keyroom"}),
    ("You succeed in unlocking the door. The door opens.", {"default", "door", "keyroom"}),
    ("There is a fountain here.", {"fountain"}),
    ("The stairs are solidly fixed to the floor.", set()),
    ("This door is locked.", set()),
]
"""Worked examples shown in the prompts: (message, the goals it is very helpful for); BAR for the others. A
failed pick-up on the up staircase and a closed door never help."""

_CLS_TEMPLATE = """Context: I am playing NetHack, and I will show you one message the game printed.
First say what you know about NetHack and what the player is trying to achieve. Then analyse the message and \
decide whether the situation it describes helps the player progress. "Helpful" means good for progress in the \
game, not merely informative.
Goal: {goal}
If the message is very helpful, answer FOO. If it is unhelpful, neutral or only mildly useful, answer BAR.
Examples:
{examples}
Message to rate: {{"{{item}}"}}
Reply in exactly this form: <knowledge>...</knowledge> <analysis>...</analysis> <label>FOO or BAR</label>"""

_RANK_TEMPLATE = """I will show you two short descriptions of moments in a game of NetHack.
First say what you know about NetHack and what the player is trying to achieve. {goal}
Analyse each description on its own, then compare them from first principles, and finally say which one more \
likely shows progress toward that goal, written as ("best_description": 1), ("best_description": 2), or \
("best_description": None) when neither does.
{{"description_1": "{{first}}"}}
{{"description_2": "{{second}}"}}"""

# --- the embedding judge's anchors ------------------------------------------------------------------------

MONSTERS = ["newt", "jackal", "sewer rat", "grid bug", "goblin", "kobold", "lichen", "kobold zombie", "fox"]
"""Early-dungeon monsters: fights are written over the same names on the positive and the negative side."""

NOISE: list[str] = [
    # moving into things, looking around, refused commands and prompts
    "It's a wall.", "It's solid stone.", "You can't move diagonally out of an intact doorway.",
    "There is nothing here to pick up.", "You see no objects here.", "The stairs are solidly fixed to the floor.",
    "There is a staircase up here.", "You can't go down here.",
    "Hello Agent, welcome to NetHack!  You are a neutral human Monk.", "Never mind.",
    "What do you want to eat? [fg or ?*]", "You don't have that object.", "In what direction?", "Unknown command.",
    "What a strange direction!", "You don't have anything to use or apply.", "Nothing happens.",
    "You kick at empty space.", "You see no door there.", "Adjust letter to what?", "You write in the dust with a rock.",
    "You are lucky!  Full moon tonight.", "You cannot do that with gold.", "You are not wearing any armor.",
    # doors that stay shut
    "This door is locked.", "That door is closed.", "The door resists!", "This door is broken.",
    "Ouch!  You bump into a door.", "There is a doorway here.",
    # the pet and the monsters acting
    "You swap places with your kitten.", "The little dog picks up a dagger.", "The kitten drops a gold piece.",
    "The jackal misses!", "The goblin hits!", "The grid bug bites!  You get zapped!",
    "The kitten bites the jackal.  The jackal is killed!",
    *(t.format(m=m) for m in MONSTERS for t in ("The {m} bites!", "You miss the {m}.",
                                                 "The little dog bites the {m}.  The {m} is killed!")),
    # other items, food, traps, status
    "a - a +1 club (weapon in hand).", "k - a scroll labeled FOO.", "g - a bubbly potion.", "You see here a spellbook.",
    "You see here a gem.", "You see here a jackal corpse.", "You drop a sling.", "This food is delicious!",
    "This fortune cookie has a scrap of paper inside.", "You read the engraving on the headstone.",
    "A bear trap closes on your foot!", "You fall into a pit!", "Your leg feels better.", "You feel less confused now.",
    "You hear some noises in the distance.", "You feel that your god is displeased.",
    "You see here a statue of a newt.",
]
"""Everyday messages that help no goal (negatives of every rubric)."""

_KILLS = [f"You kill the {m}!" for m in MONSTERS] + ["You destroy the kobold zombie!", "Welcome to experience level 3."]
_GOLD_TAKEN = ["$ - 12 gold pieces.", "You see here 20 gold pieces.", "You pick up the gold coins."]

POSITIVE: dict[str, list[str]] = {
    "key": ["You pick up a key.", "k - a skeleton key.", "You see here a key.", "There is a key here.",
            "You now carry the key that opens the door."],
    "door": ["You succeed in unlocking the door.", "You unlock the door.", "The door opens.",
             "As you kick the door, it crashes open!", "You find a hidden door.", "The door unlocks with a click."],
    "stairs": ["There is a staircase down here.", "You climb down the stairs to a deeper level.",
               "You fall through a trap door to a deeper level!", "You see a staircase leading down.",
               "You arrive on a new, deeper dungeon level."],
    "gold": [*_GOLD_TAKEN, "You hear someone counting money.", "You hear the footsteps of a guard on patrol."],
    "combat": [*_KILLS, *(f"You hit the {m}." for m in MONSTERS)],
    "fountain": ["There is a fountain here.", "Drink from the fountain?", "You quaff from the fountain.",
                 "You hear bubbling water.", "You hear water falling on coins.", "The cool draught refreshes you."],
}
"""What each goal's helpful messages look like (the embedding judge's positives)."""
POSITIVE["default"] = [*POSITIVE["key"], *POSITIVE["door"], *POSITIVE["stairs"], *_GOLD_TAKEN, *_KILLS,
                       "You find a hidden passage."]
POSITIVE["keyroom"] = [*POSITIVE["key"], *POSITIVE["door"], *POSITIVE["stairs"]]

EMBEDDING_MARGIN = 0.07
"""The margin of the ONI rubrics (see the module docstring)."""


def anchors(goal: str) -> tuple[list[str], list[str]]:
    """(positives, negatives) of a goal: the negatives are the noise plus every other goal's positives."""
    positive = POSITIVE[goal]
    others = dict.fromkeys(a for g in ("key", "door", "stairs", "gold", "combat", "fountain") for a in POSITIVE[g])
    return list(positive), NOISE + [a for a in others if a not in positive]


def oni_rubrics() -> list[Rubric]:
    """Every built-in ONI rubric (see the module docstring)."""
    embedding = {"per_sentence": True, "margin": EMBEDDING_MARGIN}
    positive, negative = anchors("default")
    out = [Rubric(  # ONI-Ranking's "zeroknowledge" goal: no goal sentence at all
        name="oni-rank-zeroknowledge", kind="pair", system=NETHACK_SYSTEM, parser="ranking",
        description="ONI-Ranking/Motif without a goal sentence (the 'zeroknowledge' goal key)",
        template=_RANK_TEMPLATE.format(goal="").replace(" \n", "\n"),
        positive=positive, negative=negative, **embedding)]
    for goal, sentence in GOALS.items():
        examples = "\n".join(f'- "{msg}" -> {"FOO" if goal in goals else "BAR"}' for msg, goals in EXAMPLES)
        positive, negative = anchors(goal)
        out.append(Rubric(
            name=f"oni-cls-{goal}", kind="single", system=NETHACK_SYSTEM, parser="keyword",
            description=f"ONI/Motif: is this NetHack message very helpful (1) or not (0)? goal: {goal}",
            template=_CLS_TEMPLATE.format(goal=sentence, examples=examples),
            keywords={"FOO": 1.0, "BAR": 0.0}, lax_default=0.0, positive=positive, negative=negative, **embedding))
        out.append(Rubric(
            name=f"oni-rank-{goal}", kind="pair", system=NETHACK_SYSTEM, parser="ranking",
            description=f"ONI-Ranking/Motif: which of two NetHack messages shows more progress? goal: {goal}",
            template=_RANK_TEMPLATE.format(goal=sentence), positive=positive, negative=negative, **embedding))
    return out
