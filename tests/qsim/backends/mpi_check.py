"""Run under ``mpiexec -n P``: the MPI backend against the single-process Numba backend.

Every rank simulates the same random circuits with both backends and compares the final states,
probabilities, expectation values (Pauli terms on every qubit, rank qubits included) and the
adjoint VJP (weights, inputs, initial state).  Rank 0 prints one JSON line:
``{"ranks", "cases", "max_error", "failures", "exchanges"}``.  Used by ``test_mpi_backend.py``;
also by hand: ``mpiexec -n 4 python tests/qsim/backends/mpi_check.py --qubits 10,14 --mode state``.

``--blocks K`` runs the slices' block runs on cache-blocked plans of ``2**K`` amplitudes even for
small registers (every path of the inner plans); ``--mode`` forces the state or batch split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))       # tests/qsim: qsim_testutils

from qsim_testutils import haar_states, random_circuit  # noqa: E402

from qsim import pauli  # noqa: E402
from qsim.backends import numba_backend as NB  # noqa: E402
from qsim.backends import mpi_backend as MB  # noqa: E402
from qsim.program import BACKWARD_FUSION, lower  # noqa: E402


def observables(n: int):
    """Z on every qubit, X and Y strings over the top (rank) and bottom qubits, a mixed sum."""
    return (tuple(pauli("Z", q) for q in range(n))
            + (pauli("X", 0), pauli("Y", 1), pauli("XZ", (0, n - 1)), pauli("YX", (0, 1)) + 0.5 * pauli("Z", 2),
               pauli("XX", (2, n - 2)), pauli("ZZ", (0, 1), 0.3) + pauli("X", n - 1)))


def check(n: int, B: int, seed: int, depth: int, real: bool, tol: float,
          single: bool = False) -> tuple[float, list[str]]:
    from qsim.gates import CNOT, CZ, RY, SWAP, H, X

    rng = np.random.default_rng(seed)
    gates = [RY, H, X, CNOT, CZ, SWAP] if real else None
    c = random_circuit(rng, n, depth, gates)
    w, x = rng.normal(size=c.n_weights), rng.normal(size=(B, c.n_inputs))
    psi0 = haar_states(rng, B, n, real=real)
    dtype = (np.float32 if real else np.complex64) if single else (np.float64 if real else np.complex128)
    obs = observables(n)
    cot = rng.normal(size=(B, len(obs)))
    prog, back = lower(c, 1), lower(c, BACKWARD_FUSION)
    errs, bad = [], []

    def cmp(what, got, want):
        if got is None or want is None:
            if (got is None) != (want is None):
                bad.append(f"n={n} B={B} seed={seed} {what}: {got is None=} {want is None=}")
            return
        e = float(np.max(np.abs(np.asarray(got) - np.asarray(want)))) if np.size(want) else 0.0
        errs.append(e)
        if not e <= tol:
            bad.append(f"n={n} B={B} seed={seed} {what}: {e:.3g}")

    for state in (None, psi0):
        want = NB.forward(prog, w, x, state, B, dtype)
        st = MB.BACKEND.forward(c, prog, w, x, state, B, dtype)
        cmp("state", MB.BACKEND.to_numpy(st), want)
        cmp("probabilities", MB.BACKEND.probabilities(st), np.abs(want) ** 2)
        cmp("expvals", MB.BACKEND.expvals(st, obs, n), NB.expvals(want, obs, n))
    for fusion in (1, 2):
        p2 = lower(c, fusion)
        wv, wgw, wgx, wgs = NB.adjoint(p2, obs, cot, w, x, psi0, B, dtype, backward_program=back)
        v, gw, gx, gs = MB.BACKEND.adjoint(c, p2, back, obs, cot, w, x, psi0, B, dtype)
        cmp(f"adjoint values f{fusion}", v, wv)
        cmp(f"grad weights f{fusion}", gw, wgw)
        cmp(f"grad inputs f{fusion}", gx, wgx)
        cmp(f"grad state f{fusion}", gs, wgs)
    return max(errs), bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--qubits", default="6,8")
    ap.add_argument("--batch", default="1,2")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--depth", type=int, default=0, help="gates per circuit (default 6 n)")
    ap.add_argument("--mode", default="state", choices=MB.MODES)
    ap.add_argument("--blocks", type=int, default=0, help="force inner cache-blocked plans of 2**K amplitudes")
    ap.add_argument("--tol", type=float, default=1e-12)
    ap.add_argument("--real", action="store_true", help="also the real fast path")
    ap.add_argument("--single", action="store_true", help="single precision (complex64 / float32)")
    a = ap.parse_args(argv)
    MB.set_mode(a.mode)
    if a.blocks:
        NB.SAMPLE_MAJOR_MAX_QUBITS = 0
        NB.FORCE_LOCAL_QUBITS = a.blocks
    comm = MB.communicator()
    worst, failures, cases = 0.0, [], 0
    MB.reset_stats()
    for n in (int(v) for v in a.qubits.split(",")):
        for B in (int(v) for v in a.batch.split(",")):
            for seed in range(a.seeds):
                for real in ((False, True) if a.real else (False,)):
                    e, bad = check(n, B, 1000 * n + 10 * B + seed, a.depth or 6 * n, real, a.tol, a.single)
                    worst, cases = max(worst, e), cases + 1
                    failures += bad
    s = MB.stats()
    if comm.Get_rank() == 0:
        print(json.dumps({"ranks": comm.Get_size(), "cases": cases, "max_error": worst, "failures": failures[:20],
                          "exchanges": s.exchanges, "bytes_sent": s.bytes_sent}), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
