"""Correctness before speed: fingerprints of outputs and their comparison with the reference.

Every adapter returns its output as a dict of NumPy arrays in qsim's conventions (qubit 0 the
most significant bit): ``"state"`` (flat state vector), ``"expval"`` ``(B, m)``, ``"value"``
and ``"grad"`` (W3), ``"loss"`` (HEAD).  A *fingerprint* keeps all of it except large states,
of which it keeps :data:`FINGERPRINT_SAMPLES` amplitudes at seeded random indices (plus the
first and last): enough to catch a wrong qubit order, rotation sign or missing gate, small
enough to store one reference per point however large the register.

The reference of a point is qhybrid's NumPy oracle where it runs (``n ≤``
:data:`NUMPY_REFERENCE_MAX_QUBITS`), else qhybrid-numba in complex128.  A row agrees when
``max |out - ref| ≤`` :func:`tolerance` of its dtype.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from qsim.atomic import atomic_write

__all__ = [
    "DOUBLE_TOL", "SINGLE_TOL", "HEAD_LOSS_TOL", "FINGERPRINT_SAMPLES", "FINGERPRINT_FULL_MAX_QUBITS",
    "NUMPY_REFERENCE_MAX_QUBITS", "AgreementError", "tolerance", "fingerprint_indices", "fingerprint",
    "compare", "ReferenceStore",
]

#: Largest accepted deviation from the reference for double-precision rows (issue 5, item 2).
DOUBLE_TOL = 1e-8
#: ... and for single-precision rows (complex64, float32).
SINGLE_TOL = 1e-4
#: HEAD compares the first training loss; heads may compute in float32 torch, hence the single tolerance.
HEAD_LOSS_TOL = SINGLE_TOL
#: States up to this many qubits are compared in full.
FINGERPRINT_FULL_MAX_QUBITS = 14
#: Amplitudes kept from larger states.
FINGERPRINT_SAMPLES = 1 << 14
#: The NumPy reference backend is the oracle up to this size (about 1 s for W1 at n = 16).
NUMPY_REFERENCE_MAX_QUBITS = 16
#: Seed of the fingerprint indices (fixed: every process must pick the same amplitudes).
_FINGERPRINT_SEED = 20240605


class AgreementError(ValueError):
    """An output cannot be compared with its reference (missing key, wrong shape)."""


def tolerance(dtype: str) -> float:
    """Agreement tolerance for a row of ``dtype``."""
    return SINGLE_TOL if dtype in ("complex64", "float32") else DOUBLE_TOL


def fingerprint_indices(n_qubits: int) -> np.ndarray | None:
    """Sorted basis indices kept from an ``n_qubits`` state (``None``: keep all)."""
    if n_qubits <= FINGERPRINT_FULL_MAX_QUBITS:
        return None
    N = 1 << n_qubits
    rng = np.random.default_rng([_FINGERPRINT_SEED, n_qubits])
    idx = rng.integers(0, N, FINGERPRINT_SAMPLES, dtype=np.int64)
    return np.unique(np.concatenate([idx, [0, N - 1]]))


def _as_numpy(a) -> np.ndarray:
    if hasattr(a, "get") and not isinstance(a, np.ndarray):  # CuPy arrays
        a = a.get()
    return np.asarray(a)


def fingerprint(output: dict, n_qubits: int) -> dict[str, np.ndarray]:
    """The part of ``output`` that is stored and compared (complex128 / float64 copies)."""
    fp: dict[str, np.ndarray] = {}
    for key, val in output.items():
        if key == "state":
            st = _as_numpy(val).reshape(-1)
            if st.shape[0] != 1 << n_qubits:
                raise AgreementError(f"state has {st.shape[0]} amplitudes, expected 2**{n_qubits}")
            idx = fingerprint_indices(n_qubits)
            fp[key] = np.array(st if idx is None else st[idx], dtype=np.complex128)
        else:
            a = _as_numpy(val)
            fp[key] = np.array(a, dtype=np.complex128 if np.iscomplexobj(a) else np.float64)
    return fp


def compare(candidate: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> float:
    """``max |candidate - reference|`` over the candidate's keys (all must be in the reference)."""
    if not candidate:
        raise AgreementError("the output is empty")
    err = 0.0
    for key, val in candidate.items():
        if key not in reference:
            raise AgreementError(f"output {key!r} has no reference (reference has {sorted(reference)})")
        ref = reference[key]
        if np.shape(val) != np.shape(ref):
            raise AgreementError(f"output {key!r} has shape {np.shape(val)}, reference {np.shape(ref)}")
        if val.size:
            if not np.all(np.isfinite(val)):
                return float("inf")
            err = max(err, float(np.max(np.abs(np.asarray(val) - ref))))
    return err


class ReferenceStore:
    """Reference fingerprints of one run, one ``.npz`` file per point (written atomically)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def save(self, key: str, fp: dict[str, np.ndarray]) -> Path:
        buf = io.BytesIO()
        np.savez(buf, **fp)
        return atomic_write(self.path(key), buf.getvalue())

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        p = self.path(key)
        if not p.exists():
            return None
        with np.load(p) as data:
            return {k: data[k] for k in data.files}
