"""Where a command may write what it makes (`--out`), one rule for every verb: a local path
whose parent folder exists (no verb creates a chain of folders the user did not ask for: a
typo in a path fails at once instead of leaving folders behind); a file output is not a
folder and a folder output is not a file; and a file output is never a hard link to one of
the lake's files (writing through it would change the lake). Whether a verb may write
inside the lake at all is the verb's own rule (a rater may go to LAKE/raters).
"""

from __future__ import annotations

import os
from pathlib import Path

from winnow.lake.errors import check


def lake_folder(lake) -> str | None:
    """The lake's folder on the local disk with links resolved; None for an object store."""
    return None if lake.local_path is None else os.path.realpath(lake.local_path)


def inside(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or under it (both resolved, as text)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def inside_lake(path: str | os.PathLike, lake) -> bool:
    """Whether a local path (links resolved) is the lake's folder or inside it."""
    folder = lake_folder(lake)
    return folder is not None and inside(os.path.realpath(os.path.expanduser(os.fspath(path))), folder)


def linked_lake_file(path: str | os.PathLike, lake) -> str | None:
    """The lake's file that `path` is a hard link to (the same inode), or None. Only a file
    with more than one link is looked for in the lake."""
    folder = lake_folder(lake)
    try:
        st = os.stat(path)
    except OSError:
        return None
    if folder is None or st.st_nlink < 2 or not os.path.isfile(path):
        return None
    for top, _, names in os.walk(folder):
        for name in names:
            try:
                other = os.stat(os.path.join(top, name), follow_symlinks=False)
            except OSError:
                continue
            if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                return os.path.join(top, name)
    return None


def check_out(out, *, folder: bool, lake=None, option: str = "--out") -> Path:
    """`out` as the local path to write: a UsageError (one line, exit 2) when it is empty or
    a URI, when its parent folder does not exist, when it is a file but a `folder` is
    wanted (or the reverse), or when it is a hard link to a file of `lake`.

        >>> path = check_out("top-shards", folder=True)  # the working folder exists; top-shards need not
    """
    given = os.fspath(out)
    kind = "folder" if folder else "file"
    check(given.strip() != "", f"{option} is empty: give a {kind}")
    check("://" not in given, f"{option} {given}: give a local {kind}, not a URI")
    path = Path(given).expanduser()
    parent = Path(os.path.abspath(path)).parent
    check(not parent.exists() or parent.is_dir(), f"{option} {given}: {parent} is a file")
    check(parent.is_dir(), f"{option} {given}: the folder {parent} does not exist")
    if folder:
        check(not path.exists() or path.is_dir(), f"{option} {given} is a file, not a folder")
    else:
        check(not path.is_dir(), f"{option} {given} is a folder: give a file name")
        if lake is not None:
            linked = linked_lake_file(path, lake)
            check(linked is None, f"{option} {given} is a hard link to the lake's file {linked}: writing it "
                                  "would change the lake; remove it or give another name")
    return path
