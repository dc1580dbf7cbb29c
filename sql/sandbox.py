"""What SQL may read and write: DuckDB's sandbox, configured so that nothing inside the
lake is ever reachable.

Facts this relies on, measured with duckdb 2.0: `allowed_paths` and
`allowed_directories` can only be set before `enable_external_access = false`, and
nothing can change once `lock_configuration = true`; they are allow-lists only (no
"everywhere but the lake"), so a folder that holds the lake can never be allowed as a
folder; COPY writes `tmp_NAME` beside a file it replaces; `temp_directory` (default `.tmp`
under the current folder) is allowed implicitly, so connections set their own.

DuckDB checks a path and opens it differently: the check removes `..` as text first and
then resolves the links of what remains, while the OS opens the path as written, following
each link before the `..` after it. `OUT/link/../x`, where OUT/link leads into the lake,
passes the check as `OUT/x` and opens the lake's `x`; so does `/proc/self/root/../../LAKE/x`
once `/proc/LAKE/x` is allowed. So every path a statement names is resolved both ways
(`resolutions`), and a statement with a path that the OS would open inside the lake, or
at a folder holding it, while DuckDB's check would place it elsewhere is refused whole.
A path assembled at run time (`'OUT/li' || 'nk/../x'`) is not seen here, so what is
allowed leaves it no link to climb through: a folder only when nothing under it links to
a folder outside it (`climbing_link`; not `/proc`, whose `self/root` is `/`, nor a folder
holding a link into the lake), and any path only when its parent folder exists (not
`/proc/LAKE/x`, which `/proc/self/root/../../LAKE/x` would reach), and neither when a
folder above it whose way down ends like a folder of the lake holds a link to climb
(`shifted_into_lake`: OUT/_versions when OUT holds a link into the lake). What remains: a
link someone made, climbed to write a file whose name is none of the lake's in its own
folder, or reached through links outside every folder looked at (docs/sql.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import duckdb

from winnow.lake import Lake
from winnow.lake.errors import UsageError
from winnow.lake.outputs import inside as _inside, inside_lake, lake_folder  # noqa: F401  (inside_lake: for sql's callers)

_GLOB = re.compile(r"[*?\[{]")
_DENIED = re.compile(r'Cannot access (?:file|directory) "([^"]*)"')


class FileAccessError(UsageError):
    """SQL asked for a file its connection may not read or write."""


def resolutions(path: str) -> tuple[str, str]:
    """(where DuckDB's check puts `path`, where the OS opens it), both absolute with links
    resolved. DuckDB removes `..` as text, then resolves the links of what remains; the OS
    resolves each component in turn, a link before the `..` that follows it (as
    `os.path.realpath` does). They differ only where a link is followed by `..`."""
    absolute = os.path.join(os.getcwd(), path)
    return os.path.realpath(os.path.normpath(absolute)), os.path.realpath(absolute)


WALK_LIMIT = 20_000  # entries looked through under one folder; a larger folder is not allowed


def climbing_link(folder: str) -> str | None:
    """A link under `folder` (links not followed) to a folder that `..` could climb out of
    `folder` through: one whose target is outside `folder`, or closer to its top than the
    link is (`LINK/../../x` goes up from the target as many levels as LINK is deep). The
    folder itself when it holds more than WALK_LIMIT entries. None: `..` stays inside."""
    seen = 0
    for top, dirs, names in os.walk(folder):
        seen += len(dirs) + len(names)
        if seen > WALK_LIMIT:
            return folder
        for name in dirs:  # a link to a folder is listed here, and not walked into
            path = os.path.join(top, name)
            if os.path.islink(path):
                target = os.path.realpath(path)
                if not _inside(target, folder) or target.count("/") < path.count("/"):
                    return path
    return None


_FILES_ONLY = {"data", "_versions", "_transactions", "_deletions"}  # Lance folders of files only
# Names of the lake's own files worth a look through the named file's folder (a manifest
# makes a new lake version; the others are read by name).
_LAKE_FILE = re.compile(r".*\.(manifest|txn|lance)$|latest_version_hint\.json$|card\.json$")


def lake_folders(lake_dir: str, depth: int = 4) -> list[str]:
    """The lake's folder and the folders in it, `depth` levels down (not inside the Lance
    folders that hold only files)."""
    found, level = [lake_dir], [lake_dir]
    for _ in range(depth):
        below = []
        for folder in level:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    found.append(entry.path)
                    if entry.name not in _FILES_ONLY:
                        below.append(entry.path)
        level = below
    return found


def shifted_into_lake(folder: str, lakes: list[str]) -> str | None:
    """A link through which `D/LINK/../REST` could open inside the lake what DuckDB checks as
    `folder/...`: for each folder D above `folder` whose way down to `folder` also ends a
    folder of the lake (`lakes`: `_versions` for OUT/_versions), a link under D that `..`
    climbs out through (climbing_link). None when there is none."""
    above = folder
    while os.path.dirname(above) != above:
        above = os.path.dirname(above)
        tail = "/" + os.path.relpath(folder, above)
        if any(f.endswith(tail) for f in lakes):
            link = climbing_link(above)
            if link:
                return link
    return None


def allowance(paths: Iterable[str | os.PathLike], lake: Lake) -> tuple[list[str], list[str]]:
    """(files, folders) DuckDB may read and write for `paths`, never inside the lake.

    Each path is resolved (`~`, `..`, links) the way DuckDB's check resolves it. A path
    inside the lake is left out (DuckDB refuses it). A path that the OS would open inside
    the lake, or at a folder holding it, while the check places it elsewhere (a link
    followed by `..`) is a FileAccessError for the whole statement. A folder is allowed
    with what it holds unless it holds the lake or a link `..` could climb out through
    (`climbing_link`); a file by its exact path (and `tmp_NAME` beside it, which DuckDB's
    COPY writes first when it replaces a file). A path whose parent folder does not exist
    is left out, and so is one that a link followed by `..` could shift into the lake: under
    a folder above it whose way down matches a folder of the lake (`shifted_into_lake`), or,
    for a file named like one of the lake's (`*.manifest`), in its own folder. A glob allows
    the folder it lists (DuckDB expands no `..` after a wildcard).
    """
    lake_dir = lake_folder(lake)
    lakes = lake_folders(lake_dir) if lake_dir is not None else []
    holding = [lake_dir]  # a folder under which the lake would be, too: all it holds is allowed
    while lake_dir is not None and os.path.dirname(holding[-1]) != holding[-1]:
        holding.append(os.path.dirname(holding[-1]))
    files: set[str] = set()
    folders: set[str] = set()
    for raw in paths:
        p = os.fspath(raw)
        if p.startswith("file://"):
            p = p[len("file://"):]
        elif "://" in p or not p.strip() or "\0" in p or len(p) > 4096:
            continue  # object stores need extensions the sandbox does not load
        glob = _GLOB.search(p)
        if glob:
            p = os.path.dirname(p[: glob.start()]) or "."
        for variant in dict.fromkeys((p, os.path.expanduser(p))):
            checked, opened = resolutions(variant)
            if lake_dir is not None and opened != checked and not _inside(checked, lake_dir) \
                    and (_inside(opened, lake_dir) or _inside(lake_dir, opened)):
                raise FileAccessError(
                    f"cannot access {os.fspath(raw)!r}: it leads into the lake {lake.uri} through a link followed "
                    "by '..' (DuckDB would check it as " + repr(checked) + "); SQL never reads or writes the lake's files")
            parent, name = os.path.split(checked)
            if lake_dir is not None and (_inside(checked, lake_dir) or not os.path.isdir(parent)):
                continue
            if lake_dir is None or not (_inside(lake_dir, checked) or climbing_link(checked)
                                        or shifted_into_lake(checked, lakes + holding)):
                folders.add(checked)
            if not glob and (lake_dir is None or not (shifted_into_lake(parent, lakes)
                                                      or (_LAKE_FILE.match(name) and climbing_link(parent)))):
                files.update((checked, os.path.join(parent, "tmp_" + name)))
    return sorted(files), sorted(folders)


def named_paths(sql: str, _depth: int = 0) -> list[str]:
    """The string literals (and double-quoted names) of `sql`, and those of the SQL a literal
    holds (`query('SELECT * FROM read_text(''x'')')`): the files it may read or write.
    Over-inclusive on purpose: a literal that is no path allows nothing that matters."""
    found = []
    try:
        tokens = duckdb.tokenize(sql)
    except duckdb.Error:
        return found
    for pos, kind in tokens:
        if kind == duckdb.token_type.string_const or (kind == duckdb.token_type.identifier and sql[pos] == '"'):
            text = _literal(sql, pos)
            if text is not None:
                found.append(text)
                if _depth < 4 and any(q in text for q in "'\"$"):
                    found.extend(named_paths(text, _depth + 1))
    return list(dict.fromkeys(found))


def _literal(sql: str, pos: int) -> str | None:
    """The value of the quoted literal starting at `pos` ('...', E'...', $tag$...$tag$, "...")."""
    if sql[pos] in "eE" and sql[pos + 1: pos + 2] == "'":
        pos += 1  # backslash escapes are left as written: a miss only denies access
    quote = sql[pos]
    if quote in "'\"":
        out, i = [], pos + 1
        while i < len(sql):
            if sql[i] == quote:
                if sql[i + 1: i + 2] == quote:
                    out.append(quote)
                    i += 2
                    continue
                return "".join(out)
            out.append(sql[i])
            i += 1
        return None
    if quote == "$":
        end = sql.find("$", pos + 1)
        if end < 0:
            return None
        tag = sql[pos: end + 1]
        close = sql.find(tag, end + 1)
        return sql[end + 1: close] if close >= 0 else None
    return None


def access_error(e: duckdb.Error, lake: Lake, sealed: bool = False) -> FileAccessError | None:
    """DuckDB's refusal of a file, as a FileAccessError saying why; None for other errors."""
    if not isinstance(e, duckdb.PermissionException):
        return None
    m = _DENIED.search(str(e))
    path = m.group(1) if m else None
    shown = repr(path) if path else "a file"
    lake_dir = lake_folder(lake)
    if path and lake_dir and _inside(os.path.realpath(path), lake_dir):
        why = f"it is inside the lake {lake.uri}: SQL never reads or writes the lake's files (query its tables)"
    elif sealed:
        why = "this connection has no file access: it reads only the lake's tables"
    else:
        why = ("SQL reads and writes only the files and folders its statement names as string literals, "
               "outside the lake, in folders that exist; not a path built by an expression, nor a glob or folder "
               "that holds the lake, a link to a folder outside it or over 20,000 entries")
    return FileAccessError(f"cannot access {shown}: {why}")
