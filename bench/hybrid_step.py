"""One training step of the paper-sized hybrid head, in three implementations side by side.

The head (:func:`paper_sized_config`): E = 2 amplitude encoders of ``n`` qubits (M = 2 layers of
the long-range block, C = ⌊n/2⌋), merged by mean, a QPU module on ``n`` qubits (N = 3
re-uploading blocks of one layer, R = 2 more layers, C = ⌊n/2⌋, ⟨Z_0⟩) and a linear layer
1 → 2.  At ``n = 14`` this is the ``"paper-886"`` preset: 886 parameters.

A *step* is: forward on a fixed batch of ``batch`` random unit vectors of size 768 with random
labels, cross-entropy, backward, one Adam step; it returns the loss before the update.

Implementations (:data:`ADAPTERS`, each ``make_step(n_qubits, batch, seed) -> step``):

* ``"qhybrid"``: :class:`hybrid.head.QuantumHead`; qsim kernels, adjoint VJP (float32).
* ``"pennylane-lightning"``: the same circuits as ``qml.qnn.TorchLayer`` s on ``lightning.qubit``
  with ``diff_method="adjoint"`` (complex64); the batch is split into one tape per sample.
* ``"torch-statevector"``: plain torch, TorchQuantum's approach: a ``(B, 2, …, 2)`` state, one
  ``einsum`` per gate, gradients by autograd through every stored intermediate (float32; real
  arithmetic, as RY and CNOT are real).

All three are built from the same qsim circuits (gate by gate) and the same initial weights
(drawn by qhybrid from ``seed``), so their first losses agree (checked by ``bench``).

``python -m bench.hybrid_step`` times them (default 14 qubits, batch 32) and one epoch over the
paper's 435 training sentences for qhybrid.  Goals (issue 4): >= 20x faster than
PennyLane+Lightning, >= 5x faster than plain torch, an epoch in <= 5 s on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
import time
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["ADAPTERS", "DTYPES", "INPUT_DIM", "available", "make_epoch", "paper_sized_config", "main"]

#: Embedding size of the benchmark data (the paper's 768-d mpnet embeddings).
INPUT_DIM = 768
#: Training sentences of the paper split (one epoch).
EPOCH_SAMPLES = 435
LEARNING_RATE = 0.01
#: Dtype label per implementation (read by ``bench.adapters.head``).
DTYPES = {"qhybrid": "float32", "pennylane-lightning": "complex64", "torch-statevector": "float32"}


def paper_sized_config(n_qubits: int, input_dim: int = INPUT_DIM):
    """The benchmark head on ``n_qubits`` (the ``"paper-886"`` preset at 14 qubits)."""
    from hybrid.head import HeadConfig
    from hybrid.layers import EncoderConfig, QPUConfig

    c = max(1, n_qubits // 2)
    return HeadConfig(
        input_dim=input_dim, n_encoders=2, merge="mean", linear_input="qpu_only", dtype="float32",
        encoder=EncoderConfig(n_qubits=n_qubits, layers=2, connectivity=c),
        qpu=QPUConfig(reuploads=3, block_layers=1, connectivity=c, layers=2),
    )


def _data(batch: int, seed: int, input_dim: int = INPUT_DIM):
    """``batch`` random unit vectors ``(batch, input_dim)`` float32 and labels, from ``seed``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, input_dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = rng.integers(0, 2, size=batch)
    return x.astype(np.float32), y.astype(np.int64)


def _reference_head(n_qubits: int, seed: int):
    """The qhybrid head with its seeded initial weights (the weights every implementation uses)."""
    import torch

    from hybrid.head import QuantumHead

    torch.manual_seed(seed)
    return QuantumHead(paper_sized_config(n_qubits))


def _step_fn(model, params, x, y) -> Callable[[], float]:
    import torch

    opt = torch.optim.Adam(params, lr=LEARNING_RATE)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


# --------------------------------------------------------------------------------------------
# qhybrid


def make_qhybrid_step(n_qubits: int, batch: int, seed: int) -> Callable[[], float]:
    """One step of :class:`hybrid.head.QuantumHead` (qsim kernels, adjoint VJP)."""
    model = _reference_head(n_qubits, seed)
    x, y = _data(batch, seed)
    return _step_fn(model, list(model.parameters()), x, y)


def make_epoch(n_qubits: int, samples: int = EPOCH_SAMPLES, batch: int = 32, seed: int = 0) -> Callable[[], float]:
    """One epoch of qhybrid over ``samples`` sentences in mini-batches; returns the mean loss."""
    import torch

    model = _reference_head(n_qubits, seed)
    x, y = _data(samples, seed)
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)

    def epoch() -> float:
        total = 0.0
        for i in range(0, samples, batch):
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xt[i:i + batch]), yt[i:i + batch])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(yt[i:i + batch])
        return total / samples

    return epoch


# --------------------------------------------------------------------------------------------
# Shared by the peers: the same circuits, gate by gate


def _angle(ref, w, x):
    """``scale · w[i] + offset`` or ``scale · x[..., i] + offset`` (torch, batched or one row), or a
    constant, from the reference's ``affine`` ``(source, index, scale, offset)``."""
    from qsim.circuit import SRC_CONST, SRC_WEIGHT

    try:
        source, index, scale, offset = ref.affine
    except AttributeError:
        raise TypeError(f"unknown angle reference {ref!r}") from None
    if source == SRC_CONST:
        return offset
    return scale * (w[index] if source == SRC_WEIGHT else x[..., index]) + offset


def _check_gates(circuit) -> None:
    bad = sorted({o.gate.name for o in circuit.ops} - {"RY", "CNOT"})
    if bad:
        raise ValueError(f"the peer implementations support RY and CNOT only, the head uses {bad}")


# --------------------------------------------------------------------------------------------
# torch-statevector


class _TorchStatevector:
    """Gate-by-gate ``einsum`` on a ``(B, 2, …, 2)`` real tensor (TorchQuantum's scheme)."""

    def __init__(self, n_qubits: int) -> None:
        import string

        self.n = n_qubits
        letters = string.ascii_lowercase[: n_qubits]
        self.state_idx = "Z" + letters
        self.letters = letters
        self._cache: dict = {}

    def _spec1(self, wire: int, batched: bool) -> str:
        key = (1, wire, batched)
        if key not in self._cache:
            src = self.state_idx
            out = src.replace(self.letters[wire], "Y")
            self._cache[key] = f"{'Z' if batched else ''}Y{self.letters[wire]},{src}->{out}"
        return self._cache[key]

    def _spec2(self, w0: int, w1: int) -> str:
        key = (2, w0, w1)
        if key not in self._cache:
            src = self.state_idx
            out = src.replace(self.letters[w0], "X").replace(self.letters[w1], "Y")
            self._cache[key] = f"XY{self.letters[w0]}{self.letters[w1]},{src}->{out}"
        return self._cache[key]

    def run(self, circuit, w, x, state):
        """Apply ``circuit`` to ``state`` ``(B, 2, …, 2)``; returns the final state."""
        import torch

        cnot = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]],
                            dtype=state.dtype).reshape(2, 2, 2, 2)
        for o in circuit.ops:
            if o.gate.name == "CNOT":
                state = torch.einsum(self._spec2(*o.wires), cnot, state)
                continue
            theta = _angle(o.params[0], w, x)
            theta = theta if isinstance(theta, torch.Tensor) else torch.tensor(theta, dtype=state.dtype)
            c, s = torch.cos(theta / 2), torch.sin(theta / 2)
            mat = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)   # (2,2) or (B,2,2)
            state = torch.einsum(self._spec1(o.wires[0], mat.ndim == 3), mat, state)
        return state

    def z_expvals(self, state, wires) -> torch.Tensor:
        probs = state * state
        B = probs.shape[0]
        out = []
        for q in wires:
            pq = probs.transpose(1, 1 + q).reshape(B, 2, -1).sum(dim=2)
            out.append(pq[:, 0] - pq[:, 1])
        import torch

        return torch.stack(out, dim=1)


def make_torch_step(n_qubits: int, batch: int, seed: int) -> Callable[[], float]:
    """One step of the same head simulated by plain torch tensor ops with autograd."""
    import torch
    from torch import nn

    from hybrid.layers import amplitude_state

    ref = _reference_head(n_qubits, seed)
    cfg = ref.config
    enc_circ, qpu_circ = cfg.encoder.circuit(), cfg.qpu.circuit(cfg.qpu_qubits)
    _check_gates(enc_circ), _check_gates(qpu_circ)
    sim = _TorchStatevector(n_qubits)

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.ParameterList(nn.Parameter(e.layer.weights.detach().clone()) for e in ref.encoders)
            self.qpu = nn.Parameter(ref.qpu.layer.weights.detach().clone())
            self.linear = nn.Linear(1, 2)
            self.linear.load_state_dict(ref.linear.state_dict())

        def forward(self, e):
            psi0 = amplitude_state(e, n_qubits).reshape((-1,) + (2,) * n_qubits)
            zs = [sim.z_expvals(sim.run(enc_circ, w, None, psi0), range(n_qubits)) for w in self.enc]
            z = torch.stack(zs).mean(dim=0)
            start = torch.zeros((z.shape[0],) + (2,) * n_qubits, dtype=z.dtype)
            start.view(z.shape[0], -1)[:, 0] = 1.0
            q = sim.z_expvals(sim.run(qpu_circ, self.qpu, z, start), range(cfg.qpu.measured))
            return self.linear(q)

    model = Head()
    x, y = _data(batch, seed)
    return _step_fn(model, list(model.parameters()), x, y)


# --------------------------------------------------------------------------------------------
# pennylane-lightning


def make_pennylane_step(n_qubits: int, batch: int, seed: int) -> Callable[[], float]:
    """One step of the same head as PennyLane ``TorchLayer`` s on lightning.qubit (adjoint)."""
    import pennylane as qml
    import torch
    from torch import nn

    from hybrid.layers import amplitude_state

    ref = _reference_head(n_qubits, seed)
    cfg = ref.config
    enc_circ, qpu_circ = cfg.encoder.circuit(), cfg.qpu.circuit(cfg.qpu_qubits)
    _check_gates(enc_circ), _check_gates(qpu_circ)
    dev = qml.device("lightning.qubit", wires=n_qubits, c_dtype=np.complex64)
    wires = list(range(n_qubits))

    def apply(circuit, weights, inputs) -> None:
        for o in circuit.ops:
            if o.gate.name == "CNOT":
                qml.CNOT(wires=list(o.wires))
            else:
                qml.RY(_angle(o.params[0], weights, inputs), wires=o.wires[0])

    @qml.qnode(dev, interface="torch", diff_method="adjoint")
    def encoder(inputs, weights):
        qml.StatePrep(inputs, wires=wires, normalize=False)
        apply(enc_circ, weights, None)
        return [qml.expval(qml.PauliZ(q)) for q in wires]

    @qml.qnode(dev, interface="torch", diff_method="adjoint")
    def qpu(inputs, weights):
        apply(qpu_circ, weights, inputs)
        return [qml.expval(qml.PauliZ(q)) for q in range(cfg.qpu.measured)]

    def layer(qnode, weights: torch.Tensor):
        lay = qml.qnn.TorchLayer(qnode, {"weights": tuple(weights.shape)})
        with torch.no_grad():
            lay.qnode_weights["weights"].copy_(weights.detach().to(torch.float64))
        return lay

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.ModuleList(layer(encoder, e.layer.weights) for e in ref.encoders)
            self.qpu = layer(qpu, ref.qpu.layer.weights)
            self.linear = nn.Linear(1, 2, dtype=torch.float64)
            with torch.no_grad():
                self.linear.weight.copy_(ref.linear.weight.double())
                self.linear.bias.copy_(ref.linear.bias.double())

        def forward(self, e):
            psi0 = amplitude_state(e.double(), n_qubits)
            z = torch.stack([enc(psi0).reshape(len(e), -1) for enc in self.enc]).mean(dim=0)
            q = self.qpu(z).reshape(len(e), -1)
            return self.linear(q.to(torch.float64))

    model = Head()
    x, y = _data(batch, seed)
    return _step_fn(model, list(model.parameters()), x, y)


# --------------------------------------------------------------------------------------------
# Registry


#: Implementation name -> ``make_step(n_qubits, batch, seed) -> step``.
ADAPTERS: dict[str, Callable[[int, int, int], Callable[[], float]]] = {
    "qhybrid": make_qhybrid_step,
    "pennylane-lightning": make_pennylane_step,
    "torch-statevector": make_torch_step,
}
_REQUIRES = {"qhybrid": ("torch", "numba"), "pennylane-lightning": ("torch", "pennylane", "pennylane_lightning"),
             "torch-statevector": ("torch",)}


def available(name: str) -> bool:
    """True when ``name`` is a known implementation whose packages are installed."""
    if name not in ADAPTERS:
        return False
    return all(importlib.util.find_spec(m) is not None for m in _REQUIRES[name])


# --------------------------------------------------------------------------------------------
# Command line


def _time(fn: Callable[[], float], repeats: int, budget_s: float) -> tuple[float, list[float], float]:
    """``(first_value, times, median)``: one warm-up call (its value returned), then ``repeats``
    timed calls, stopping early once ``budget_s`` is spent (at least one timed call)."""
    first = fn()
    times: list[float] = []
    t_start = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - t_start > budget_s:
            break
    return first, times, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Time the implementations side by side and print a table (``--json FILE`` to save it)."""
    p = argparse.ArgumentParser(prog="python -m bench.hybrid_step", description=__doc__.split("\n\n")[0])
    p.add_argument("--qubits", type=int, default=14)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=5, help="timed steps per implementation (after one warm-up)")
    p.add_argument("--budget", type=float, default=60.0, help="seconds of timed steps per implementation at most")
    p.add_argument("--only", nargs="+", choices=sorted(ADAPTERS), help="implementations to run")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--no-epoch", action="store_true", help="skip the epoch timing")
    p.add_argument("--epoch-samples", type=int, default=EPOCH_SAMPLES, help="sentences in the timed epoch")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON (atomically)")
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = paper_sized_config(args.qubits)
    n_params = cfg.parameter_counts()["total"]
    print(f"hybrid head training step: {args.qubits} qubits, batch {args.batch}, {n_params} parameters, "
          f"{torch.get_num_threads()} torch threads")
    rows: dict[str, dict] = {}
    for name in args.only or list(ADAPTERS):
        if not available(name):
            print(f"  {name}: not installed, skipped")
            continue
        t0 = time.perf_counter()
        step = ADAPTERS[name](args.qubits, args.batch, args.seed)
        build = time.perf_counter() - t0
        first, times, med = _time(step, args.repeats, args.budget)
        rows[name] = {"first_loss": first, "median_s": med, "times_s": times, "build_s": build, "dtype": DTYPES[name]}
        print(f"  {name:<20} step {med:8.3f} s  (first loss {first:.6f}, {len(times)} timed, {DTYPES[name]})",
              flush=True)
    ours = rows.get("qhybrid", {}).get("median_s")
    print(f"\n{'implementation':<22}{'step [s]':>10}{'vs qhybrid':>12}{'first loss':>12}")
    for name, r in rows.items():
        ratio = r["median_s"] / ours if ours else math.nan
        print(f"{name:<22}{r['median_s']:>10.3f}{ratio:>11.1f}x{r['first_loss']:>12.6f}")
    result = {"qubits": args.qubits, "batch": args.batch, "parameters": n_params, "steps": rows,
              "threads": torch.get_num_threads()}
    if not args.no_epoch and available("qhybrid"):
        epoch = make_epoch(args.qubits, args.epoch_samples, args.batch, args.seed)
        epoch()  # warm-up (compilation, caches)
        t0 = time.perf_counter()
        epoch()
        result["epoch_s"] = time.perf_counter() - t0
        result["epoch_samples"] = args.epoch_samples
        print(f"\nqhybrid epoch over {args.epoch_samples} sentences (batch {args.batch}): {result['epoch_s']:.2f} s "
              f"(goal for 435: <= 5 s)")
    if args.json:
        from qsim.atomic import atomic_write_json

        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
