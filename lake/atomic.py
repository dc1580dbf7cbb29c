"""Files and folders that appear whole or not at all (raters, reports, `--out` files).

The output is written into a temporary sibling, `.NAME.tmp-PID-RANDOM` (same folder, so the
rename cannot cross file systems; a dot name, which listings and loaders skip), flushed to
disk (fsync of every file, of the folder), then renamed into place as the last step:

- without `replace`, the rename never replaces what another process put there meanwhile:
  a folder is renamed with RENAME_NOREPLACE (Linux renameat2; elsewhere `os.rename`, which
  refuses a non-empty folder), a file is hard-linked into place (which refuses an existing
  name) and its temporary name removed. The loser gets a `TargetExists` (a UsageError), the
  winner's output stays whole;
- with `replace`, the last one wins whole: a folder is swapped in with RENAME_EXCHANGE and
  the old one removed after; a file is renamed over the old one.

A process killed before the rename leaves only its temporary sibling; the next write of
the same target removes temporaries whose process is gone (`clear_leftovers`).

    >>> with folder(Path("raters/rq")) as tmp:
    ...     _ = (tmp / "model.bin").write_bytes(b"weights")
    >>> with file(Path("top.csv"), "w") as f:
    ...     _ = f.write("id\\n")
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from winnow.lake.errors import UsageError
from winnow.lake.killpoints import step

AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


class TargetExists(UsageError):
    """The target appeared while this process was writing it, and `replace` was not given."""


def temporary(target: Path) -> Path:
    """A new temporary sibling of `target`, named after this process (and unique in it)."""
    return target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def clear_leftovers(target: Path) -> None:
    """Remove the temporary siblings of `target` left by processes that are gone."""
    prefix = f".{target.name}.tmp-"
    try:
        names = [p for p in target.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for path in names:
        pid = path.name[len(prefix):].partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() and not path.is_symlink() else \
            path.unlink(missing_ok=True)


@contextmanager
def folder(target: Path, *, replace: bool = False) -> Iterator[Path]:
    """A fresh temporary folder for `target`'s contents; renamed into place when the block
    ends without an error, removed when it raises. A `TargetExists` when `target` is a
    non-empty folder by then and `replace` is false."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clear_leftovers(target)
    tmp = temporary(target)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        _sync_tree(tmp)
        step("atomic:publish")
        _publish_folder(tmp, target, replace)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _sync(target.parent)


@contextmanager
def file(target: Path, mode: str = "wb", *, replace: bool = True, **open_args) -> Iterator[IO]:
    """An open file on `target`'s temporary sibling; renamed into place when the block ends
    without an error, removed when it raises. A `TargetExists` when `target` exists by then
    and `replace` is false."""
    target = Path(target)
    clear_leftovers(target)
    tmp = temporary(target)
    try:
        with open(tmp, mode, **open_args) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        step("atomic:publish")
        if replace:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise TargetExists(f"{target} appeared while it was being written: pass --replace to "
                                   "overwrite it") from None
    finally:
        tmp.unlink(missing_ok=True)
    _sync(target.parent)


def _publish_folder(tmp: Path, target: Path, replace: bool) -> None:
    for _ in range(20):
        if _renameat2(tmp, target, RENAME_NOREPLACE):
            return
        if not target.is_dir() or target.is_symlink():
            raise TargetExists(f"{target} appeared meanwhile and is not a folder")
        if not any(target.iterdir()):
            try:
                target.rmdir()  # an empty folder: nothing of anyone's lost
            except OSError:
                pass
            continue
        if not replace:
            raise TargetExists(f"{target} appeared while this one was being written (another process wrote "
                               "it): pass --replace to overwrite it")
        if _renameat2(tmp, target, RENAME_EXCHANGE):
            shutil.rmtree(tmp, ignore_errors=True)  # now the old folder
            return
    raise OSError(errno.EBUSY, f"cannot put {target} in place: other processes keep replacing it")


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """Rename with renameat2 `flags`; False when `dst` exists (NOREPLACE) or vanished (EXCHANGE)."""
    libc = _libc()
    if libc is not None:
        if libc.renameat2(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst), flags) == 0:
            return True
        e = ctypes.get_errno()
        if e in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOENT):
            return False
        if e not in (errno.EINVAL, errno.ENOSYS):  # EINVAL / ENOSYS: the file system cannot; fall back
            raise OSError(e, os.strerror(e), str(dst))
    # Without renameat2: os.rename refuses a non-empty folder; an exchange becomes move aside + rename.
    if flags == RENAME_EXCHANGE:
        aside = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        try:
            os.rename(dst, aside)
        except FileNotFoundError:
            return False
        try:
            os.rename(src, dst)
        except OSError:
            os.rename(aside, dst)
            return False
        shutil.rmtree(aside, ignore_errors=True)
        return True
    try:
        os.rename(src, dst)
        return True
    except OSError as e:
        if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
            return False
        raise


_LIBC: list = []


def _libc():
    if not _LIBC:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            _LIBC.append(libc)
        except (OSError, AttributeError):
            _LIBC.append(None)
    return _LIBC[0]


def _sync_tree(root: Path) -> None:
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _sync(Path(dirpath))


def _sync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
