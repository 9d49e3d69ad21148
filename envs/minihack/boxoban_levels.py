"""Boxoban levels for MiniHack's Boxoban ids, generated offline (these are NOT DeepMind's dataset).

minihack's `MiniHack-Boxoban-{Unfiltered,Medium,Hard}-v0` read DeepMind's Boxoban levels from
`minihack.envs.boxohack.LEVELS_PATH/<level_set>/<level_mode>/*.txt`, which minihack's script downloads from
GitHub. Without internet (CI, air-gapped clusters) credo generates levels in Boxoban's exact text format
instead: 10x10 grids of '#' wall, ' ' floor, '$' box, '.' target and '@' player with four boxes, each level
preceded by a "; <number>" line and followed by a blank line. They are made by reverse play, so every one is
solvable: four targets are placed in a randomly carved room, boxes start on them, and for a number of rounds
the player walks to a box it can reach and pulls it one to three cells (boxes still on a target first). The
level is the state after the round whose boxes are farthest from their targets, and the reversed pulls,
joined by the player's shortest routes, are a solution (`Level.solution`, LURD notation; not the shortest).
Difficulty grows with the rounds and the box displacement required (`DIFFICULTY`: median 8, 15 and 26
pushes in the recorded solutions of unfiltered, medium and hard). This follows the spirit of the generator
DeepMind describes for the unfiltered set (Racaniere et al., 2017) but is not it: medium and hard here are
just longer reverse plays, not levels a trained agent failed to solve (Guez et al., 2018), so results on
them are not comparable with published Boxoban numbers.

Each split's 300 levels are generated on first use (a few seconds; hard ~15 s) into one file,
`$CREDO_CACHE/boxoban/<level_set>/<level_mode>/000.txt` (default cache `~/.cache/credo`; hard has no mode
folder), and minihack is pointed at that folder; delete it to regenerate after changing the generator. To use the real dataset, download
https://github.com/deepmind/boxoban-levels and set `CREDO_BOXOBAN_DIR` to its `boxoban-levels-master`
folder; a copy placed where minihack's own download script puts it is used too.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from credo.config import ConfigError
from credo.paths import cache_root

SIZE = 10
"""Boxoban levels are 10x10, border included."""
BOXES = 4
"""Boxes (and targets) per level, as in Boxoban."""
MOVES = {"u": (-1, 0), "d": (1, 0), "l": (0, -1), "r": (0, 1)}
"""LURD letters and their (row, column) steps."""
SPLITS = {"unfiltered": ("train", "valid", "test"), "medium": ("train", "valid"), "hard": ("",)}
"""The level sets and modes of the real dataset (hard has no modes), which minihack's ids read."""
TASK_SPLITS = {
    "MiniHack-Boxoban-Unfiltered-v0": ("unfiltered", "train"),
    "MiniHack-Boxoban-Medium-v0": ("medium", "train"),
    "MiniHack-Boxoban-Hard-v0": ("hard", ""),
}
"""The split each of minihack's Boxoban ids reads (fixed in its classes)."""
LEVELS_PER_SPLIT = 300
"""Levels generated per split: plenty for MiniHack's uniform level draw."""
ENV_VAR = "CREDO_BOXOBAN_DIR"
"""Points at a real `boxoban-levels-master` folder to use DeepMind's levels instead of generated ones."""

Cell = tuple[int, int]


@dataclass(frozen=True)
class Difficulty:
    """Reverse-play settings of one level set."""

    rounds: int
    """Times the player walks up to a box and pulls it (1 to `max_pull` cells in a straight line)."""
    min_displacement: int
    """Least total Manhattan distance of the boxes from their own targets for a level to be kept."""
    max_pull: int = 3
    """Most cells one round pulls its box."""

    def __post_init__(self) -> None:
        if self.rounds < BOXES or self.max_pull < 1:  # every box must leave its target
            raise ConfigError(f"Boxoban difficulty needs rounds >= {BOXES} and max_pull >= 1, got {self}")


DIFFICULTY = {
    "unfiltered": Difficulty(rounds=6, min_displacement=5),
    "medium": Difficulty(rounds=12, min_displacement=10),
    "hard": Difficulty(rounds=20, min_displacement=15),
}


@dataclass(frozen=True)
class Level:
    """One level: its 10 rows of text and a solution in LURD notation (lowercase walks, uppercase pushes)."""

    rows: tuple[str, ...]
    solution: str

    @property
    def text(self) -> str:
        return "\n".join(self.rows) + "\n"


def _carve_room(rng: random.Random) -> set[Cell]:
    """A connected floor of 24-44 cells inside the border, carved by a walker stamping 1x1 to 2x2 patches."""
    target = rng.randint(24, 44)
    r, c = rng.randint(2, SIZE - 3), rng.randint(2, SIZE - 3)
    floor: set[Cell] = set()
    direction = rng.choice(list(MOVES.values()))
    while len(floor) < target:
        height, width = rng.choice(((1, 1), (1, 2), (2, 1), (2, 2)))
        floor.update((min(r + i, SIZE - 2), min(c + j, SIZE - 2)) for i in range(height) for j in range(width))
        if rng.random() < 0.35:
            direction = rng.choice(list(MOVES.values()))
        r = min(max(r + direction[0], 1), SIZE - 2)
        c = min(max(c + direction[1], 1), SIZE - 2)
    return floor


def _walk(floor: set[Cell], boxes: set[Cell] | dict[Cell, Cell], start: Cell) -> dict[Cell, tuple[Cell, str]]:
    """Breadth-first walk of the player around the boxes: each reached cell -> (previous cell, LURD letter)."""
    previous: dict[Cell, tuple[Cell, str]] = {start: (start, "")}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        for letter, (dr, dc) in MOVES.items():
            nxt = (cell[0] + dr, cell[1] + dc)
            if nxt in floor and nxt not in boxes and nxt not in previous:
                previous[nxt] = (cell, letter)
                queue.append(nxt)
    return previous


def _route(floor: set[Cell], boxes: set[Cell], start: Cell, goal: Cell) -> str:
    """The player's shortest walk from `start` to `goal` around the boxes, in lowercase LURD."""
    previous = _walk(floor, boxes, start)
    path = []
    cell = goal
    while cell != start:
        cell, letter = previous[cell]
        path.append(letter)
    return "".join(reversed(path))


def _solution(floor: set[Cell], boxes: set[Cell], player: Cell, pulls: list[tuple[Cell, str]]) -> str:
    """Undo `pulls` (player cell before the pull, direction moved) last first: walk there, then push."""
    boxes, moves = set(boxes), []
    for cell, letter in reversed(pulls):
        dr, dc = MOVES[letter]
        stand = (cell[0] + dr, cell[1] + dc)  # where the pull left the player
        moves.append(_route(floor, boxes, player, stand))
        boxes.remove(cell)
        boxes.add((cell[0] - dr, cell[1] - dc))
        moves.append({"u": "D", "d": "U", "l": "R", "r": "L"}[letter])
        player = cell
    return "".join(moves)


def _reverse_play(rng: random.Random, floor: set[Cell], difficulty: Difficulty) -> Level | None:
    """Boxes start on targets; each round the player walks to a box it can reach and pulls it straight.

    Returns the state (after some round) with the boxes farthest from their targets, if it is a valid start
    (no box on a target, player not on one) and far enough; else None.
    """
    cells = sorted(floor)
    pullable = [c for c in cells if any((c[0] + dr, c[1] + dc) in floor and (c[0] + 2 * dr, c[1] + 2 * dc) in floor
                                        for dr, dc in MOVES.values())]  # a target in a dead end stays filled
    if len(pullable) < BOXES + 1:
        return None
    targets = rng.sample(pullable, BOXES)
    home = {t: t for t in targets}  # box now -> its target
    player = rng.choice([c for c in cells if c not in home])
    pulls: list[tuple[Cell, str]] = []
    best: tuple[int, dict[Cell, Cell], Cell, int] | None = None
    for _ in range(difficulty.rounds):
        reach = _walk(floor, home, player)
        options = [(letter, (box[0] + dr, box[1] + dc), box in targets) for box in sorted(home)
                   for letter, (dr, dc) in MOVES.items()
                   if (box[0] + dr, box[1] + dc) in reach and (box[0] + 2 * dr, box[1] + 2 * dc) in reach]
        if not options:
            break
        first = [option for option in options if option[2]]  # boxes still on their targets go first
        letter, player, _ = rng.choice(first or options)
        dr, dc = MOVES[letter]
        for _ in range(rng.randint(1, difficulty.max_pull)):
            nxt = (player[0] + dr, player[1] + dc)
            if nxt not in floor or nxt in home:
                break
            home[player] = home.pop((player[0] - dr, player[1] - dc))
            pulls.append((player, letter))
            player = nxt
        displacement = sum(abs(b[0] - t[0]) + abs(b[1] - t[1]) for b, t in home.items())
        if not set(home) & set(targets) and player not in targets and (best is None or displacement > best[0]):
            best = (displacement, dict(home), player, len(pulls))
    if best is None or best[0] < difficulty.min_displacement:
        return None
    _, boxes, player, n_pulls = best
    rows = [["#"] * SIZE for _ in range(SIZE)]
    for r, c in floor:
        rows[r][c] = " "
    for r, c in targets:
        rows[r][c] = "."
    for r, c in boxes:
        rows[r][c] = "$"
    rows[player[0]][player[1]] = "@"
    return Level(tuple("".join(row) for row in rows), _solution(floor, set(boxes), player, pulls[:n_pulls]))


def generate_level(rng: random.Random, difficulty: Difficulty) -> Level:
    """One solvable level by reverse play (new rooms and walks until one is hard enough)."""
    while True:
        floor = _carve_room(rng)
        for _ in range(5):
            if (level := _reverse_play(rng, floor, difficulty)) is not None:
                return level


def generate_levels(level_set: str, level_mode: str, count: int = LEVELS_PER_SPLIT) -> list[Level]:
    """`count` levels of one split; the same arguments give the same levels on every machine."""
    if level_set not in SPLITS or level_mode not in SPLITS[level_set]:
        known = ", ".join(f"{s}/{m}" if m else s for s, modes in SPLITS.items() for m in modes)
        raise ConfigError(f"unknown Boxoban split {level_set}/{level_mode}; known: {known}")
    return [generate_level(random.Random(f"boxoban/{level_set}/{level_mode}/{i}"), DIFFICULTY[level_set])
            for i in range(count)]


def format_levels(levels: list[Level]) -> str:
    """Boxoban's file text: "; <n>", the 10 rows, a blank line, for each level."""
    return "".join(f"; {i}\n{level.text}\n" for i, level in enumerate(levels))


def split_folder(root: Path, level_set: str, level_mode: str) -> Path:
    """Where minihack reads a split: `root/<level_set>/<level_mode>` (hard has no mode: `root/hard`)."""
    return root / level_set / level_mode if level_mode else root / level_set


def ensure_split(root: Path, level_set: str, level_mode: str, count: int = LEVELS_PER_SPLIT) -> Path:
    """The split's folder under `root`, generating its levels first when it is missing.

    The levels are written in a temporary folder next to it and renamed into place, so a reader never sees a
    half-written file, and two processes generating at once both succeed (the later rename loses, harmlessly:
    both made the same levels).
    """
    folder = split_folder(root, level_set, level_mode)
    if folder.is_dir():
        return folder
    levels = generate_levels(level_set, level_mode, count)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        (tmp / "000.txt").write_text(format_levels(levels))
        os.rename(tmp, folder)
    except OSError:
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def levels_path(task: str) -> Path:
    """The folder minihack should read for `task`: `$CREDO_BOXOBAN_DIR`, else minihack's own download, else
    credo's generated levels (the splits `task` reads are generated on first use; all of them for an id that
    is not one of minihack's three)."""
    if os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR]).expanduser()
        if not (path / "unfiltered").is_dir():
            raise ConfigError(f"{ENV_VAR}={path} is not a boxoban-levels-master folder (no unfiltered/ in it)")
        return path
    import minihack

    downloaded = Path(minihack.__file__).parent / "dat" / "boxoban-levels-master"
    if downloaded.is_dir():
        return downloaded
    root = cache_root() / "boxoban"
    splits = [TASK_SPLITS[task]] if task in TASK_SPLITS else [(s, m) for s, modes in SPLITS.items() for m in modes]
    for level_set, level_mode in splits:
        ensure_split(root, level_set, level_mode)
    return root


def use_levels(task: str) -> Path:
    """Point minihack's Boxoban envs at `levels_path(task)`: call it before constructing `task`."""
    import minihack.envs.boxohack as boxohack

    path = levels_path(task)
    boxohack.LEVELS_PATH = str(path)
    return path
