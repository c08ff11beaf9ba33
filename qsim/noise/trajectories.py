"""Quantum trajectories (Monte-Carlo wave function) on the state-vector kernels.

For circuits too large for density matrices (``4**n`` entries; 20+ qubits), each trajectory
is a pure state: at every channel one Kraus operator ``K_a`` is drawn with probability
``p_a = ‖K_a ψ‖²`` and ``ψ ← K_a ψ / √p_a``.  Then ``E[⟨ψ|O|ψ⟩] = Tr(O ρ)`` exactly, and the mean
over ``T`` trajectories has standard error ``s/√T`` (``s`` the sample standard deviation).

Two kinds of channel sites:

* **Pauli channels** (depolarizing, bit/phase flip, phase damping, ...; detected by
  :attr:`~qsim.noise.channels.Channel.pauli_probabilities`): the error is drawn up front,
  independently of the state, and inserted as a ``U3`` gate per wire whose angles are
  *per-trajectory inputs* (``I = U3(0,0,0)``, ``X ∝ U3(π,0,π)``, ``Y ∝ U3(π,π/2,π/2)``,
  ``Z = U3(0,0,π)``; global phases do not matter).  The whole noisy circuit is then one batched,
  fused run of the core kernels with trajectories as batch rows;
* **general channels** (amplitude damping, thermal relaxation, user Kraus sets): the circuit is
  cut there; ``p_a`` comes from the reduced density matrix of the channel's wires, and the drawn
  ``K_a/√p_a`` (per trajectory) is applied with the backend's ``apply_matrix``.

The state-vector work runs on the :data:`TRAJECTORY_BACKEND` backend of the registry
(:func:`qsim.backends.get_backend`): its protocol methods ``forward`` and ``expvals``, plus
``apply_matrix``, the optional capability of backends whose kernels apply any (non-unitary)
matrix in place.

Rows of one run are ``trajectory-major``: row ``t·B + b`` is trajectory ``t`` of sample ``b``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..backends import Backend, get_backend
from ..circuit import Circuit, CircuitError, Input, Operation
from ..gates import U3
from ..measure import basis_change_ops, readout_observables, rng_from
from ..observables import as_observables
from ..precision import BYTES_PER_AMPLITUDE
from ..program import lower
from ..program.bind import initial_states
from ..validate import check_batch
from .channels import Channel
from .models import NoiseModel, NoisyCircuit, as_noisy

__all__ = ["TrajectoryResult", "run_trajectories", "TRAJECTORY_MEMORY_BYTES", "DEFAULT_TRAJECTORIES", "FIRST_ROUND",
           "STATES_PER_ROW", "AMPLITUDE_BYTES", "MIN_KRAUS_PROBABILITY", "TRAJECTORY_BACKEND"]

log = logging.getLogger(__name__)

#: Memory for the trajectory states of one round (rows = trajectories × batch); each row needs
#: about three state vectors (state, the kernels' output copy, a temporary).
TRAJECTORY_MEMORY_BYTES = 1 << 30
#: Trajectories when neither a count nor a target standard error is given.
DEFAULT_TRAJECTORIES = 1000
#: State vectors held per trajectory row (the state, the kernels' output copy, a temporary).
STATES_PER_ROW = 3
#: Bytes of one amplitude: trajectories run in complex128 only.
AMPLITUDE_BYTES = BYTES_PER_AMPLITUDE["complex128"]
#: Floor of a drawn Kraus branch's probability ``p_a`` before dividing by ``√p_a``: a branch is
#: drawn with probability ``p_a``, so only round-off can pick one with ``p_a = 0``.
MIN_KRAUS_PROBABILITY = 1e-300
#: Registry name of the backend trajectories run on (complex128 states in host memory, in-place
#: ``apply_matrix`` for Kraus branches).
TRAJECTORY_BACKEND = "numba"
#: Trajectories in the first round of an adaptive run (``target_stderr``); later rounds are
#: sized from the observed standard error.
FIRST_ROUND = 64

_PAULI_U3 = {"I": (0.0, 0.0, 0.0), "X": (math.pi, 0.0, math.pi), "Y": (math.pi, math.pi / 2, math.pi / 2),
             "Z": (0.0, 0.0, math.pi)}


@dataclass(frozen=True)
class TrajectoryResult:
    """Trajectory estimate of ``Tr(O_j ρ_b)``.

    Attributes:
        mean: ``(B, m)`` the estimate.
        stderr: ``(B, m)`` its standard error ``s/√T``.
        n_trajectories: ``T``.
        probabilities: per requested measurement basis, the trajectory-averaged outcome
            probabilities ``(B, 2**n)`` (for shot sampling), else ``None``.
    """

    mean: np.ndarray
    stderr: np.ndarray
    n_trajectories: int
    probabilities: tuple[np.ndarray, ...] | None = None


@dataclass(frozen=True)
class _PauliSite:
    slot: int                        # first added input column
    wires: tuple[int, ...]
    labels: tuple[str, ...]
    cum: np.ndarray                  # cumulative probabilities


@dataclass(frozen=True)
class _KrausSite:
    channel: Channel
    wires: tuple[int, ...]


@dataclass(frozen=True)
class _Layout:
    segments: tuple[Circuit, ...]        # segment i runs before kraus site i
    kraus_sites: tuple[_KrausSite, ...]
    pauli_sites: tuple[_PauliSite, ...]
    n_inputs: int


@lru_cache(maxsize=64)
def _layout(noisy: NoisyCircuit) -> _Layout:
    n = noisy.n_qubits
    slot = noisy.n_inputs
    segs: list[list[Operation]] = [[]]
    ksites: list[_KrausSite] = []
    psites: list[_PauliSite] = []
    for ins in noisy.instructions:
        if isinstance(ins, Operation):
            segs[-1].append(ins)
            continue
        probs = ins.channel.pauli_probabilities
        if probs is None:
            ksites.append(_KrausSite(ins.channel, ins.wires))
            segs.append([])
            continue
        labels = tuple(probs)
        cum = np.cumsum([probs[lab] for lab in labels])
        cum[-1] = 1.0
        psites.append(_PauliSite(slot, ins.wires, labels, cum))
        for i, w in enumerate(ins.wires):
            segs[-1].append(Operation(U3, (w,), tuple(Input(slot + 3 * i + j) for j in range(3))))
        slot += 3 * len(ins.wires)
    circuits = tuple(Circuit(n, tuple(ops), noisy.n_weights, slot) for ops in segs)
    return _Layout(circuits, tuple(ksites), tuple(psites), slot)


def _pauli_inputs(layout: _Layout, base: np.ndarray | None, B: int, T: int, rng) -> np.ndarray:
    """Inputs ``(T·B, n_inputs)``: the circuit's own inputs tiled, then the sampled Pauli angles."""
    R = T * B
    x = np.zeros((R, layout.n_inputs))
    if base is not None and base.shape[1]:
        x[:, :base.shape[1]] = np.tile(base, (T, 1))
    for site in layout.pauli_sites:
        pick = np.minimum(np.searchsorted(site.cum, rng.random(R), side="right"), len(site.labels) - 1)
        for i in range(len(site.wires)):
            ang = np.array([_PAULI_U3[lab[i]] for lab in site.labels])       # (L, 3)
            x[:, site.slot + 3 * i: site.slot + 3 * i + 3] = ang[pick]
    return x


def _reduced(psi: np.ndarray, wires: tuple[int, ...], n: int) -> np.ndarray:
    """Reduced density matrices on ``wires`` ``(R, d, d)`` (row by row, to bound memory)."""
    d = 2 ** len(wires)
    out = np.empty((psi.shape[0], d, d), dtype=complex)
    src = [w for w in wires]
    for r in range(psi.shape[0]):
        a = np.moveaxis(psi[r].reshape((2,) * n), src, list(range(len(wires)))).reshape(d, -1)
        out[r] = a @ a.conj().T
    return out


def _apply_kraus_site(backend: Backend, psi: np.ndarray, site: _KrausSite, n: int, rng) -> None:
    kr = np.asarray(site.channel.kraus)
    rho = _reduced(psi, site.wires, n)
    pos = np.einsum("aji,ajk->aik", kr.conj(), kr)                  # K_a† K_a
    p = np.clip(np.einsum("aij,rji->ra", pos, rho).real, 0.0, None)  # (R, A)
    p /= p.sum(axis=1, keepdims=True)
    cum = np.cumsum(p, axis=1)
    pick = np.minimum((rng.random(psi.shape[0])[:, None] > cum).sum(axis=1), kr.shape[0] - 1)
    mats = kr[pick] / np.sqrt(np.maximum(p[np.arange(psi.shape[0]), pick], MIN_KRAUS_PROBABILITY))[:, None, None]
    backend.apply_matrix(psi, mats, site.wires, n)


def _run_round(backend: Backend, noisy, layout, weights, inputs, psi0, B, T, rng) -> np.ndarray:
    n = noisy.n_qubits
    R = B * T
    x = _pauli_inputs(layout, inputs, B, T, rng)
    psi = None if psi0 is None else np.tile(psi0, (T, 1))
    for i, seg in enumerate(layout.segments):
        if seg.ops:
            psi = backend.forward(seg, lower(seg, backend.default_fusion), weights, x, psi, R, np.complex128)
        elif psi is None:
            psi = initial_states(n, R, None, np.complex128)
        if i < len(layout.kraus_sites):
            _apply_kraus_site(backend, psi, layout.kraus_sites[i], n, rng)
    return psi


def run_trajectories(circuit: Circuit | NoisyCircuit, observables, weights=None, inputs=None, state=None, *,
                     model: NoiseModel | None = None, trajectories: int | None = None, seed=None,
                     target_stderr: float | None = None, max_trajectories: int = 100_000, readout: bool = True,
                     bases: tuple[dict[int, str], ...] = (), memory_bytes: int = TRAJECTORY_MEMORY_BYTES
                     ) -> TrajectoryResult:
    """Trajectory estimate of the (readout-mapped, if ``readout``) expectations.

    Args:
        trajectories: number of trajectories ``T`` (default :data:`DEFAULT_TRAJECTORIES`, or
            rounds until ``target_stderr`` when that is given).
        target_stderr: stop when the largest standard error is at or below this (at most
            ``max_trajectories``).
        seed: int, ``None`` or a ``numpy.random.Generator``; results are reproducible per seed.
        bases: measurement bases ``{wire: 'X'|'Y'|'Z'}`` whose averaged outcome probabilities to
            return (for shot sampling).
    """
    noisy = as_noisy(circuit, model)
    obs = as_observables(observables)
    if readout and noisy.readout is not None:
        obs = readout_observables(obs, noisy.readout_array)
    if state is not None and np.ndim(state) == 3:
        raise CircuitError("trajectories start from pure states (B, 2**n); density matrices are not supported")
    b = check_batch(noisy.circuit, weights, inputs, state)
    n, B = noisy.n_qubits, b.size
    if target_stderr is None:
        total = DEFAULT_TRAJECTORIES if trajectories is None else int(trajectories)
        if total < 2:
            raise CircuitError(f"trajectories = {trajectories!r} must be at least 2 (for a standard error)")
    else:
        if not target_stderr > 0:
            raise CircuitError(f"target_stderr = {target_stderr!r} must be positive")
        total = max_trajectories
    rng = rng_from(seed)
    backend = get_backend(TRAJECTORY_BACKEND)
    layout = _layout(noisy)
    mem_rows = max(2, memory_bytes // max(1, STATES_PER_ROW * B * (2**n) * AMPLITUDE_BYTES))
    s1 = np.zeros((B, len(obs)))
    s2 = np.zeros((B, len(obs)))
    probs = [np.zeros((B, 2**n)) for _ in bases]
    basis_circuits = [Circuit(n, tuple(basis_change_ops(bs))) if basis_change_ops(bs) else None for bs in bases]
    basis_progs = [None if c is None else (c, lower(c, backend.default_fusion)) for c in basis_circuits]
    done = 0
    T = min(mem_rows, total) if target_stderr is None else min(mem_rows, total, FIRST_ROUND)
    while done < total:
        T = max(1, min(T, total - done))
        psi = _run_round(backend, noisy, layout, b.weights, b.inputs, b.state, B, T, rng)
        vals = backend.expvals(psi, obs, n).reshape(T, B, len(obs))
        s1 += vals.sum(axis=0)
        s2 += (vals**2).sum(axis=0)
        for i, prog in enumerate(basis_progs):
            ps = psi if prog is None else backend.forward(*prog, np.zeros(0), None, psi, psi.shape[0], np.complex128)
            probs[i] += (np.abs(ps) ** 2).reshape(T, B, -1).sum(axis=0)
        done += T
        if target_stderr is not None and done >= 2:
            var = np.maximum(s2 / done - (s1 / done) ** 2, 0.0) * done / (done - 1)
            se = float(np.max(np.sqrt(var / done)))
            if se <= target_stderr:
                break
            # trajectories still needed for the target (stderr ∝ 1/√T), with 10 % margin
            need = int(math.ceil(done * (se / target_stderr) ** 2 * 1.1)) - done
            T = min(mem_rows, max(need, 2))
        else:
            T = min(mem_rows, total - done)
    mean = s1 / done
    var = np.maximum(s2 / done - mean**2, 0.0) * done / max(done - 1, 1)
    log.debug("trajectories: %d done, max stderr %.3g", done, float(np.max(np.sqrt(var / done))))
    return TrajectoryResult(mean, np.sqrt(var / done), done, tuple(p / done for p in probs) if bases else None)
