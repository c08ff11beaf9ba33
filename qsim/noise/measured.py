"""Measured expectations, samples and counts of noisy circuits: :func:`expval_noisy`,
:func:`sample_noisy`, :func:`counts_noisy` (engines: density matrices or trajectories).

They take the noise-free :class:`~qsim.circuit.Circuit` plus a :class:`~qsim.noise.NoiseModel`
(or an already built :class:`~qsim.noise.NoisyCircuit`), the usual ``weights (P,)``,
``inputs (B, k)`` and optional initial ``state`` (pure ``(B, 2**n)`` or density matrices
``(B, 2**n, 2**n)``), and return numpy arrays.  Expectations are *measured* expectations: the
model's readout error is included (exactly, through :func:`qsim.measure.readout_observables`,
or by sampling when ``shots`` is given: :func:`qsim.measure.shot_expvals`).
"""

from __future__ import annotations

import numpy as np

from ..circuit import Circuit, CircuitError
from ..measure import (
    check_shots, counts_dicts, measurement_groups, readout_observables, rng_from, sample_bitstrings, shot_expvals,
)
from ..observables import Observable, as_observables
from .density.evolve import basis_probabilities, evolve
from .density.observables import probabilities_rho, vec_expvals
from .density.states import vec_to_matrix
from .models import NoiseModel, NoisyCircuit, as_noisy
from .trajectories import run_trajectories

__all__ = ["measured_expvals", "measured_samples", "measured_counts", "measured_observables", "METHODS"]

#: Engines of :func:`expval_noisy`.
METHODS = ("density", "trajectories")


def measured_observables(noisy: NoisyCircuit, observables) -> tuple[Observable, ...]:
    """Observables whose exact expectation is the *measured* one (the noisy circuit's readout
    confusion folded in: :func:`qsim.measure.readout_observables`)."""
    obs = as_observables(observables)
    return readout_observables(obs, noisy.readout_array) if noisy.readout is not None else obs


def _density_shots(noisy: NoisyCircuit, obs, weights, inputs, state, shots, rng, fusion, backend, real) -> np.ndarray:
    n = noisy.n_qubits
    vec = evolve(noisy, weights, inputs, state, backend=backend, real=real, fusion=fusion)
    cache: dict = {}

    def probs_in(basis: dict[int, str]) -> np.ndarray:
        key = tuple(sorted(basis.items()))
        if key not in cache:
            cache[key] = basis_probabilities(vec, n, basis)
        return cache[key]

    return shot_expvals(probs_in, obs, n, shots, rng, noisy.readout_array, batch_size=vec.shape[0])


def measured_expvals(circuit: Circuit | NoisyCircuit, observables, weights=None, inputs=None, state=None, *,
                     model: NoiseModel | None = None, shots: int | None = None, seed=None, method: str = "density",
                     trajectories: int | None = None, target_stderr: float | None = None,
                     backend: str = "numba", real: bool | None = None, fusion: bool = True) -> np.ndarray:
    """Measured expectation values ``(B, m)`` of ``observables`` on the noisy circuit.

    Args:
        circuit: the noise-free circuit (with ``model``) or a :class:`NoisyCircuit`.
        observables: one or a sequence of :class:`~qsim.Observable` / :class:`~qsim.PauliString`.
        weights: ``(P,)`` trainable angles; inputs: ``(B, k)`` per-sample angles.
        state: optional initial pure states ``(B, 2**n)`` or density matrices ``(B, 2**n, 2**n)``.
        model: the :class:`NoiseModel` (``None``: noise-free, perfect readout).
        shots: ``None`` for exact expectations (readout error applied exactly); an integer for
            shot estimates: each measurement setting (group of qubit-wise commuting Pauli terms)
            is sampled ``shots`` times, with readout error on the sampled bits.
        seed: int, ``None`` or ``numpy.random.Generator``: same seed, same shot estimate.
        method: ``"density"`` (exact density matrix, default) or ``"trajectories"`` (Monte-Carlo
            wave function for large registers; ``trajectories`` count or ``target_stderr``).
        backend: ``"numba"`` or ``"numpy"`` (the density engine's NumPy oracle; exact only);
            trajectories run on ``numba``.
        real: the density engine's real fast path (``None`` = when the data allow it).
        fusion: fuse instructions into superoperator blocks (density method).

    The public entry point is :func:`qsim.expval` with ``noise=``; this is its engine.

    Returns:
        ``(B, m)`` float64.

    Example::

        model = qsim.noise.load_profile("ionq-aria-like")
        y = qsim.expval(circuit, z_each(4), w, x, noise=model, shots=1000, seed=0)
    """
    noisy = as_noisy(circuit, model)
    if method not in METHODS:
        raise CircuitError(f"method {method!r} must be one of {METHODS}")
    obs_in = as_observables(observables)
    if shots is not None:
        shots = check_shots(shots)
    if method == "trajectories":
        if backend != "numba":
            raise CircuitError(f"backend {backend!r}: trajectories run on the numba backend")
        if real is not None:
            raise CircuitError(f"real={real!r}: trajectories choose their own arithmetic (complex)")
        bases = tuple(bs for bs, _ in measurement_groups(obs_in, noisy.n_qubits)) if shots else ()
        res = run_trajectories(noisy, obs_in, weights, inputs, state, trajectories=trajectories, seed=rng_from(seed),
                               target_stderr=target_stderr, readout=True, bases=bases)
        if shots is None:
            return res.mean
        lookup = {tuple(sorted(bs.items())): p for bs, p in zip(bases, res.probabilities)}
        return shot_expvals(lambda bs: lookup[tuple(sorted(bs.items()))], obs_in, noisy.n_qubits, shots,
                            rng_from(seed), noisy.readout_array, batch_size=res.mean.shape[0])
    if trajectories is not None or target_stderr is not None:
        raise CircuitError("trajectories / target_stderr apply to method='trajectories'")
    if shots is None:
        vec = evolve(noisy, weights, inputs, state, backend=backend, real=real, fusion=fusion)
        return vec_expvals(vec, measured_observables(noisy, obs_in), noisy.n_qubits)
    return _density_shots(noisy, obs_in, weights, inputs, state, shots, rng_from(seed), fusion, backend, real)


def measured_samples(circuit: Circuit | NoisyCircuit, shots: int, weights=None, inputs=None, state=None, *,
                     model: NoiseModel | None = None, seed=None, backend: str = "numba",
                     fusion: bool = True) -> np.ndarray:
    """Measured basis-state indices ``(B, shots)`` in the computational basis (qubit 0 = most
    significant bit), sampled from the noisy density matrix, readout error applied per bit."""
    noisy = as_noisy(circuit, model)
    vec = evolve(noisy, weights, inputs, state, backend=backend, fusion=fusion)
    p = probabilities_rho(vec_to_matrix(vec, noisy.n_qubits))
    return sample_bitstrings(p, shots, rng_from(seed), noisy.readout_array)


def measured_counts(circuit: Circuit | NoisyCircuit, shots: int, weights=None, inputs=None, state=None, *,
                    model: NoiseModel | None = None, seed=None, backend: str = "numba",
                    fusion: bool = True) -> list[dict[str, int]]:
    """Per sample, ``{bitstring q_0…q_{n-1}: count}`` of :func:`measured_samples`."""
    noisy = as_noisy(circuit, model)
    return counts_dicts(measured_samples(noisy, shots, weights, inputs, state, seed=seed, backend=backend,
                                         fusion=fusion), noisy.n_qubits)
