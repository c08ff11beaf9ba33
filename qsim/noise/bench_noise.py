"""Noisy-simulation benchmark: qsim's density-matrix engine against the peers, and trajectories.

Workload: the W1 circuit of ``bench`` (``L = 4`` layers of ``RY`` + ``RZ`` on every qubit, then a
CNOT ring), random angles, with a one-qubit depolarizing channel ``p = 0.001`` after every
one-qubit gate and a one-qubit depolarizing ``p = 0.01`` on *each* of the two wires after every
CNOT (Pauli form ``(1-p)ρ + p/3 (XρX + YρY + ZρZ)``; Qiskit gets ``λ = 4p/3``).  Output: all
``⟨Z_i⟩``.

* exact density matrices for ``n = min..max``: qsim (``qsim.noise.expval_noisy``), Qiskit Aer
  (``method="density_matrix"``, ``save_expectation_value``), qulacs (``DensityMatrix``), Cirq
  (``DensityMatrixSimulator``, complex128) and PennyLane ``default.mixed``, each only if
  installed; every peer's ``⟨Z_i⟩`` must agree with qsim's (:data:`AGREE_ATOL`) before its time
  is shown.  A peer is skipped at ``n`` once its time at ``n - 1`` times the growth factor
  (:data:`GROWTH`) exceeds ``peer_budget_s``;
* trajectories at ``n = 16..20``: wall time until the standard error of ``⟨Z_0⟩`` reaches
  ``target_stderr`` (0.01).

``python -m qsim.noise.bench_noise --max-qubits 12`` prints a Markdown table; the bench package
can call :func:`run_noise_benchmark` and :func:`format_table`.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import math
import platform
import time
from typing import Callable

import numpy as np

from ..ansatz import hardware_efficient_layer
from ..circuit import Circuit
from ..gates import RY, RZ
from ..observables import Z, z_each
from .api import expval_noisy
from .models import NoiseModel
from .trajectories import run_trajectories

__all__ = ["w1_circuit", "w1_noise_model", "run_noise_benchmark", "format_table", "main", "PEERS",
           "P1", "P2", "LAYERS", "AGREE_ATOL", "GROWTH"]

log = logging.getLogger(__name__)

#: Depolarizing probability after each one-qubit gate.
P1 = 0.001
#: Depolarizing probability on each wire after each CNOT.
P2 = 0.01
#: Layers of the W1 circuit.
LAYERS = 4
#: Largest accepted difference between a peer's ⟨Z_i⟩ and qsim's.
AGREE_ATOL = 1e-6
#: Expected time growth per added qubit of an exact density-matrix run (``4**n`` entries).
GROWTH = 4.0
PEERS = ("qiskit-aer", "qulacs", "cirq", "pennylane")


def w1_circuit(n: int, layers: int = LAYERS) -> Circuit:
    """W1: ``layers`` × (RY, RZ on every qubit, CNOT ring), one weight per rotation."""
    ops = []
    for layer in range(layers):
        ops += hardware_efficient_layer(n, first_weight=layer * 2 * n, rotations=(RY, RZ), ring=True)
    return Circuit(n, tuple(ops))


def w1_noise_model(p1: float = P1, p2: float = P2) -> NoiseModel:
    return NoiseModel.depolarizing(p1, p2, two_qubit="each").named("W1-depolarizing")


def _angles(c: Circuit, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 2 * math.pi, c.n_weights)


def _gate_list(c: Circuit, w: np.ndarray):
    """``[(name, wires, angle)]`` of the W1 circuit (angles already bound)."""
    out = []
    for o in c.ops:
        ang = o.params[0].scale * w[o.params[0].index] + o.params[0].offset if o.params else None
        out.append((o.gate.name, o.wires, ang))
    return out


# ---------------------------------------------------------------------- peers
def _aer(n: int, gl, p1: float, p2: float) -> Callable[[], np.ndarray]:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Pauli
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel as AerNoise, depolarizing_error

    nm = AerNoise()
    nm.add_all_qubit_quantum_error(depolarizing_error(4 * p1 / 3, 1), ["ry", "rz"])
    e2 = depolarizing_error(4 * p2 / 3, 1)
    nm.add_all_qubit_quantum_error(e2.tensor(e2), ["cx"])
    qc = QuantumCircuit(n)
    for name, ws, a in gl:
        if name == "RY":
            qc.ry(a, ws[0])
        elif name == "RZ":
            qc.rz(a, ws[0])
        else:
            qc.cx(ws[0], ws[1])
    for q in range(n):                     # qiskit is little-endian: Pauli label index q = qubit q
        qc.save_expectation_value(Pauli("Z"), [q], label=f"z{q}")
    sim = AerSimulator(method="density_matrix", noise_model=nm)

    def run():
        data = sim.run(qc).result().data()
        return np.array([data[f"z{q}"] for q in range(n)])

    return run


def _qulacs(n: int, gl, p1: float, p2: float) -> Callable[[], np.ndarray]:
    import qulacs
    from qulacs.gate import CNOT, RY as QRY, RZ as QRZ, DepolarizingNoise

    circ = qulacs.QuantumCircuit(n)
    qb = lambda w: n - 1 - w  # noqa: E731  (qulacs: qubit 0 is the least significant bit)
    for name, ws, a in gl:
        if name == "RY":                   # qulacs rotations are exp(+iθP/2)
            circ.add_gate(QRY(qb(ws[0]), -a))
            circ.add_gate(DepolarizingNoise(qb(ws[0]), p1))
        elif name == "RZ":
            circ.add_gate(QRZ(qb(ws[0]), -a))
            circ.add_gate(DepolarizingNoise(qb(ws[0]), p1))
        else:
            circ.add_gate(CNOT(qb(ws[0]), qb(ws[1])))
            circ.add_gate(DepolarizingNoise(qb(ws[0]), p2))
            circ.add_gate(DepolarizingNoise(qb(ws[1]), p2))
    obs = []
    for q in range(n):
        o = qulacs.Observable(n)
        o.add_operator(1.0, f"Z {qb(q)}")
        obs.append(o)

    def run():
        st = qulacs.DensityMatrix(n)
        st.set_zero_state()
        circ.update_quantum_state(st)
        return np.array([o.get_expectation_value(st).real for o in obs])

    return run


def _cirq(n: int, gl, p1: float, p2: float) -> Callable[[], np.ndarray]:
    import cirq

    qs = cirq.LineQubit.range(n)
    ops = []
    for name, ws, a in gl:
        if name == "RY":
            ops += [cirq.ry(a).on(qs[ws[0]]), cirq.depolarize(p1).on(qs[ws[0]])]
        elif name == "RZ":
            ops += [cirq.rz(a).on(qs[ws[0]]), cirq.depolarize(p1).on(qs[ws[0]])]
        else:
            ops += [cirq.CNOT(qs[ws[0]], qs[ws[1]]), cirq.depolarize(p2).on(qs[ws[0]]),
                    cirq.depolarize(p2).on(qs[ws[1]])]
    circ = cirq.Circuit(ops)
    sim = cirq.DensityMatrixSimulator(dtype=np.complex128)

    def run():
        rho = sim.simulate(circ, qubit_order=qs).final_density_matrix
        p = np.real(np.diag(rho)).reshape((2,) * n)
        return np.array([np.sum(np.moveaxis(p, q, 0)[0]) - np.sum(np.moveaxis(p, q, 0)[1]) for q in range(n)])

    return run


def _pennylane(n: int, gl, p1: float, p2: float) -> Callable[[], np.ndarray]:
    import pennylane as qml

    dev = qml.device("default.mixed", wires=n)

    @qml.qnode(dev)
    def circuit():
        for name, ws, a in gl:
            if name == "RY":
                qml.RY(a, wires=ws[0])
                qml.DepolarizingChannel(p1, wires=ws[0])
            elif name == "RZ":
                qml.RZ(a, wires=ws[0])
                qml.DepolarizingChannel(p1, wires=ws[0])
            else:
                qml.CNOT(wires=list(ws))
                qml.DepolarizingChannel(p2, wires=ws[0])
                qml.DepolarizingChannel(p2, wires=ws[1])
        return [qml.expval(qml.PauliZ(q)) for q in range(n)]

    return lambda: np.array(circuit(), dtype=float)


_PEER_BUILDERS = {"qiskit-aer": ("qiskit_aer", _aer), "qulacs": ("qulacs", _qulacs), "cirq": ("cirq", _cirq),
                  "pennylane": ("pennylane", _pennylane)}


def _installed(peer: str) -> bool:
    return importlib.util.find_spec(_PEER_BUILDERS[peer][0]) is not None


def _time(fn: Callable[[], np.ndarray], repeats: int = 3, quick_s: float = 1.0):
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


def run_noise_benchmark(min_qubits: int = 4, max_qubits: int = 12, *, peers=PEERS, peer_budget_s: float = 60.0,
                        trajectory_qubits=(16, 18, 20), target_stderr: float = 0.01, seed: int = 0,
                        progress: Callable[[str], None] | None = None) -> dict:
    """Run the benchmark; returns ``{"exact": [rows], "trajectories": [rows], "meta": {...}}``.

    Exact rows: ``{"n", "qsim_s", "<peer>_s" | "<peer>_note"}``; trajectory rows:
    ``{"n", "seconds", "trajectories", "stderr", "estimate"}``.

    Raises:
        RuntimeError: a peer's ⟨Z_i⟩ disagrees with qsim's by more than :data:`AGREE_ATOL`.
    """
    say = progress or (lambda s: log.info("%s", s))
    model = w1_noise_model()
    avail = [p for p in peers if p in _PEER_BUILDERS and _installed(p)]
    last: dict[str, float] = {}
    exact = []
    for n in range(min_qubits, max_qubits + 1):
        c = w1_circuit(n)
        w = _angles(c)
        obs = z_each(n)
        t_q, ref = _time(lambda: expval_noisy(c, obs, w, model=model)[0])
        row = {"n": n, "qsim_s": t_q}
        gl = _gate_list(c, w)
        for p in avail:
            if p in last and last[p] * GROWTH > peer_budget_s:
                row[f"{p}_note"] = "skipped"
                continue
            fn = _PEER_BUILDERS[p][1](n, gl, P1, P2)
            t_p, val = _time(fn)
            err = float(np.max(np.abs(val - ref)))
            if err > AGREE_ATOL:
                raise RuntimeError(f"{p} disagrees with qsim at n={n}: max |Δ⟨Z⟩| = {err:.3g}")
            row[f"{p}_s"] = t_p
            last[p] = t_p
        say(f"n={n}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        exact.append(row)
    traj = []
    for n in trajectory_qubits:
        c = w1_circuit(n)
        w = _angles(c)
        run_trajectories(c, Z(0), w, model=model, trajectories=2, seed=seed)          # compile / warm up
        t0 = time.perf_counter()
        res = run_trajectories(c, Z(0), w, model=model, target_stderr=target_stderr, seed=seed)
        dt = time.perf_counter() - t0
        traj.append({"n": n, "seconds": dt, "trajectories": res.n_trajectories, "stderr": float(res.stderr[0, 0]),
                     "estimate": float(res.mean[0, 0])})
        say(f"trajectories n={n}: {dt:.1f} s, T={res.n_trajectories}, <Z0>={res.mean[0, 0]:.4f} "
            f"± {res.stderr[0, 0]:.4f}")
    meta = {"peers": avail, "p1": P1, "p2": P2, "layers": LAYERS, "target_stderr": target_stderr,
            "machine": platform.processor() or platform.machine()}
    return {"exact": exact, "trajectories": traj, "meta": meta}


def _fmt_t(t: float) -> str:
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def format_table(result: dict) -> str:
    """Markdown tables (exact density matrices with speed-ups; trajectories)."""
    peers = result["meta"]["peers"]
    head = "| n | qsim | " + " | ".join(peers) + " |"
    lines = [f"Exact density matrix, W1 (L={result['meta']['layers']}) + depolarizing p1={result['meta']['p1']}, "
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
    ap = argparse.ArgumentParser(prog="python -m qsim.noise.bench_noise", description=__doc__.splitlines()[0])
    ap.add_argument("--min-qubits", type=int, default=4)
    ap.add_argument("--max-qubits", type=int, default=12)
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of " + ",".join(PEERS))
    ap.add_argument("--peer-budget", type=float, default=60.0,
                    help="skip a peer once its next run would exceed this many seconds")
    ap.add_argument("--trajectory-qubits", default="16,18,20", help="comma-separated; empty to skip")
    ap.add_argument("--target-stderr", type=float, default=0.01)
    args = ap.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    tq = tuple(int(v) for v in args.trajectory_qubits.split(",") if v.strip())
    res = run_noise_benchmark(args.min_qubits, args.max_qubits, peers=tuple(p for p in args.peers.split(",") if p),
                              peer_budget_s=args.peer_budget, trajectory_qubits=tq, target_stderr=args.target_stderr)
    print(format_table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
