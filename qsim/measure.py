"""Measurement: sampling, readout (assignment) maps, measurement settings and shot estimators.

One home for everything between a probability vector and a measured number; engines (state
vectors, density matrices, trajectories) supply probabilities, this module turns them into
samples, counts and estimates.  It sits below every engine and imports none of them.

**Sampling.**  :func:`sample_indices` draws basis-state indices by inverse CDF: with
``F_b(i) = Σ_{k≤i} p_b(k) / Σ_k p_b(k)`` and ``u ~ U[0, 1)``, the index is the first ``i`` with
``F_b(i) > u`` (qubit 0 is the most significant bit of the index, as everywhere in qsim).
:func:`sample_counts` draws multinomial counts instead (one draw per row, same distribution of
the histogram).

**Readout error.**  Qubit ``w`` reports ``m`` for true bit ``b`` with ``P(1|0) = p01``,
``P(0|1) = p10``, independently per qubit.  Two equivalent views are used:

* on probabilities: ``p_meas = (⊗_w A_w) p_true`` with ``A = [[1-p01, p10], [p01, 1-p10]]``
  (:func:`apply_readout_to_probabilities`); sampling ``p_meas`` has exactly the distribution of
  sampling true bitstrings and flipping each bit (:func:`flip_readout_bits` does the latter);
* on observables: ``E[(-1)^m] = a + g·(-1)^b`` with ``a = p10 - p01``, ``g = 1 - p01 - p10``, so a
  Pauli term ``c ∏_{w∈W} P_w`` measured with readout error has expectation
  ``c Σ_{S⊆W} ∏_{w∉S} a_w ∏_{w∈S} g_w ⟨∏_{w∈S} P_w⟩`` (:func:`readout_observables`; only the
  ``S = W`` term survives for symmetric errors).  Exact "measured" expectations and their
  gradients use this linear map.

**Shot estimates.**  Pauli terms are grouped into measurement settings (qubit-wise commuting
terms share one basis per wire, :func:`measurement_groups`); each setting is measured with
``shots`` shots: the state is rotated to the Z basis (``X: H``, ``Y: H·S†``,
:func:`basis_change_ops`), its probabilities pass through the readout confusion, bitstring
counts are drawn (multinomial, seeded) and each term's estimate is the mean of its ±1 parity
``(-1)^{|i ∧ s|}`` (:func:`qsim.observables.parity_signs`, re-exported here).  The estimate is
unbiased for the readout-mapped expectation and its variance is ``(1 - ⟨P⟩²)/shots`` per term
(:func:`shot_expvals`).

**Differentiable sampling** (numpy level; the torch wiring lives in ``hybrid``): the forward
value is the shot estimate; :func:`qsim.noise.vjp_noisy` offers two backward rules:

* ``method="straight_through"``: the exact gradient of the noisy expectation (adjoint on the
  density matrix).  The sampling step is treated as the identity, so this is a *biased*
  estimator with respect to the realised shot-noisy forward (it is not the derivative of the
  sampled value, and a QPU could not measure it), but it is deterministic and cheap;
* ``method="param_shift"``: parameter-shift with ``shots`` fresh shots per shifted circuit, an
  *unbiased* estimate of the exact gradient (what a QPU would measure), at ``2 ×`` (number of
  trainable angles) evaluations, with variance ``∝ 1/shots``.
"""

from __future__ import annotations

import itertools
import logging
from typing import Callable, Mapping

import numpy as np

from .circuit import CircuitError, Operation
from .gates import H, Sdg
from .observables import Observable, PauliString, as_observables, parity_signs
from .validate import check_shots

__all__ = [
    "rng_from", "check_shots", "check_readout", "apply_readout_to_probabilities", "readout_observables",
    "sample_indices", "sample_counts", "flip_readout_bits", "sample_bitstrings", "counts_dicts",
    "measurement_groups", "term_basis", "basis_change_ops", "measured_mask", "parity_signs", "shot_expvals",
    "MAX_READOUT_EXPANSION_WIRES",
]

log = logging.getLogger(__name__)

#: Largest number of measured wires of one Pauli term whose asymmetric readout error is expanded
#: exactly (``2**k`` terms); symmetric errors never expand.
MAX_READOUT_EXPANSION_WIRES = 12


# ---------------------------------------------------------------------- arguments
def rng_from(seed) -> np.random.Generator:
    """A Generator from a seed, ``None`` or an existing Generator (passed through, so one stream
    can serve several calls)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def check_readout(readout, n: int) -> np.ndarray:
    """``readout`` as an ``(n, 2)`` float array of ``(p01, p10)`` in ``[0, 1]``.

    Raises:
        CircuitError: wrong shape, or a probability outside ``[0, 1]`` or not finite.
    """
    r = np.asarray(readout, dtype=float)
    if r.shape != (n, 2):
        raise CircuitError(f"readout errors have shape {r.shape}, expected ({n}, 2) of (p01, p10)")
    if np.any(r < 0) or np.any(r > 1) or not np.all(np.isfinite(r)):
        raise CircuitError("readout error probabilities must lie in [0, 1]")
    return r


def _n_qubits(n_states: int) -> int:
    return int(round(np.log2(n_states)))


# ---------------------------------------------------------------------- readout maps
def apply_readout_to_probabilities(probs: np.ndarray, readout) -> np.ndarray:
    """``(⊗_w A_w) p`` for ``probs (B, 2**n)`` and ``readout (n, 2)`` of ``(p01, p10)``."""
    p = np.asarray(probs, dtype=float)
    B, N = p.shape
    n = _n_qubits(N)
    r = check_readout(readout, n)
    t = p.reshape((B,) + (2,) * n)
    for w in range(n):
        if r[w, 0] == 0.0 and r[w, 1] == 0.0:
            continue
        a = np.array([[1 - r[w, 0], r[w, 1]], [r[w, 0], 1 - r[w, 1]]])
        t = np.moveaxis(np.tensordot(a, t, axes=([1], [1 + w])), 0, 1 + w)
    return np.ascontiguousarray(t.reshape(B, N))


def readout_observables(observables, readout) -> tuple[Observable, ...]:
    """Observables whose exact expectation equals the readout-affected measured expectation.

    Each term ``c ∏_{w∈W} P_w`` becomes ``c Σ_{S⊆W} ∏_{w∉S} a_w ∏_{w∈S} g_w ∏_{w∈S} P_w`` with
    ``a = p10 - p01``, ``g = 1 - p01 - p10``.  ``readout=None`` returns the observables unchanged.

    Raises:
        CircuitError: an asymmetric error on a term with more than
            :data:`MAX_READOUT_EXPANSION_WIRES` measured wires.
    """
    obs = as_observables(observables)
    if readout is None:
        return obs
    n = len(readout)
    r = check_readout(readout, n)
    a = r[:, 1] - r[:, 0]
    g = 1.0 - r[:, 0] - r[:, 1]
    out = []
    for o in obs:
        terms: list[PauliString] = []
        for t in o.terms:
            pw = [(p, w) for p, w in zip(t.paulis, t.wires) if p != "I"]
            if any(w >= n for _, w in pw):
                raise CircuitError(f"Pauli term {t.paulis}{t.wires} acts outside the {n} measured qubits")
            asym = [i for i, (_, w) in enumerate(pw) if a[w] != 0.0]
            if len(asym) > MAX_READOUT_EXPANSION_WIRES:
                raise CircuitError(f"term {t.paulis}{t.wires}: asymmetric readout error on {len(asym)} wires "
                                   f"would expand into 2**{len(asym)} terms (max {MAX_READOUT_EXPANSION_WIRES})")
            sym = [i for i in range(len(pw)) if i not in asym]
            base = t.coeff * float(np.prod([g[pw[i][1]] for i in sym])) if sym else t.coeff
            for keep in itertools.product((False, True), repeat=len(asym)):
                coeff = base
                chosen = list(sym)
                for i, k in zip(asym, keep):
                    coeff *= g[pw[i][1]] if k else a[pw[i][1]]
                    if k:
                        chosen.append(i)
                if coeff == 0.0:
                    continue
                chosen.sort()
                terms.append(PauliString("".join(pw[i][0] for i in chosen), tuple(pw[i][1] for i in chosen), coeff))
        out.append(Observable(tuple(terms) if terms else (PauliString("", (), 0.0),)))
    return tuple(out)


# ---------------------------------------------------------------------- sampling
def sample_indices(probs: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """``(B, shots)`` basis-state indices drawn from each row of ``probs`` by inverse CDF.

    Rows need not be normalised (the CDF is divided by its last entry); negative round-off is
    clipped to 0.  ``rng.random((B, shots))`` is the only draw, so a seeded stream gives the
    same indices as any earlier inverse-CDF sampler of qsim.
    """
    shots = check_shots(shots)
    p = np.clip(np.asarray(probs, dtype=float), 0.0, None)
    B, N = p.shape
    cdf = np.cumsum(p, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random((B, shots))
    idx = np.empty((B, shots), dtype=np.int64)
    for b in range(B):
        idx[b] = np.minimum(np.searchsorted(cdf[b], u[b], side="right"), N - 1)
    return idx


def sample_counts(probs: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """Multinomial counts ``(B, 2**n)`` of ``shots`` draws from each row of ``probs``."""
    p = np.clip(np.asarray(probs, dtype=float), 0.0, None)
    p = p / p.sum(axis=1, keepdims=True)
    return rng.multinomial(check_shots(shots), p)


def flip_readout_bits(idx: np.ndarray, readout, n: int, rng: np.random.Generator) -> np.ndarray:
    """Measured indices from true ones: bit ``w`` of every index flipped with probability
    ``p01`` (true 0) or ``p10`` (true 1), one uniform draw per wire with a non-zero error
    (in wire order); ``idx`` is modified in place and returned."""
    r = check_readout(readout, n)
    for w in range(n):
        if not r[w].any():
            continue
        bit = (idx >> (n - 1 - w)) & 1
        flip = rng.random(idx.shape) < np.where(bit == 0, r[w, 0], r[w, 1])
        idx ^= flip.astype(np.int64) << (n - 1 - w)
    return idx


def sample_bitstrings(probs: np.ndarray, shots: int, rng: np.random.Generator, readout=None) -> np.ndarray:
    """Measured basis-state indices ``(B, shots)`` (qubit 0 = most significant bit): true outcomes
    by inverse-CDF sampling (:func:`sample_indices`), then each bit flipped with its readout
    probability (:func:`flip_readout_bits`)."""
    idx = sample_indices(probs, shots, rng)
    if readout is None:
        return idx
    return flip_readout_bits(idx, readout, _n_qubits(np.shape(probs)[1]), rng)


def counts_dicts(idx: np.ndarray, n: int) -> list[dict[str, int]]:
    """Per row of ``idx (B, shots)``, ``{bitstring q_0…q_{n-1}: count}`` (sorted by index)."""
    out = []
    for row in idx:
        vals, cnt = np.unique(row, return_counts=True)
        out.append({format(int(v), f"0{n}b"): int(c) for v, c in zip(vals, cnt)})
    return out


# ---------------------------------------------------------------------- measurement settings
def measurement_groups(observables, n: int) -> list[tuple[dict[int, str], list[tuple[int, PauliString]]]]:
    """Greedy qubit-wise-commuting grouping: ``[(basis {wire: 'X'|'Y'|'Z'}, [(obs index, term)])]``.

    Identity terms (no non-identity factor) are not measured and are left out.
    """
    groups: list[tuple[dict[int, str], list[tuple[int, PauliString]]]] = []
    for j, o in enumerate(as_observables(observables)):
        for t in o.terms:
            t.masks(n)                                   # validates the wires against n
            need = term_basis(t)
            if not need:
                continue
            for basis, members in groups:
                if all(basis.get(w, p) == p for w, p in need.items()):
                    basis.update(need)
                    members.append((j, t))
                    break
            else:
                groups.append((dict(need), [(j, t)]))
    return groups


def term_basis(term: PauliString) -> dict[int, str]:
    """``{wire: 'X'|'Y'|'Z'}`` of the non-identity factors of a Pauli term, in the term's order."""
    return {w: p for p, w in zip(term.paulis, term.wires) if p != "I"}


def basis_change_ops(basis: Mapping[int, str] | PauliString) -> list[Operation]:
    """Gates rotating each wire's measured Pauli to Z (``X: H``; ``Y: S†`` then ``H``).

    ``basis``: ``{wire: 'X'|'Y'|'Z'}`` (wires in increasing order), or a Pauli term (its wires in
    the term's order).  Gates on different wires commute, so the order changes nothing measured.
    """
    items = term_basis(basis).items() if isinstance(basis, PauliString) else sorted(basis.items())
    ops = []
    for w, p in items:
        if p == "X":
            ops.append(Operation(H, (w,)))
        elif p == "Y":
            ops += [Operation(Sdg, (w,)), Operation(H, (w,))]
    return ops


def measured_mask(term: PauliString, n: int) -> int:
    """Bit mask of the wires a Pauli term measures (after the basis change, all in Z)."""
    mask = 0
    for p, w in zip(term.paulis, term.wires):
        if p != "I":
            mask |= 1 << (n - 1 - w)
    return mask


# ---------------------------------------------------------------------- estimator
def shot_expvals(probabilities_in_basis: Callable[[dict[int, str]], np.ndarray], observables, n: int, shots: int,
                 rng: np.random.Generator, readout=None, batch_size: int = 1) -> np.ndarray:
    """Grouped shot estimates ``(B, m)`` of ``observables``.

    Args:
        probabilities_in_basis: ``basis -> (B, 2**n)`` true outcome probabilities after rotating
            each wire of ``basis`` to Z (supplied by the engine: state vector, density matrix or
            trajectories).
        shots: shots per measurement setting (group of qubit-wise commuting terms).
        readout: ``(n, 2)`` ``(p01, p10)`` per qubit, or ``None``.
        batch_size: ``B`` (used when every term is the identity and nothing is measured).
    """
    shots = check_shots(shots)
    obs = as_observables(observables)
    res = np.zeros((batch_size, len(obs)))
    for j, o in enumerate(obs):                # identity terms are known exactly
        for t in o.terms:
            if all(p == "I" for p in t.paulis):
                res[:, j] += t.coeff
    for basis, members in measurement_groups(obs, n):
        p = probabilities_in_basis(basis)
        if p.shape[0] != res.shape[0]:
            raise CircuitError(f"engine returned {p.shape[0]} probability rows for a batch of {res.shape[0]}")
        if readout is not None:
            p = apply_readout_to_probabilities(p, readout)
        counts = sample_counts(p, shots, rng).astype(float)
        for j, t in members:
            res[:, j] += t.coeff * (counts @ parity_signs(n, measured_mask(t, n))) / shots
    return res
