"""Atomic file writes: a result or cache file is either the old one or the complete new one.

A long run that is interrupted (Ctrl-C, a killed job) must never leave a half-written JSON or
array behind.  Every writer in the project goes through :func:`atomic_write`, which writes to a
temporary file in the destination folder, flushes and fsyncs it, then ``os.replace``-s it over
the target (an atomic rename on POSIX and Windows) and fsyncs the folder, so that the rename
itself survives a crash.  The file gets the mode an ordinary ``open(path, "w")`` would give
(``0o666`` less the process umask, e.g. ``0o644``), not the ``0o600`` of a temporary file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_json", "current_umask", "fsync_folder"]


def current_umask() -> int:
    """The process umask, read without changing it where ``/proc`` allows (Linux >= 4.7)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # the portable way: set and restore
    os.umask(mask)
    return mask


def fsync_folder(folder: Path) -> None:
    """Persist a rename in ``folder``; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder; the data file is synced already
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    The parent folder is created when missing.  ``str`` data is encoded with ``encoding``.  The
    file's mode is ``0o666`` less the umask.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.chmod(tmp, 0o666 & ~current_umask())
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_folder(target.parent)
    return target


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int = 2) -> Path:
    """Serialise ``obj`` as JSON (sorted keys, trailing newline) and write it atomically."""
    return atomic_write(path, json.dumps(obj, indent=indent, sort_keys=True) + "\n")
