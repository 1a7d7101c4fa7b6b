"""One builder at a time: an exclusive ``flock`` on a lock file next to what is being built.

Why ``flock``: the kernel releases it when the holding process dies (killed, out of memory,
preempted node), so a lock is never left behind and needs no stale-lock heuristics; the lock file
itself stays (removing it would let a late process lock a fresh file while a waiter holds the old
one). Limits: on NFS, Linux emulates ``flock`` with POSIX byte-range locks, which work across clients
when the server's lock manager is reachable (NFSv4, or NFSv3 with ``lockd``); a lock held by a node
that crashed is released when the server's lease expires (about 90 s on NFSv4). On a file system
mounted without locking (NFS ``nolock``, Lustre without ``-o flock``) the lock is local to each node
or refused: then each process builds on its own, which costs time but stays correct, since every
builder writes a temporary file and renames it into place. Where locking is refused this is said
once in the log.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:  # why: fcntl is POSIX-only
    import fcntl
except ImportError:  # not on POSIX: no lock, each process builds (see the module's docstring)
    fcntl = None  # type: ignore[assignment]

#: errors of a file system that does not support flock
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _open(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        # created by another user of a shared data root with a stricter umask: locking still works
        return os.open(path, os.O_RDONLY)
    try:
        os.fchmod(fd, 0o666)  # every user of the data root must be able to take it
    except OSError:
        pass
    return fd


def holder(path: Path) -> str:
    """Who holds (or last held) the lock, as its holder wrote it."""
    try:
        text = lock_path(path).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"


@contextmanager
def build_lock(path: Path, log: Callable[[str], None] | None = None) -> Iterator[bool]:
    """Hold the exclusive lock of ``path`` (``<path>.lock``) for the block; waits while another
    process holds it, logging who. Yields whether a lock is held (``False`` where the file system
    refuses locks: the caller then builds unlocked)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _: None)
    if fcntl is None:
        yield False
        return
    fd = _open(lock_path(path))
    try:
        locked = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for {holder(path)} to finish building {path}")
            t0 = time.time()
            fcntl.flock(fd, fcntl.LOCK_EX)
            say(f"lock of {path} taken after {time.time() - t0:.0f}s")
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
            locked = False
            say(f"the file system of {path} refuses locks ({exc.strerror}); building without one")
        if locked:
            try:
                os.ftruncate(fd, 0)
                os.pwrite(
                    fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}\n".encode(), 0
                )
            except OSError:
                pass  # opened read-only: the lock holds, only the note of who holds it is missing
        yield locked
    finally:
        os.close(fd)  # releases the lock


__all__ = ["build_lock", "holder", "lock_path"]
