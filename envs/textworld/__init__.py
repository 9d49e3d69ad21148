"""TextWorld games as credo envs: `credo/TextWorld-<Challenge>-<Level>-v0`, one family of games per id.

Ids (see `games.challenges()` for the exact settings behind each):
- `credo/TextWorld-Simple-<Rewards>-<Goal>-v0`: tw-simple, rewards dense|balanced|sparse x goal detailed|brief|none;
- `credo/TextWorld-CoinCollector-L<n>-v0`: tw-coin_collector level n (1-100 chain; 101+ distractor rooms);
- `credo/TextWorld-TreasureHunter-L<n>-v0`: tw-treasure_hunter level n (1-10 easy, 11-20 medium, 21-30 hard; 21 and 23 registered);
- `credo/TextWorld-Cooking-L<n>-v0`: tw-cooking at credo's five difficulty mixes (`games.COOKING_LEVELS`).
Any other setting of a challenge: `envs.make(id, settings={...})`, e.g. `settings={"level": 17}`.
"""

from __future__ import annotations

import importlib.util

from envs.registry import register
from envs.textworld.env import TextWorldEnv
from envs.textworld.games import cache_root, challenges, ensure_game, game_path, pregenerate

INSTRUCTION_EXAMPLES = {
    "tw-simple": "Open the chest drawer, take the old key, unlock the wooden door, ... put the apple on the stove.",
    "tw-coin_collector": "Your task for today is to recover the coin from the floor of the bedroom.",
    "tw-treasure_hunter": "Please lift the broom from the floor of the basement.",
    "tw-cooking": "You are hungry! Let's cook a delicious meal. Check the cookbook in the kitchen for the recipe.",
}


def register_envs() -> None:
    """Register every challenge level as `credo/TextWorld-<Stem>-<Level>-v0`."""
    if importlib.util.find_spec("textworld") is None:  # checked, not imported: `import envs` stays fast
        raise ModuleNotFoundError("No module named 'textworld'", name="textworld")
    for ch in challenges():
        for level in ch.levels:
            register(
                f"credo/TextWorld-{ch.stem}-{level.suffix}-v0",
                entry_point="envs.textworld.env:TextWorldEnv",
                family="textworld",
                instruction_example=INSTRUCTION_EXAMPLES[ch.name],
                kwargs={"challenge": ch.name, "settings": {**ch.defaults, **level.settings},
                        "max_steps": level.max_steps},
                tags=(ch.name, level.description),
            )


__all__ = ["TextWorldEnv", "cache_root", "challenges", "ensure_game", "game_path", "pregenerate", "register_envs"]
