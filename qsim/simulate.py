"""Public simulation functions (pure: circuit + data in, arrays out).

All functions take ``weights (P,)``, ``inputs (B, k)`` and an optional initial ``state
(B, 2**n)`` (default ``|0…0⟩``) and return batched arrays with qubit 0 as the most significant
bit of the basis index.

``backend``: a name of :data:`qsim.backends.NAMES`: ``"numba"`` (default, CPU kernels),
``"numpy"`` (reference oracle, complex128 only, takes no ``fusion``) or ``"cupy"`` (GPU; needs
CuPy and a CUDA device).  ``precision``: ``"double"`` or
``"single"``.  ``real``: ``None`` (auto) simulates in float arithmetic when the circuit, the
initial state and the observables are all real (RY, CNOT, CZ, X, Z, H, SWAP and real amplitude
encodings: the paper's circuits); ``False`` forces complex arithmetic; ``True`` demands the
real path and raises if it does not apply.
"""

from __future__ import annotations

import logging
from typing import Iterable

import numpy as np

from .backends import NAMES, Backend, get_backend, resolve_fusion
from .circuit import Circuit, CircuitError
from .errors import InputError
from .measure import basis_change_ops, check_shots, counts_dicts, rng_from, sample_indices, shot_expvals
from .observables import Observable, PauliString, as_observables
from .precision import DOUBLE, precision_name
from .precision import PRECISIONS as _PRECISION_TABLE
from .program import lower
from .validate import Batch, check_batch, check_fusion

__all__ = [
    "BACKENDS", "PRECISIONS", "final_state", "expval", "probabilities", "sample", "counts", "sample_expval",
    "resolve_dtype", "check_precision", "noisy_of", "check_noisy_options", "density_fusion", "NOISY_BACKENDS",
    "DENSITY_ADJOINT_BACKEND",
]

log = logging.getLogger(__name__)

#: The backend names (:data:`qsim.backends.NAMES`, the registry's one list).
BACKENDS = NAMES
#: Precision name -> (complex dtype, real dtype) of the simulated states (a view of
#: :data:`qsim.precision.PRECISIONS`).
PRECISIONS = {name: (p.complex, p.real) for name, p in _PRECISION_TABLE.items()}


def check_precision(precision: str, backend: str | Backend | None = None) -> str:
    """Validate ``precision`` (and that ``backend``, a name or a :class:`~qsim.backends.Backend`, runs it)."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise CircuitError(f"precision {precision!r} must be one of {tuple(PRECISIONS)}")
    if backend is not None:
        be = get_backend(backend) if isinstance(backend, str) else backend
        if precision not in be.precisions:
            raise CircuitError(f"precision {precision!r}: the {be.description} runs in "
                               f"{' or '.join(be.precisions)} precision only")
    return precision


def resolve_dtype(circuit: Circuit, state, observables, precision: str, real: bool | None):
    """The state dtype: complex, or float on the real fast path."""
    cdt, rdt = PRECISIONS[check_precision(precision)]
    can = circuit.is_real and (state is None or not np.iscomplexobj(state) or not np.any(np.imag(state))) and (
        observables is None or all(o.is_real for o in observables))
    if real is True and not can:
        raise CircuitError("real=True but the circuit, state or observables are complex")
    return rdt if (can and real is not False) else cdt


def _run(circuit: Circuit, b: Batch, backend: str, precision: str, real, fusion, observables=None):
    """``(backend, final states)`` for a validated batch (states as the backend's arrays)."""
    be = get_backend(backend)
    check_precision(precision, be)
    level = resolve_fusion(be, fusion)
    dtype = resolve_dtype(circuit, b.state, observables, precision, real)
    program = None if level is None else lower(circuit, level)
    return be, be.forward(circuit, program, b.weights, b.inputs, b.state, b.size, dtype)


def final_state(circuit: Circuit, weights=None, inputs=None, state=None, *, backend: str = "numba",
                precision: str = "double", real: bool | None = False, fusion: int | None = None) -> np.ndarray:
    """Final state vectors ``(B, 2**n)`` (complex unless ``real`` is ``None``/``True``)."""
    b = check_batch(circuit, weights, inputs, state)
    be, st = _run(circuit, b, backend, precision, real, fusion)
    return be.to_numpy(st)


def expval(circuit: Circuit, observables: Observable | PauliString | Iterable, weights=None, inputs=None,
           state=None, *, noise=None, shots: int | None = None, seed=None, backend: str = "numba",
           precision: str = "double", real: bool | None = None, fusion: int | None = None,
           method: str | None = None, trajectories: int | None = None,
           target_stderr: float | None = None) -> np.ndarray:
    """Expectation values ``⟨O_j⟩`` per sample, ``(B, m)``: the one front door for exact, shot and
    noisy evaluation.

    * exact (``noise=None, shots=None``): ``⟨ψ_b|O_j|ψ_b⟩`` on the state-vector ``backend``;
    * ``shots=S``: the grouped shot estimator (:func:`qsim.measure.shot_expvals`): the terms of
      all observables are grouped into qubit-wise commuting measurement settings, each setting is
      measured ``S`` times (basis change to Z, seeded by ``seed``) and every term's estimate is the
      mean of its ``S`` measured ±1 eigenvalues;
    * ``noise=model`` (a :class:`qsim.noise.NoiseModel`; or ``circuit`` a
      :class:`~qsim.noise.NoisyCircuit`): *measured* expectations of the noisy circuit, readout
      confusion included, exact or with ``shots``.  ``method``: ``"density"`` (exact density
      matrix, default; ``backend`` ``"numba"`` or ``"numpy"`` = its NumPy oracle) or
      ``"trajectories"`` (Monte-Carlo wave functions, ``trajectories`` count or
      ``target_stderr``).  ``state`` may then also be density matrices ``(B, 2**n, 2**n)``.

    Every option is honoured or refused with :class:`~qsim.errors.InputError`: the density
    engine runs in double precision on ``numba``/``numpy`` (fusion ``0`` = none, ``>= 1`` =
    superoperator blocks); ``method``, ``trajectories`` and ``target_stderr`` need ``noise``.
    """
    noisy = noisy_of(circuit, noise)
    if noisy is not None:
        from .noise.measured import measured_expvals

        check_noisy_options(backend, precision, method)
        return measured_expvals(noisy, observables, weights, inputs, state, shots=shots, seed=seed,
                                method=method or "density", trajectories=trajectories,
                                target_stderr=target_stderr, backend=backend, real=real,
                                fusion=density_fusion(fusion))
    _refuse_noise_options(method=method, trajectories=trajectories, target_stderr=target_stderr)
    obs = as_observables(observables)
    b = check_batch(circuit, weights, inputs, state)
    for o in obs:
        o.check_wires(circuit.n_qubits)
    if shots is None:
        be, st = _run(circuit, b, backend, precision, real, fusion, obs)
        return be.expvals(st, obs, circuit.n_qubits)
    shots, rng = check_shots(shots), rng_from(seed)

    def probabilities_in(basis: dict[int, str]) -> np.ndarray:
        rotated = circuit.extend(basis_change_ops(basis))
        be, st = _run(rotated, b, backend, precision, real, fusion)
        return be.probabilities(st)

    return shot_expvals(probabilities_in, obs, circuit.n_qubits, shots, rng, None, batch_size=b.size)


#: Options of :func:`expval` / :func:`qsim.grad.vjp` that only the noisy engines take.
NOISY_ONLY = ("method", "trajectories", "target_stderr")
#: State-vector backends the density-matrix engine also runs on (``numpy``: its NumPy oracle).
NOISY_BACKENDS = ("numba", "numpy")
#: The backend of the density-matrix adjoint sweep (:func:`qsim.grad.vjp` with noise).
DENSITY_ADJOINT_BACKEND = "numba"


def noisy_of(circuit, noise):
    """The :class:`~qsim.noise.NoisyCircuit` to simulate, or ``None`` for a noise-free call."""
    if noise is None and isinstance(circuit, Circuit):
        return None
    from .noise.models import NoiseModel, as_noisy

    if noise is not None and not isinstance(noise, NoiseModel):
        raise InputError(f"noise must be a qsim.noise.NoiseModel (or None), got {type(noise).__name__}; "
                         "build one with qsim.noise.load_profile(...) or NoiseModel.depolarizing(...)")
    return as_noisy(circuit, noise)


def check_noisy_options(backend, precision, method) -> None:
    if backend not in NOISY_BACKENDS:
        raise InputError(f"backend {backend!r} with noise: the density-matrix and trajectory engines run on "
                         f"{' or '.join(NOISY_BACKENDS)}")
    if precision_name(precision) != DOUBLE:
        raise InputError(f"precision {precision!r} with noise: the noisy engines run in double precision")
    from .noise.measured import METHODS

    if method is not None and method not in METHODS:
        raise InputError(f"method {method!r} must be one of {METHODS}")


def _refuse_noise_options(**options) -> None:
    given = [k for k, v in options.items() if v is not None]
    if given:
        raise InputError(f"{', '.join(given)} select a noisy engine: pass noise=<NoiseModel> too")


def density_fusion(fusion: int | None) -> bool:
    """qsim's fusion level for the density engine: ``None``/``>= 1`` fuse into superoperator blocks."""
    if fusion is None:
        return True
    return check_fusion(fusion) > 0


def probabilities(circuit: Circuit, weights=None, inputs=None, state=None, *, backend: str = "numba",
                  precision: str = "double", fusion: int | None = None) -> np.ndarray:
    """Born probabilities ``|⟨i|ψ_b⟩|²``, ``(B, 2**n)`` float64."""
    b = check_batch(circuit, weights, inputs, state)
    be, st = _run(circuit, b, backend, precision, None, fusion)
    return be.probabilities(st)


def sample_from_probabilities(probs: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """``(B, shots)`` basis-state indices drawn from each row of ``probs`` (:func:`qsim.measure.sample_indices`)."""
    return sample_indices(probs, shots, rng)


def sample(circuit: Circuit, shots: int, weights=None, inputs=None, state=None, *, noise=None, seed=None,
           backend: str = "numba", precision: str = "double", fusion: int | None = None) -> np.ndarray:
    """Measured basis-state indices ``(B, shots)`` (qubit 0 = most significant bit); seeded.

    With ``noise`` (a :class:`qsim.noise.NoiseModel`) they are sampled from the noisy density
    matrix, readout confusion applied per bit.
    """
    shots = check_shots(shots)
    noisy = noisy_of(circuit, noise)
    if noisy is not None:
        from .noise.measured import measured_samples

        check_noisy_options(backend, precision, None)
        return measured_samples(noisy, shots, weights, inputs, state, seed=seed, backend=backend,
                                fusion=density_fusion(fusion))
    probs = probabilities(circuit, weights, inputs, state, backend=backend, precision=precision, fusion=fusion)
    return sample_indices(probs, shots, rng_from(seed))


def counts(circuit: Circuit, shots: int, weights=None, inputs=None, state=None, *, noise=None, seed=None,
           backend: str = "numba", precision: str = "double", fusion: int | None = None) -> list[dict[str, int]]:
    """Per sample, a ``{bitstring: count}`` dict (bitstring ``q_0 q_1 … q_{n-1}``) of :func:`sample`."""
    idx = sample(circuit, shots, weights, inputs, state, noise=noise, seed=seed, backend=backend,
                 precision=precision, fusion=fusion)
    return counts_dicts(idx, circuit.n_qubits)


def sample_expval(circuit: Circuit, observables, shots: int, weights=None, inputs=None, state=None, *,
                  seed=None, backend: str = "numba", precision: str = "double", readout=None) -> np.ndarray:
    """Shot estimates of ``⟨O_j⟩``, ``(B, m)``: ``expval(..., shots=shots, seed=seed)`` (the grouped
    estimator; kept as a convenience name).

    ``readout`` (a callable flipping measured bits) is no longer taken: model assignment errors
    with ``noise=qsim.noise.NoiseModel().with_readout(qsim.noise.readout_error(p01, p10))`` in :func:`expval`.
    """
    if readout is not None:
        raise InputError("sample_expval(readout=...) is gone: pass "
                         "noise=qsim.noise.NoiseModel().with_readout(qsim.noise.readout_error(p01, p10)) to "
                         "qsim.expval(..., shots=...) for measured expectations with assignment errors")
    return expval(circuit, observables, weights, inputs, state, shots=shots, seed=seed, backend=backend,
                  precision=precision)
