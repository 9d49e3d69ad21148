"""LaRe evaluation factors for MiniHack that carry no information about progress: the noise arm of the credit
comparison (`credit_config.lare.code_file=configs/lare/minihack_noise.py`).

Each factor is a deterministic, pseudo-random function of the game's turn counter only: it changes from step to
step (so the execution check's constant-factor test passes), but it says nothing about where the hero is, what it
holds or what it sees. A decoder fed these can at most learn a reward that depends on the turn number.
"""


def evaluate(state):
    turn = int(state.get("time", 0) or 0)
    return [
        float(turn % 2),
        float((turn * 7) % 5) / 4.0,
        float((turn * 2654435761) % 1000) / 1000.0,
    ]
