"""The two entry points used by the hybrid head: :func:`expval_noisy` and :func:`vjp_noisy`.

Both take the noise-free :class:`~qsim.circuit.Circuit` plus a :class:`~qsim.noise.NoiseModel`
(or an already built :class:`~qsim.noise.NoisyCircuit`), the usual ``weights (P,)``,
``inputs (B, k)`` and optional initial ``state`` (pure ``(B, 2**n)`` or density matrices
``(B, 2**n, 2**n)``), and return numpy arrays.  Expectations are *measured* expectations: the
model's readout error is included (exactly, through :func:`~qsim.noise.shots.readout_observables`,
or by sampling when ``shots`` is given).
"""

from __future__ import annotations

import logging

import numpy as np

from ..circuit import Circuit, CircuitError
from ..grad.adjoint import VJP
from ..observables import as_observables
from . import density as D
from .gradients import adjoint_vjp_density, param_shift_vjp_noisy
from .models import NoiseModel, NoisyCircuit, as_noisy
from .shots import check_shots, readout_observables, rng_from, sample_bitstrings, shot_expvals
from .trajectories import run_trajectories

__all__ = ["expval_noisy", "vjp_noisy", "sample_noisy", "counts_noisy", "METHODS", "VJP_METHODS"]

log = logging.getLogger(__name__)

METHODS = ("density", "trajectories")
VJP_METHODS = ("adjoint", "straight_through", "param_shift")


def _measured_obs(noisy: NoisyCircuit, observables):
    obs = as_observables(observables)
    return readout_observables(obs, noisy.readout_array) if noisy.readout is not None else obs


def _density_shots(noisy: NoisyCircuit, obs, weights, inputs, state, shots, rng, fusion) -> np.ndarray:
    n = noisy.n_qubits
    vec = D.evolve(noisy, weights, inputs, state, fusion=fusion)
    cache: dict = {}

    def probs_in(basis: dict[int, str]) -> np.ndarray:
        key = tuple(sorted(basis.items()))
        if key not in cache:
            from .shots import basis_change_ops

            ops = basis_change_ops(basis)
            v = vec
            if ops:
                rot = NoisyCircuit(Circuit(n, tuple(ops)), tuple(ops))
                pl = D.plan(rot)
                v = np.array(vec, dtype=np.complex128)
                D._run(pl, v, D._bind(pl, rot, np.zeros(0), None, v.shape[0], v.dtype, False).vals)
            cache[key] = D.probabilities_rho(D.vec_to_matrix(v, n))
        return cache[key]

    return shot_expvals(probs_in, obs, n, shots, rng, noisy.readout_array, batch_size=vec.shape[0])


def expval_noisy(circuit: Circuit | NoisyCircuit, observables, weights=None, inputs=None, state=None, *,
                 model: NoiseModel | None = None, shots: int | None = None, seed=None, method: str = "density",
                 trajectories: int | None = None, target_stderr: float | None = None,
                 fusion: bool = True) -> np.ndarray:
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
        fusion: fuse instructions into superoperator blocks (density method).

    Returns:
        ``(B, m)`` float64.

    Example::

        model = qsim.noise.load_profile("ionq-aria-like")
        y = expval_noisy(circuit, z_each(4), w, x, model=model, shots=1000, seed=0)
    """
    noisy = as_noisy(circuit, model)
    if method not in METHODS:
        raise CircuitError(f"method {method!r} must be one of {METHODS}")
    obs_in = as_observables(observables)
    if shots is not None:
        shots = check_shots(shots)
    if method == "trajectories":
        from .shots import measurement_groups

        bases = tuple(bs for bs, _ in measurement_groups(obs_in, noisy.n_qubits)) if shots else ()
        res = run_trajectories(noisy, obs_in, weights, inputs, state, trajectories=trajectories, seed=rng_from(seed),
                               target_stderr=target_stderr, readout=True, bases=bases)
        if shots is None:
            return res.mean
        lookup = {tuple(sorted(bs.items())): p for bs, p in zip(bases, res.probabilities)}
        return shot_expvals(lambda bs: lookup[tuple(sorted(bs.items()))], obs_in, noisy.n_qubits, shots,
                            rng_from(seed), noisy.readout_array, batch_size=res.mean.shape[0])
    if shots is None:
        vec = D.evolve(noisy, weights, inputs, state, fusion=fusion)
        return D.vec_expvals(vec, _measured_obs(noisy, obs_in), noisy.n_qubits)
    return _density_shots(noisy, obs_in, weights, inputs, state, shots, rng_from(seed), fusion)


def vjp_noisy(circuit: Circuit | NoisyCircuit, observables, cotangents, weights=None, inputs=None, state=None, *,
              model: NoiseModel | None = None, shots: int | None = None, seed=None, method: str = "adjoint",
              fusion: bool = True) -> VJP:
    """Vector-Jacobian product of the measured noisy expectations against ``cotangents (B, m)``.

    Methods (see :mod:`qsim.noise.shots` for the discussion of bias):

    * ``"adjoint"``: exact gradient of the exact measured expectation (density matrix, Heisenberg
      picture backward sweep); ``shots`` must be ``None``.  ``values`` are exact.
    * ``"straight_through"``: for training with shots.  ``values`` are the shot estimate (the same
      numbers :func:`expval_noisy` returns for the same ``shots`` and ``seed``); the gradient is
      the exact adjoint gradient, i.e. the sampling step is treated as the identity: a **biased**
      estimator with respect to the sampled forward value (cheap, deterministic).
    * ``"param_shift"``: parameter-shift rule on the noisy circuits; with ``shots`` each shifted
      circuit gets fresh shots, an **unbiased** estimate of the exact gradient (what a QPU could
      measure); ``values`` are the unshifted evaluation.  Needs a noise-free ``Circuit`` and a
      ``model``.

    Returns:
        :class:`qsim.grad.VJP` with ``values (B, m)``, ``weights (P,)`` (summed over the batch),
        ``inputs (B, k) | None`` and ``state`` (adjoint methods with a given initial state:
        ``2 O_H ψ_0`` for pure states, the Heisenberg observable ``O_H`` for density matrices;
        else ``None``).
    """
    if method not in VJP_METHODS:
        raise CircuitError(f"method {method!r} must be one of {VJP_METHODS}")
    if method == "param_shift":
        if isinstance(circuit, NoisyCircuit):
            raise CircuitError("method='param_shift' needs the noise-free Circuit and a model")
        return param_shift_vjp_noisy(circuit, observables, cotangents, weights, inputs, state, model=model,
                                     shots=shots, seed=seed, fusion=fusion)
    noisy = as_noisy(circuit, model)
    if method == "adjoint" and shots is not None:
        raise CircuitError("method='adjoint' is exact; with shots use 'straight_through' (biased, exact "
                           "gradient) or 'param_shift' (unbiased shot estimate)")
    if method == "straight_through" and shots is None:
        raise CircuitError("method='straight_through' needs shots (without shots use 'adjoint')")
    obs = _measured_obs(noisy, observables)
    res = adjoint_vjp_density(noisy, obs, cotangents, weights, inputs, state, fusion=fusion)
    if method == "straight_through":
        values = expval_noisy(noisy, observables, weights, inputs, state, shots=shots, seed=seed, fusion=fusion)
        return VJP(values, res.weights, res.inputs, res.state)
    return res


def sample_noisy(circuit: Circuit | NoisyCircuit, shots: int, weights=None, inputs=None, state=None, *,
                 model: NoiseModel | None = None, seed=None, fusion: bool = True) -> np.ndarray:
    """Measured basis-state indices ``(B, shots)`` in the computational basis (qubit 0 = most
    significant bit), sampled from the noisy density matrix, readout error applied per bit."""
    noisy = as_noisy(circuit, model)
    vec = D.evolve(noisy, weights, inputs, state, fusion=fusion)
    p = D.probabilities_rho(D.vec_to_matrix(vec, noisy.n_qubits))
    return sample_bitstrings(p, shots, rng_from(seed), noisy.readout_array)


def counts_noisy(circuit: Circuit | NoisyCircuit, shots: int, weights=None, inputs=None, state=None, *,
                 model: NoiseModel | None = None, seed=None) -> list[dict[str, int]]:
    """Per sample, ``{bitstring q_0…q_{n-1}: count}`` of :func:`sample_noisy`."""
    noisy = as_noisy(circuit, model)
    idx = sample_noisy(noisy, shots, weights, inputs, state, seed=seed)
    n = noisy.n_qubits
    out = []
    for row in idx:
        vals, cnt = np.unique(row, return_counts=True)
        out.append({format(int(v), f"0{n}b"): int(c) for v, c in zip(vals, cnt)})
    return out
