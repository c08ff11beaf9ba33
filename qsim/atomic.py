"""Atomic file writes: a result or cache file is either the old one or the complete new one.

A long run that is interrupted (Ctrl-C, a killed job) must never leave a half-written JSON or
array behind.  Every writer in the project goes through :func:`atomic_write`, which writes to a
temporary file in the destination folder, flushes and fsyncs it, then ``os.replace``-s it over
the target (an atomic rename on POSIX and Windows).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_json"]


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    The parent folder is created when missing.  ``str`` data is encoded with ``encoding``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
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
    return target


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int = 2) -> Path:
    """Serialise ``obj`` as JSON (sorted keys, trailing newline) and write it atomically."""
    return atomic_write(path, json.dumps(obj, indent=indent, sort_keys=True) + "\n")
