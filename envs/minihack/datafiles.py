"""NetHack's data files (rumors, engravings, epitaphs, oracles...) for MiniHack games.

MiniHack compiles its level into a fresh `nhdat` archive in each game's own HACKDIR (its `mh_patch_nhdat.sh`
packs only its `lib/` folder: `dungeon`, `quest.dat` and the level). NLE's archive, which holds every data
file NetHack reads at run time, is replaced, so a fortune cookie or the Master Key of Thievery's whisper prints
"Can't open 'rumors' file. Program in disorder!" and random engravings, epitaphs and the Oracle have no text.

NetHack's `dlb_fopen` looks in the archive first and then for a plain file of the same name in HACKDIR, so
`provide_data_files` extracts the missing ones there from the installed NLE's own `nhdat` with NLE's own `dlb`
tool: nothing in site-packages is edited, and a fresh machine gets the same files from its NLE wheel.
(NetHack tasks use NLE's archive unchanged and never lacked them.)
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess

log = logging.getLogger(__name__)

MINIHACK_ARCHIVE = frozenset({"dungeon", "quest.dat"})
"""What MiniHack's own archive holds besides its level: extracting NLE's versions would not be read anyway."""


def _nle_tools() -> tuple[str, str]:
    from nle.nethack.nethack import HACKDIR

    return os.path.join(HACKDIR, "dlb"), os.path.join(HACKDIR, "nhdat")


@functools.cache
def nle_data_files() -> tuple[str, ...]:
    """The data files in NLE's `nhdat` (every member but its index and the compiled levels)."""
    dlb, nhdat = _nle_tools()
    listing = subprocess.run([dlb, "tf", nhdat], capture_output=True, text=True, check=True).stdout
    return tuple(m for m in listing.split() if m != "Directory" and not m.endswith(".lev"))


def provide_data_files(hackdir: str) -> list[str]:
    """Extract NLE's data files missing from a MiniHack game's `hackdir`; returns the names extracted.

    A failure (no `dlb` tool in this NLE build) is logged once per call and leaves the game as MiniHack made it.
    """
    try:
        dlb, nhdat = _nle_tools()
        missing = [m for m in nle_data_files()
                   if m not in MINIHACK_ARCHIVE and not os.path.exists(os.path.join(hackdir, m))]
        if missing:
            subprocess.run([dlb, "xf", nhdat, *missing], cwd=hackdir, capture_output=True, check=True)
        return missing
    except (OSError, subprocess.CalledProcessError) as err:
        log.warning("minihack: could not provide NetHack's data files (rumors, engravings...): %s", err)
        return []
