"""Noisy-simulation benchmark: qsim's density-matrix engine against the peers (W4), and trajectories.

Formerly ``python -m qsim.noise.bench_noise``; now ``python -m bench.noise``.  The exact part is
workload W4 of :mod:`bench.workloads` (W1's circuit, ``L = 4`` layers of ``RY`` + ``RZ`` on every
qubit then a CNOT ring, with a one-qubit depolarizing channel ``W4_P1 = 0.001`` after every
one-qubit gate and ``W4_P2 = 0.01`` on *each* wire after every CNOT; Pauli form
``(1-p)ρ + p/3 (XρX + YρY + ZρZ)``, Qiskit gets ``λ = 4p/3``); the peers run through their W4
adapters (:mod:`bench.adapters`).  Output: all ``⟨Z_i⟩``.  What this module adds to the
harness (``qhybrid bench --workloads W4``):

* one in-process table of exact density-matrix times for ``n = min..max`` with qsim's speed-up
  over each installed peer; every peer's ``⟨Z_i⟩`` must agree with qsim's (:data:`AGREE_ATOL`)
  before its time is shown, and a peer is skipped at ``n`` once its time at ``n - 1`` times the
  growth factor (:data:`GROWTH`) exceeds ``peer_budget_s``;
* trajectories at ``n = 16..20``: wall time until the standard error of ``⟨Z_0⟩`` reaches
  ``target_stderr`` (0.01), which W4 (exact only) does not measure.

``python -m bench.noise --max-qubits 12`` prints Markdown tables; :func:`run_noise_benchmark`
and :func:`format_table` are the Python entry points.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import time
from typing import Callable

import numpy as np

from qsim import Z, z_each
import qsim
from qsim.noise import run_trajectories

from .adapters import get_adapter
from .workloads import DEFAULT_LAYERS, W4_P1, W4_P2, build_problem, w4_noise_model

__all__ = ["run_noise_benchmark", "format_table", "main", "PEERS", "PEER_ALIASES", "AGREE_ATOL", "GROWTH",
           "REPEATS", "QUICK_S", "problem"]

log = logging.getLogger(__name__)

#: Largest accepted difference between a peer's ⟨Z_i⟩ and qsim's.
AGREE_ATOL = 1e-6
#: Expected time growth per added qubit of an exact density-matrix run (``4**n`` entries).
GROWTH = 4.0
#: Peers with a W4 adapter, in table order.
PEERS = ("qiskit-aer", "qulacs", "cirq", "pennylane-mixed")
#: Former peer names of ``qsim.noise.bench_noise``.
PEER_ALIASES = {"pennylane": "pennylane-mixed", "aer": "qiskit-aer", "qiskit": "qiskit-aer"}
#: Timed calls per measurement (the best is kept) ...
REPEATS = 3
#: ... unless one call takes longer than this many seconds.
QUICK_S = 1.0


def problem(n: int, seed: int = 0):
    """The W4 problem (circuit and random weights) at ``n`` qubits."""
    return build_problem("W4", n, seed=seed)


def _time(fn: Callable[[], np.ndarray], repeats: int = REPEATS, quick_s: float = QUICK_S):
    """An untimed warm-up call (JIT compilation, caches), then the best of ``repeats`` timed calls
    (a single timed call when it takes longer than ``quick_s``)."""
    out = fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        if dt > quick_s:
            break
    return best, out


def _peer_runner(peer: str, prob, threads: int) -> Callable[[], np.ndarray]:
    """``() -> ⟨Z_i⟩ (n,)`` of ``peer``'s W4 adapter on ``prob`` (complex128)."""
    prepared = get_adapter(peer).prepare(prob, "complex128", threads)
    return lambda: np.asarray(prepared.result(prepared.run())["expval"], dtype=float).reshape(-1)


def _available(peers) -> list[str]:
    out = []
    for p in peers:
        name = PEER_ALIASES.get(p, p)
        adapter = get_adapter(name)
        if "W4" in adapter.workloads and adapter.unavailable_reason() is None:
            out.append(name)
    return out


def run_noise_benchmark(min_qubits: int = 4, max_qubits: int = 12, *, peers=PEERS, peer_budget_s: float = 60.0,
                        trajectory_qubits=(16, 18, 20), target_stderr: float = 0.01, seed: int = 0,
                        threads: int | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Run the benchmark; returns ``{"exact": [rows], "trajectories": [rows], "meta": {...}}``.

    Exact rows: ``{"n", "qsim_s", "<peer>_s" | "<peer>_note"}``; trajectory rows:
    ``{"n", "seconds", "trajectories", "stderr", "estimate"}``.

    Raises:
        RuntimeError: a peer's ⟨Z_i⟩ disagrees with qsim's by more than :data:`AGREE_ATOL`.
    """
    say = progress or (lambda s: log.info("%s", s))
    threads = threads or os.cpu_count() or 1
    model = w4_noise_model()
    avail = _available(peers)
    last: dict[str, float] = {}
    exact = []
    for n in range(min_qubits, max_qubits + 1):
        prob = problem(n, seed)
        c, w = prob.circuit, prob.weights
        obs = z_each(n)
        t_q, ref = _time(lambda: qsim.expval(c, obs, w, noise=model)[0])
        row = {"n": n, "qsim_s": t_q}
        for p in avail:
            if p in last and last[p] * GROWTH > peer_budget_s:
                row[f"{p}_note"] = "skipped"
                continue
            t_p, val = _time(_peer_runner(p, prob, threads))
            err = float(np.max(np.abs(val - ref)))
            if err > AGREE_ATOL:
                raise RuntimeError(f"{p} disagrees with qsim at n={n}: max |Δ⟨Z⟩| = {err:.3g}")
            row[f"{p}_s"] = t_p
            last[p] = t_p
        say(f"n={n}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        exact.append(row)
    traj = []
    for n in trajectory_qubits:
        prob = problem(n, seed)
        c, w = prob.circuit, prob.weights
        run_trajectories(c, Z(0), w, model=model, trajectories=2, seed=seed)          # compile / warm up
        t0 = time.perf_counter()
        res = run_trajectories(c, Z(0), w, model=model, target_stderr=target_stderr, seed=seed)
        dt = time.perf_counter() - t0
        traj.append({"n": n, "seconds": dt, "trajectories": res.n_trajectories, "stderr": float(res.stderr[0, 0]),
                     "estimate": float(res.mean[0, 0])})
        say(f"trajectories n={n}: {dt:.1f} s, T={res.n_trajectories}, <Z0>={res.mean[0, 0]:.4f} "
            f"± {res.stderr[0, 0]:.4f}")
    meta = {"peers": avail, "p1": W4_P1, "p2": W4_P2, "layers": DEFAULT_LAYERS, "target_stderr": target_stderr,
            "seed": seed, "machine": platform.processor() or platform.machine()}
    return {"exact": exact, "trajectories": traj, "meta": meta}


def _fmt_t(t: float) -> str:
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def format_table(result: dict) -> str:
    """Markdown tables (exact density matrices with speed-ups; trajectories)."""
    peers = result["meta"]["peers"]
    head = "| n | qsim | " + " | ".join(peers) + " |"
    lines = [f"Exact density matrix, W4 = W1 (L={result['meta']['layers']}) + depolarizing p1={result['meta']['p1']}, "
             f"p2={result['meta']['p2']} on each CNOT wire; all <Z_i>; time (speed-up of qsim)", "",
             head, "|" + "---|" * (2 + len(peers))]
    for r in result["exact"]:
        cells = []
        for p in peers:
            if f"{p}_s" in r:
                cells.append(f"{_fmt_t(r[f'{p}_s'])} ({r[f'{p}_s'] / r['qsim_s']:.1f}x)")
            else:
                cells.append(r.get(f"{p}_note", "-"))
        lines.append(f"| {r['n']} | {_fmt_t(r['qsim_s'])} | " + " | ".join(cells) + " |")
    if result["trajectories"]:
        lines += ["", f"Trajectories (same noise), time until stderr(<Z_0>) <= {result['meta']['target_stderr']}", "",
                  "| n | time | trajectories | time / trajectory | <Z_0> | stderr |", "|---|---|---|---|---|---|"]
        for r in result["trajectories"]:
            lines.append(f"| {r['n']} | {_fmt_t(r['seconds'])} | {r['trajectories']} | "
                         f"{_fmt_t(r['seconds'] / r['trajectories'])} | {r['estimate']:.4f} | {r['stderr']:.4f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.noise", description=__doc__.splitlines()[0])
    ap.add_argument("--min-qubits", type=int, default=4)
    ap.add_argument("--max-qubits", type=int, default=12)
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of " + ",".join(PEERS))
    ap.add_argument("--peer-budget", type=float, default=60.0,
                    help="skip a peer once its next run would exceed this many seconds")
    ap.add_argument("--trajectory-qubits", default="16,18,20", help="comma-separated; empty to skip")
    ap.add_argument("--target-stderr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tq = tuple(int(v) for v in args.trajectory_qubits.split(",") if v.strip())
    res = run_noise_benchmark(args.min_qubits, args.max_qubits, peers=tuple(p for p in args.peers.split(",") if p),
                              peer_budget_s=args.peer_budget, trajectory_qubits=tq, target_stderr=args.target_stderr,
                              seed=args.seed)
    print(format_table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
