"""The former noisy entry points, kept for one release: each warns and calls the front door.

==========================================  ============================================================
former name                                 now
==========================================  ============================================================
``expval_noisy(c, obs, w, x, s, model=m)``  ``qsim.expval(c, obs, w, x, s, noise=m)``
``vjp_noisy(..., model=m, method=...)``     ``qsim.grad.vjp(..., noise=m, method=...)``
``sample_noisy`` / ``counts_noisy``         ``qsim.sample`` / ``qsim.counts`` with ``noise=m``
``param_shift_vjp_noisy(..., engine=e)``    ``qsim.grad.vjp(..., noise=m, method="param_shift", engine=e)``
==========================================  ============================================================

``fusion`` was a bool here and is qsim's level everywhere else: ``True`` -> ``None`` (the
engine's default), ``False`` -> ``0``.
"""

from __future__ import annotations

import warnings

from ..grad.methods import vjp
from ..simulate import counts, expval, sample

__all__ = ["expval_noisy", "vjp_noisy", "sample_noisy", "counts_noisy", "param_shift_vjp_noisy", "DEPRECATED"]


def _warn(old: str, new: str) -> None:
    warnings.warn(f"qsim.noise.{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


def _level(fusion: bool) -> int | None:
    return None if fusion else 0


def expval_noisy(circuit, observables, weights=None, inputs=None, state=None, *, model=None, shots=None, seed=None,
                 method: str = "density", trajectories=None, target_stderr=None, fusion: bool = True):
    _warn("expval_noisy", "qsim.expval(..., noise=model)")
    return expval(circuit, observables, weights, inputs, state, noise=_model(circuit, model), shots=shots,
                  seed=seed, method=method, trajectories=trajectories, target_stderr=target_stderr,
                  fusion=_level(fusion))


def vjp_noisy(circuit, observables, cotangents, weights=None, inputs=None, state=None, *, model=None, shots=None,
              seed=None, method: str = "adjoint", fusion: bool = True):
    _warn("vjp_noisy", "qsim.grad.vjp(..., noise=model)")
    return vjp(circuit, observables, cotangents, weights, inputs, state, noise=_model(circuit, model), shots=shots,
               seed=seed, method=method, fusion=_level(fusion))


def param_shift_vjp_noisy(circuit, observables, cotangents, weights=None, inputs=None, state=None, *, model=None,
                          shots=None, seed=None, engine: str = "density", trajectories=None, fusion: bool = True):
    _warn("param_shift_vjp_noisy", "qsim.grad.vjp(..., noise=model, method='param_shift')")
    return vjp(circuit, observables, cotangents, weights, inputs, state, noise=_model(circuit, model), shots=shots,
               seed=seed, method="param_shift", engine=engine, trajectories=trajectories, fusion=_level(fusion))


def sample_noisy(circuit, shots, weights=None, inputs=None, state=None, *, model=None, seed=None,
                 fusion: bool = True):
    _warn("sample_noisy", "qsim.sample(..., noise=model)")
    return sample(circuit, shots, weights, inputs, state, noise=_model(circuit, model), seed=seed,
                  fusion=_level(fusion))


def counts_noisy(circuit, shots, weights=None, inputs=None, state=None, *, model=None, seed=None):
    _warn("counts_noisy", "qsim.counts(..., noise=model)")
    return counts(circuit, shots, weights, inputs, state, noise=_model(circuit, model), seed=seed)


def _model(circuit, model):
    """The former functions took ``model=None`` as "noise-free": the front door's empty model."""
    from .models import NoiseModel, NoisyCircuit

    if model is None and not isinstance(circuit, NoisyCircuit):
        return NoiseModel()
    return model


#: Names this module serves to ``qsim.noise.__getattr__``.
DEPRECATED = frozenset(__all__) - {"DEPRECATED"}
