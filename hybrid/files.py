"""Reading user-supplied array files with one-line errors that name the file (no torch, no pickle).

``.npz`` archives (precomputed embeddings, saved classical baselines) are read with
``allow_pickle=False``: a file from someone else can hold arrays, never code.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["read_npz"]

#: First bytes of a ``.npz`` (a zip archive: local file header, or the end record of an empty one).
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: First bytes of a single ``.npy`` array.
_NPY_MAGIC = b"\x93NUMPY"


def read_npz(
    path: str | os.PathLike[str], label: str | None = None, error: type[Exception] = ValueError
) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive ``path``, read with ``allow_pickle=False``.

    A file that is not an archive (a single ``.npy`` array, text, a truncated download) or that
    holds pickled objects raises ``error`` in one line starting with ``label`` (default: the
    path).  A missing file raises :class:`FileNotFoundError`.
    """
    p = Path(path)
    name = label or str(p)
    with open(p, "rb") as handle:
        head = handle.read(16)
    if head.startswith(_NPY_MAGIC):
        raise error(
            f"{name}: is a single .npy array, not a .npz archive of named arrays "
            "(write one with numpy.savez)"
        )
    if not head.startswith(_ZIP_MAGIC):
        raise error(f"{name}: not a .npz archive ({p.stat().st_size} bytes, starting {head!r})")
    try:
        with np.load(p, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except Exception as exc:  # noqa: BLE001 - zip, header and pickle errors all mean "bad file"
        raise error(f"{name}: not a readable .npz archive ({type(exc).__name__}: {exc})") from None
