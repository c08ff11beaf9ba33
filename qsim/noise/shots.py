"""Deprecated: sampling, readout maps and shot estimators moved to :mod:`qsim.measure`.

``qsim.noise.shots.X`` keeps working for one release and emits a :class:`DeprecationWarning`
naming the new home; import from :mod:`qsim.measure` (or the ``qsim.noise`` package, which
re-exports :func:`apply_readout_to_probabilities`, :func:`readout_observables` and
:func:`sample_bitstrings`).
"""

from __future__ import annotations

import warnings

from .. import measure

#: Names that lived here, now in :mod:`qsim.measure`.
MOVED = (
    "apply_readout_to_probabilities", "readout_observables", "sample_counts", "sample_bitstrings",
    "measurement_groups", "basis_change_ops", "shot_expvals", "check_shots", "rng_from",
    "MAX_READOUT_EXPANSION_WIRES",
)

__all__: list[str] = []


def __getattr__(name: str):
    if name in MOVED:
        warnings.warn(f"qsim.noise.shots.{name} moved to qsim.measure.{name}; qsim.noise.shots will be removed",
                      DeprecationWarning, stacklevel=2)
        return getattr(measure, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
