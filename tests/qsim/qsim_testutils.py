"""Helpers shared by the qsim tests (tolerances, random states, an independent dense reference)."""

from __future__ import annotations

import importlib.util

import numpy as np

from qsim import Circuit, Weight, op
from qsim.gates import CNOT, CZ, RY, RZ

#: Tolerances per precision (Haar-random states, circuits of <= 100 gates).
ATOL = {"double": 1e-10, "single": 2e-5}


def gpu_available() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - any CUDA failure means no usable GPU
        return False


def haar_states(rng: np.random.Generator, B: int, n: int, real: bool = False) -> np.ndarray:
    """``B`` random normalised states (Haar for complex; uniform on the sphere for real)."""
    s = rng.normal(size=(B, 2**n))
    if not real:
        s = s + 1j * rng.normal(size=(B, 2**n))
    return s / np.linalg.norm(s, axis=1, keepdims=True)


def central_differences(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``∂f/∂x`` by central differences ``(f(x + ε e_i) - f(x - ε e_i)) / 2ε``, entry by entry."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


def dense_operator(U: np.ndarray, wires, n: int) -> np.ndarray:
    """Full ``2**n`` matrix of ``U`` on ``wires`` (first wire = most significant bit of U's index),
    built as ``P^T (U ⊗ I) P`` with an explicit basis permutation ``P`` - independent of the
    simulator's tensor code."""
    k = len(wires)
    rest = [q for q in range(n) if q not in wires]
    order = list(wires) + rest                     # new qubit position j holds old qubit order[j]
    N = 2**n
    perm = np.zeros(N, dtype=np.int64)
    for i in range(N):
        bits = [(i >> (n - 1 - q)) & 1 for q in range(n)]
        j = 0
        for q in order:
            j = (j << 1) | bits[q]
        perm[i] = j
    big = np.kron(U, np.eye(2 ** (n - k)))
    P = np.zeros((N, N))
    P[perm, np.arange(N)] = 1.0
    return P.T @ big @ P


def random_circuit(rng, n: int, n_ops: int, gates=None, *, inputs: bool = True, consts: bool = True):
    """A random circuit over ``gates`` (default: every built-in gate) with weight, input and
    constant angles (scales and offsets included)."""
    from qsim import Circuit, Const, Input, Operation, Weight
    from qsim.gates import GATES

    pool = list(GATES.values()) if gates is None else list(gates)
    pool = [g for g in pool if g.num_wires <= n]
    ops, P, K = [], 0, 0
    for _ in range(n_ops):
        g = pool[rng.integers(len(pool))]
        ws = tuple(int(v) for v in rng.permutation(n)[: g.num_wires])
        ps = []
        for _ in range(g.num_params):
            r = rng.integers(3 if (inputs and consts) else (2 if inputs or consts else 1))
            if r == 0:
                ps.append(Weight(P, scale=float(rng.uniform(0.5, 1.5)), offset=float(rng.normal(0, 0.3))))
                P += 1
            elif r == 1 and inputs:
                ps.append(Input(K, scale=float(rng.uniform(0.5, 1.5))))
                K += 1
            else:
                ps.append(Const(float(rng.normal())))
        ops.append(Operation(g, ws, tuple(ps)))
    return Circuit(n, tuple(ops))


def small_circuit() -> Circuit:
    """The three-qubit, three-weight circuit the noise-model and profile tests place channels on."""
    return Circuit(3, (op(RY, 0, Weight(0)), op(RZ, 1, Weight(1)), op(CNOT, (0, 1)), op(CZ, (1, 2)),
                       op(RY, 2, Weight(2))))


def channels_of(noisy) -> list[tuple[str, tuple[int, ...]]]:
    """``[(channel name, wires)]`` of a :class:`~qsim.noise.NoisyCircuit`, in order."""
    return [(c.channel.name, c.wires) for c in noisy.channels]


def swap_reference(state: np.ndarray, lbits, gbits, n: int) -> np.ndarray:
    """Bit transpositions by index arithmetic: ``out[σ(i)] = ψ[i]`` (the swap kernels' oracle)."""
    perm = np.arange(2**n)
    for lb, gb in zip(lbits, gbits):
        bl, bg = (perm >> lb) & 1, (perm >> gb) & 1
        perm = perm & ~((1 << lb) | (1 << gb)) | (bl << gb) | (bg << lb)
    out = np.empty_like(state)
    out[:, perm] = state
    return out
