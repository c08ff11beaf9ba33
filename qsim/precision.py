"""The one precision table: ``name -> (complex dtype, real dtype, bytes per amplitude)``.

qsim simulates in ``"double"`` (complex128; float64 on the real fast path) or ``"single"``
(complex64; float32).  The benchmark and the energy model speak in amplitude dtypes, so those
names are accepted as aliases of their precision (``"complex64"`` and ``"float32"`` are both
``"single"``).  A state of ``n`` qubits takes ``bytes_per_amplitude · 2**n`` bytes (half of that
on the real path: :data:`BYTES_PER_AMPLITUDE` gives the size of every amplitude dtype).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import InputError

__all__ = ["Precision", "DOUBLE", "SINGLE", "PRECISIONS", "PRECISION_ALIASES", "BYTES_PER_AMPLITUDE",
           "precision_name", "resolve_precision"]

DOUBLE, SINGLE = "double", "single"


class Precision(NamedTuple):
    """Dtypes of one precision: ``complex`` states, ``real`` states (the real fast path) and the
    bytes of one complex amplitude."""

    complex: type
    real: type
    bytes_per_amplitude: int


#: Precision name -> its dtypes.
PRECISIONS: dict[str, Precision] = {
    DOUBLE: Precision(np.complex128, np.float64, np.dtype(np.complex128).itemsize),
    SINGLE: Precision(np.complex64, np.float32, np.dtype(np.complex64).itemsize),
}
#: Amplitude dtype name -> its precision name (the vocabulary of ``bench`` and ``energy``).
PRECISION_ALIASES: dict[str, str] = {
    np.dtype(dt).name: name for name, p in PRECISIONS.items() for dt in (p.complex, p.real)
}
#: Bytes of one amplitude of every dtype qsim simulates in (complex, and real on the fast path).
BYTES_PER_AMPLITUDE: dict[str, int] = {
    np.dtype(dt).name: np.dtype(dt).itemsize
    for dt in [p.complex for p in PRECISIONS.values()] + [p.real for p in PRECISIONS.values()]
}


def precision_name(name: str) -> str:
    """The precision ``"double"``/``"single"`` of a precision name or an amplitude dtype name.

    Raises:
        InputError: naming the bad value and the accepted names.
    """
    if isinstance(name, str):
        if name in PRECISIONS:
            return name
        if name in PRECISION_ALIASES:
            return PRECISION_ALIASES[name]
    raise InputError(f"precision {name!r} must be one of {tuple(PRECISIONS) + tuple(PRECISION_ALIASES)}")


def resolve_precision(name: str) -> Precision:
    """The dtypes of a precision (a name of :data:`PRECISIONS` or an alias of :data:`PRECISION_ALIASES`)."""
    return PRECISIONS[precision_name(name)]
