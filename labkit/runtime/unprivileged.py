"""Running a server as an unprivileged user when the lab itself runs as root.

Some servers refuse root (PostgreSQL: "root execution of the PostgreSQL server is not
permitted"). A learner's laptop never runs the lab as root, but CI and some containers do:
there the lab starts such a server as `RUN_AS_WHEN_ROOT` (``nobody``, which every Linux
has). Nothing on the system is changed (no user is added): only ``LABKIT_HOME`` gets the
search (x) bit for others, so that user can reach its own folder inside; it still cannot
list or read anything else there.
"""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass
from typing import Any

from .. import paths
from ..errors import LabError

#: Who runs a server that refuses root, when the lab runs as root.
RUN_AS_WHEN_ROOT = "nobody"


class CannotDropRoot(LabError):
    """The lab runs as root and cannot run a server as an unprivileged user here."""


@dataclass(frozen=True)
class RunAs:
    """The user the server runs as: this one (None) or, when this is root, `RUN_AS_WHEN_ROOT`."""

    uid: int | None = None
    gid: int | None = None
    name: str = ""

    def popen_args(self) -> dict[str, Any]:
        """``subprocess.Popen``'s arguments that drop to this user (no supplementary groups)."""
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def run_as(server: str) -> RunAs:
    """Who runs ``server`` (a name for messages): this user, or `RUN_AS_WHEN_ROOT` as root."""
    if os.geteuid() != 0:
        return RunAs()
    try:
        entry = pwd.getpwnam(RUN_AS_WHEN_ROOT)
    except KeyError:
        raise CannotDropRoot(
            f"{server} will not run as root, and there is no user {RUN_AS_WHEN_ROOT!r} to run it as. "
            "Run the lab as an ordinary user."
        ) from None
    return RunAs(entry.pw_uid, entry.pw_gid, RUN_AS_WHEN_ROOT)


def open_the_way(who: RunAs, server: str) -> None:
    """As root: let ``who`` reach its folder in LABKIT_HOME. LABKIT_HOME (the lab's own) gets the
    search bit for others (o+x: pass through, not list or read); a closed folder above
    it is not the lab's to open, so that is an error naming it."""
    if who.uid is None:
        return
    home = paths.home().resolve()
    mode = home.stat().st_mode
    if not mode & stat.S_IXOTH:
        home.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    for parent in home.parents:
        st = parent.stat()
        if st.st_mode & stat.S_IXOTH or st.st_uid == who.uid:
            continue
        if st.st_gid == who.gid and st.st_mode & stat.S_IXGRP:
            continue
        raise CannotDropRoot(
            f"As root, the lab runs {server} as user {who.name!r} ({server} refuses root), and "
            f"that user cannot pass through {parent}. Put LABKIT_HOME somewhere it can reach, or run "
            "the lab as an ordinary user."
        )
