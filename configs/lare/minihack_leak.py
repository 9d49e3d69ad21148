"""LaRe evaluation factors for MiniHack that read the outcome: the leak control of the credit comparison. It
needs `credit_config.lare.include_outcome=true`; without it LaRe refuses this file at start-up, since the keys it
names are left out of the state (credit/lare_state.py).

`progression` is MiniHack's 100 on success (0 before); `score` is NetHack's in-game score. A decoder fed these
learns the outcome from the last state itself: an upper bound no honest factor can reach, reported apart.
"""


def evaluate(state):
    return [float(state.get("progression", 0.0) or 0.0) / 100.0, float(state.get("score", 0) or 0)]
