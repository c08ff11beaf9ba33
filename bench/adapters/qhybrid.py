"""Our own simulator: qsim's Numba, NumPy-reference and CuPy backends."""

from __future__ import annotations

import numpy as np

from qsim.backends import NAMES as QSIM_BACKENDS
from qsim.precision import precision_name

from ..workloads import Problem, g1_matrix, g1_target, w4_noise_model
from .base import DOUBLE, PRECISION_DTYPES, SINGLE, Adapter, AdapterError, Prepared, module_available

__all__ = ["QHybrid", "oracle_output", "NUMPY_MAX_QUBITS"]

#: The NumPy reference backend is run up to this size only ("small n only").
NUMPY_MAX_QUBITS = 20
#: W4's NumPy density-matrix oracle (a ``2n``-qubit vector) is the reference up to this size.
W4_ORACLE_MAX_QUBITS = 8
#: G1's deterministic initial state: amplitude ``b`` has phase ``G1_PHASE · (b mod G1_PERIOD)``.
G1_PHASE, G1_PERIOD = 0.1, 1031
#: Amplitudes filled per chunk when building G1's state (bounds the temporaries).
G1_FILL_CHUNK = 1 << 20


def _real(dtype: str) -> bool:
    return dtype in ("float64", "float32")


def _sum_z(n: int):
    from qsim import z_each

    return z_each(n)


def oracle_output(problem: Problem) -> dict[str, np.ndarray] | None:
    """Output of the NumPy reference backend (the oracle), or None where it does not apply."""
    from qsim import expval, final_state
    from qsim.grad import vjp

    c, w = problem.circuit, problem.weights
    if problem.workload == "W1":
        return {"state": final_state(c, w, backend="numpy")[0]}
    if problem.workload == "W2":
        return {"expval": expval(c, _sum_z(problem.n_qubits), w, problem.inputs, backend="numpy")}
    if problem.workload == "W3":
        n = problem.n_qubits
        g = vjp(c, _sum_z(n), np.ones((1, n)), w, backend="numpy")
        return {"value": g.values.sum(axis=1), "grad": g.weights}
    if problem.workload == "W4" and problem.n_qubits <= W4_ORACLE_MAX_QUBITS:
        from qsim.noise import expval_density

        return {"expval": expval_density(c, _sum_z(problem.n_qubits), w, model=w4_noise_model(), backend="numpy")}
    return None


def _g1_values(b: np.ndarray, n_qubits: int, real: bool) -> np.ndarray:
    phase = G1_PHASE * (b % G1_PERIOD)
    scale = 1.0 / np.sqrt(float(1 << n_qubits))
    return np.cos(phase) * scale if real else np.exp(1j * phase) * scale


def g1_state(n_qubits: int, dtype: str) -> np.ndarray:
    """G1's initial state (not normalised: only the traffic and the map matter), filled in chunks."""
    out = np.empty(1 << n_qubits, dtype=dtype)
    for lo in range(0, out.shape[0], G1_FILL_CHUNK):
        b = np.arange(lo, min(lo + G1_FILL_CHUNK, out.shape[0]), dtype=np.int64)
        out[lo:lo + b.shape[0]] = _g1_values(b, n_qubits, _real(dtype))
    return out


def g1_expected(n_qubits: int, dtype: str, index: np.ndarray) -> np.ndarray:
    """Entries at ``index`` of G1's state after one application of :func:`g1_matrix`."""
    u = g1_matrix(_real(dtype))
    bit = np.int64(1) << np.int64(n_qubits - 1 - g1_target(n_qubits))
    sel = ((index & bit) != 0).astype(np.int64)
    lo = _g1_values(index & ~bit, n_qubits, _real(dtype))
    hi = _g1_values(index | bit, n_qubits, _real(dtype))
    return u[sel, 0] * lo + u[sel, 1] * hi


class QHybrid(Adapter):
    """``qhybrid-<backend>`` (``mode="forward"`` gives W3's forward-only companion row)."""

    kind = "ours"
    distributions = ("qhybrid", "numpy", "numba")

    def __init__(self, backend: str = "numba", mode: str = "default") -> None:
        if backend not in QSIM_BACKENDS:
            raise ValueError(f"unknown qsim backend {backend!r}; choose from {QSIM_BACKENDS}")
        self.backend = backend
        self.mode = mode
        self.name = f"qhybrid-{backend}" + ("-forward" if mode == "forward" else "")
        if mode == "forward":
            self.workloads = frozenset({"W3"})
        elif backend == "numpy":
            self.workloads = frozenset({"W1", "W2", "W3", "W4"})
        elif backend == "numba":
            self.workloads = frozenset({"W1", "W2", "W3", "G1", "W4"})
        else:      # cupy: qsim's public API returns NumPy arrays (transfer included); no in-place G1 pass
            self.workloads = frozenset({"W1", "W2", "W3"})
        self.precisions = (DOUBLE,) if backend == "numpy" else (DOUBLE, SINGLE)
        self.device = "gpu" if backend == "cupy" else "cpu"
        self.memory_factor = {"numpy": 4.0, "cupy": 1.0}.get(backend, 3.0 if mode != "forward" else 2.0)
        self.max_qubits = NUMPY_MAX_QUBITS if backend == "numpy" else None
        if backend == "cupy":
            self.distributions = self.distributions + ("cupy-cuda12x", "cupy-cuda11x", "cupy")

    def unavailable_reason(self) -> str | None:
        if self.backend != "cupy":
            return None
        if not module_available("cupy"):
            return "cupy not installed"
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() < 1:
                return "no CUDA device"
        except Exception as exc:  # noqa: BLE001 - any CUDA failure means "no GPU here"
            return f"no usable CUDA device ({type(exc).__name__})"
        return None

    def dtypes(self, workload: str, precision: str, problem: Problem | None = None) -> tuple[str, ...]:
        if workload not in self.workloads or precision not in self.precisions:
            return ()
        cplx, real = PRECISION_DTYPES[precision]
        if workload == "W4":        # qsim.noise's density matrices: complex128 (float64 for real circuits)
            return (cplx,) if precision == DOUBLE else ()
        if workload == "G1":
            return (cplx, real)
        if problem is not None and problem.circuit is not None and problem.circuit.is_real:
            return (cplx, real)
        return (cplx,)

    # ------------------------------------------------------------------ points
    def prepare(self, problem: Problem, dtype: str, threads: int) -> Prepared:
        from qsim import expval, final_state
        from qsim.backends import get_backend
        from qsim.grad import vjp
        from qsim.program import lower

        if problem.workload not in self.workloads:
            raise AdapterError(f"{self.name} does not implement {problem.workload}")
        if problem.workload == "G1":
            return self._prepare_g1(problem, dtype)
        c, w, x, n = problem.circuit, problem.weights, problem.inputs, problem.n_qubits
        if problem.workload == "W4":
            from qsim.noise import expval_density

            model, obs4, backend = w4_noise_model(), _sum_z(n), self.backend

            def run4():
                return expval_density(c, obs4, w, model=model, backend=backend, real=False)

            return Prepared(run4, lambda ev: {"expval": np.asarray(ev)}, f"{self.backend} density matrix")
        kw = dict(backend=self.backend, precision=precision_name(dtype), real=_real(dtype))
        sync = self._sync()
        program = lower(c)
        n_passes = len(c.ops) if self.backend == "numpy" else program.n_passes
        # the sweeps over memory the engine makes (the cache-blocked plan's steps on large registers)
        sweeps = get_backend(self.backend).memory_sweeps(program, 1 if x is None else len(x), np.dtype(dtype))
        obs = _sum_z(n)

        if problem.workload == "W1":
            def run():
                return sync(final_state(c, w, **kw))

            return Prepared(run, lambda st: {"state": st[0]}, self.backend, n_passes, sweeps=sweeps)
        if problem.workload == "W2":
            def run():
                return sync(expval(c, obs, w, x, **kw))

            return Prepared(run, lambda ev: {"expval": ev}, self.backend, n_passes, sweeps=sweeps)
        if self.mode == "forward":
            def run():
                return sync(expval(c, obs, w, **kw))

            return Prepared(run, lambda ev: {"value": np.asarray(ev).sum(axis=1)}, self.backend, n_passes,
                            sweeps=sweeps)
        cot = np.ones((1, n))

        def run():
            return vjp(c, obs, cot, w, **kw)

        return Prepared(run, lambda g: {"value": np.asarray(g.values).sum(axis=1), "grad": np.asarray(g.weights)},
                        self.backend, n_passes, sweeps=sweeps)

    def _sync(self):
        if self.backend != "cupy":
            return lambda a: a
        import cupy

        def sync(a):
            cupy.cuda.Stream.null.synchronize()
            return a

        return sync

    def _prepare_g1(self, problem: Problem, dtype: str) -> Prepared:
        from qsim.backends.numba_backend import apply_matrix

        n = problem.n_qubits
        u = g1_matrix(_real(dtype)).astype(dtype)
        target = g1_target(n)
        st = g1_state(n, dtype)[None, :]

        def run():
            return apply_matrix(st, u, (target,), n)

        def reference():
            from ..agreement import fingerprint_indices

            idx = fingerprint_indices(n)
            idx = np.arange(1 << n, dtype=np.int64) if idx is None else idx
            return {"state": g1_expected(n, dtype, idx)}

        def result(raw):
            # the first run's output: fingerprinted before the timed repeats change the state further
            return {"state": raw[0]}

        return Prepared(run, result, self.backend, 1, reference)
