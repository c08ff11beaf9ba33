"""The one front door for gradients: :func:`vjp` (exact, shots, noise; adjoint, straight-through or
parameter shift), the counterpart of :func:`qsim.expval`.

``f = Σ_{b,j} c_{bj} E_{bj}`` where ``E = qsim.expval(circuit, observables, w, x, state, noise=…,
shots=…)`` are the (measured) expectation values; :func:`vjp` returns ``∂f/∂w`` (summed over the
batch), ``∂f/∂x`` per sample and, for the adjoint methods with a given initial state, the state
cotangent.  Methods:

* ``"adjoint"``: the exact gradient of the exact expectation, one backward sweep (state vectors:
  :func:`qsim.grad.adjoint.adjoint_vjp`; with ``noise``: the Heisenberg-picture sweep over
  density matrices, :func:`qsim.noise.gradients.adjoint_vjp_density`, readout included).
  ``shots`` must be ``None``.
* ``"straight_through"``: for training with shots: ``values`` are the shot estimate (the numbers
  :func:`qsim.expval` returns for the same ``shots`` and ``seed``), the gradient is the exact
  adjoint gradient (sampling treated as the identity: **biased** with respect to the sampled
  value, cheap and deterministic).  Needs ``shots``.
* ``"param_shift"``: the shift rule (:func:`qsim.grad.param_shift.shift_vjp`) over
  :func:`qsim.expval` itself, so shots and noise follow every shifted circuit; with ``shots`` an
  **unbiased** estimate of the exact gradient (what a QPU can measure).  ``wrt`` limits the
  shifted angles to weights and/or inputs; no state gradient.
"""

from __future__ import annotations

from typing import Iterable

from ..circuit import Circuit
from ..errors import InputError
from ..measure import rng_from
from ..observables import as_observables
from ..results import VJP
from ..simulate import DENSITY_ADJOINT_BACKEND, check_noisy_options, density_fusion, expval, noisy_of
from .adjoint import adjoint_vjp
from .param_shift import WRT_ALL, shift_vjp

__all__ = ["vjp", "METHODS"]

#: Gradient methods of :func:`vjp`.
METHODS = ("adjoint", "straight_through", "param_shift")


def vjp(circuit, observables, cotangents, weights=None, inputs=None, state=None, *, noise=None,
        shots: int | None = None, seed=None, method: str = "adjoint", wrt: Iterable[str] = WRT_ALL,
        backend: str = "numba", precision: str = "double", real: bool | None = None,
        fusion: int | None = None, engine: str | None = None, trajectories: int | None = None) -> VJP:
    """Vector-Jacobian product of :func:`qsim.expval`'s values against ``cotangents (B, m)``.

    Arguments are :func:`qsim.expval`'s (``engine`` is its ``method``: the noisy engine of the
    parameter-shift evaluations), plus ``method`` (module docstring) and ``wrt``.

    Returns:
        :class:`~qsim.results.VJP` ``(values (B, m), weights (P,), inputs (B, k) | None,
        state | None)``.
    """
    if method not in METHODS:
        raise InputError(f"method {method!r} must be one of {METHODS}")
    if method == "param_shift":
        return _param_shift(circuit, observables, cotangents, weights, inputs, state, noise=noise, shots=shots,
                            seed=seed, wrt=wrt, backend=backend, precision=precision, real=real, fusion=fusion,
                            engine=engine, trajectories=trajectories)
    if engine is not None or trajectories is not None:
        raise InputError(f"engine / trajectories choose the evaluations of method='param_shift'; the {method} "
                         "gradient is the exact density-matrix or state-vector sweep")
    if method == "adjoint" and shots is not None:
        raise InputError("method='adjoint' is exact; with shots use 'straight_through' (biased, exact gradient) "
                         "or 'param_shift' (unbiased shot estimate)")
    if method == "straight_through" and shots is None:
        raise InputError("method='straight_through' needs shots (without shots use 'adjoint')")
    res = _adjoint(circuit, observables, cotangents, weights, inputs, state, noise, backend, precision, real, fusion)
    if method == "straight_through":
        values = expval(circuit, observables, weights, inputs, state, noise=noise, shots=shots, seed=seed,
                        backend=backend, precision=precision, real=real, fusion=fusion)
        return VJP(values, res.weights, res.inputs, res.state)
    return res


def _adjoint(circuit, observables, cotangents, weights, inputs, state, noise, backend, precision, real,
             fusion) -> VJP:
    noisy = noisy_of(circuit, noise)
    if noisy is None:
        return adjoint_vjp(circuit, observables, cotangents, weights, inputs, state, backend=backend,
                           precision=precision, real=real, fusion=fusion)
    from ..noise.gradients import adjoint_vjp_density
    from ..noise.measured import measured_observables

    check_noisy_options(backend, precision, None)
    if backend != DENSITY_ADJOINT_BACKEND:
        raise InputError(f"backend {backend!r} with noise: the density-matrix adjoint runs on "
                         f"{DENSITY_ADJOINT_BACKEND!r}")
    return adjoint_vjp_density(noisy, measured_observables(noisy, observables), cotangents, weights, inputs,
                               state, real=real, fusion=density_fusion(fusion))


def _param_shift(circuit, observables, cotangents, weights, inputs, state, *, noise, shots, seed, wrt, backend,
                 precision, real, fusion, engine, trajectories) -> VJP:
    if not isinstance(circuit, Circuit):
        raise InputError("method='param_shift' needs the noise-free Circuit (and noise=<NoiseModel>): the shifted "
                         f"circuits are rebuilt, got {type(circuit).__name__}")
    obs = as_observables(observables)
    rng = rng_from(seed)

    def evaluate(c: Circuit):
        return expval(c, obs, weights, inputs, state, noise=noise, shots=shots, seed=rng, backend=backend,
                      precision=precision, real=real, fusion=fusion, method=engine, trajectories=trajectories)

    return shift_vjp(circuit, evaluate, cotangents, wrt=wrt)
