"""The one torch entry point: expectation values of a qsim circuit as a differentiable function.

For a circuit ``U(w, x_b)`` on ``n`` qubits, observables ``O_1..O_m``, per-sample input angles
``x_b`` (row ``b`` of ``inputs (B, k)``) and an optional initial state ``ψ0_b`` (row ``b`` of
``state (B, 2**n)``, default ``|0…0⟩``):

.. math::  f_{bj}(w, x, ψ0) = ⟨ψ0_b| U(w, x_b)^† O_j U(w, x_b) |ψ0_b⟩ .

:func:`circuit_expval` returns ``f`` as a ``(B, m)`` tensor.  In ``backward`` torch hands us the
cotangents ``c_{bj} = ∂L/∂f_{bj}`` and we return the vector-Jacobian products

.. math::  ∂L/∂w = Σ_{b,j} c_{bj} ∂f_{bj}/∂w,\\qquad ∂L/∂x_b = Σ_j c_{bj} ∂f_{bj}/∂x_b,
           \\qquad ∂L/∂ψ0_b = 2 Σ_j c_{bj} U^† O_j U ψ0_b .

Gradient methods (:class:`Execution`):

* ``"adjoint"`` (default, exact): :func:`qsim.grad.vjp`, one forward and one backward sweep for
  the whole batch and every output at once (the cotangents are folded into one observable
  ``Σ_j c_{bj} O_j``); two state vectors in memory whatever the depth.  The VJP needs the
  cotangents, so it runs in ``backward``; ``forward`` computes the values with
  :func:`qsim.expval`.  Nothing but the input tensors is kept between the two: the final states
  (``B·2**n`` amplitudes) are recomputed by the VJP's own forward sweep rather than cached.
* ``"param_shift"``: ``∂f/∂θ = r [f(θ+s) - f(θ-s)]`` per angle occurrence
  (:func:`qsim.grad.shifted_circuits`), evaluated exactly, with shots, or under a noise model.
  It gives no state gradient.

Every evaluation is one call of qsim's front door, :func:`qsim.expval` (forward) and
:func:`qsim.grad.vjp` (backward), with the execution's ``noise``, ``shots``, ``backend`` and
``fusion``: an option an engine cannot honour raises there (e.g. ``backend="cupy"`` with noise).

Shots (``Execution(shots=S)``): the forward values are shot estimates (:func:`qsim.expval` with
``shots``: each qubit-wise commuting measurement setting measured ``S`` times, every Pauli term
the mean of its ``S`` measured ±1 eigenvalues).  With
``gradient="param_shift"`` every shifted evaluation is a shot estimate too (the unbiased
estimator a real QPU gives).  With ``gradient="adjoint"`` the backward pass is the exact gradient
of the exact expectation at the same parameters (straight-through: the sampling step is treated
as the identity; since ``E[f̂] = f`` it is the gradient of the expected value, though for a
nonlinear loss a biased estimate of ``∇E[L(f̂)]``).  This is one reading of the paper's
"differentiable shot sampling" (paper.md section 6).

Noise (``Execution(noise=...)``): a :class:`qsim.noise.NoiseModel`, a profile name
(``"ionq-aria-like"``, ``"ionq-forte-like"``) or TOML path, or a mapping
``{"p1": …, "p2": …, "readout": …, "two_qubit": "pair"}`` for
:meth:`qsim.noise.NoiseModel.depolarizing`.  Values are the measured noisy expectations
(``qsim.expval(..., noise=model)``: density matrices, readout error included);
``gradient="adjoint"`` is the exact density-matrix adjoint (straight-through with shots),
``"param_shift"`` shifts the noisy circuit.  The noisy engines run in double precision, so a
noisy execution simulates in ``"double"`` whatever the tensors' dtype.

Complex conjugation convention: torch stores ``∂L/∂Re z + i ∂L/∂Im z`` as the gradient of a
complex leaf ``z`` (twice the conjugate Wirtinger derivative); qsim's state cotangent
``2λ0 = ∂f/∂Re ψ0 + i ∂f/∂Im ψ0`` is exactly that, so it is returned unchanged (its real part
for a real state tensor).

Dtypes: float32 tensors simulate in qsim ``precision="single"`` (complex64/float32 states),
float64 in ``"double"`` (and so does every execution whose backend or noise engine runs only in
double: ``backend="numpy"``, ``noise``).  The output has the real dtype of the widest input.  Contiguous CPU
tensors cross to NumPy without copies (``tensor.detach().numpy()`` shares memory).

Example::

    import torch, qsim
    from hybrid.function import circuit_expval
    circ = qsim.Circuit(2, tuple(qsim.angle_encoding(2) + qsim.long_range_pqc(2, 1, 1)))
    x = torch.rand(8, 2)
    w = torch.zeros(circ.n_weights, requires_grad=True)
    y = circuit_expval(circ, qsim.z_each(2), w, x)      # (8, 2)
    y.sum().backward()                                   # w.grad by one adjoint sweep
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import qsim
import qsim.grad
import qsim.noise
from qsim.backends import NAMES as BACKENDS
from qsim.backends import get_backend
from qsim.circuit import Circuit
from qsim.observables import Observable, as_observables
from qsim.precision import SINGLE
from qsim.validate import FUSION_LEVELS

from hybrid.config import config_from_dict

__all__ = [
    "GRADIENTS",
    "Execution",
    "CircuitExpval",
    "circuit_expval",
    "NOISE_SPEC_KEYS",
    "resolve_noise",
]

logger = logging.getLogger(__name__)

#: Gradient methods of :class:`Execution`.
GRADIENTS = ("adjoint", "param_shift")


#: Keys of a mapping noise spec (the arguments of ``qsim.noise.NoiseModel.depolarizing``).
NOISE_SPEC_KEYS = ("p1", "p2", "readout", "two_qubit")


def resolve_noise(noise: Any) -> Any:
    """Turn a noise spec into a :class:`qsim.noise.NoiseModel` (``None`` stays ``None``).

    Accepted: a ``NoiseModel``; a profile name or TOML path (``qsim.noise.load_profile``); a
    mapping with keys among :data:`NOISE_SPEC_KEYS` (``NoiseModel.depolarizing``).

    Raises:
        ValueError: a spec that does not describe a noise model (the bad value named).
    """
    if noise is None:
        return None
    mod = qsim.noise
    if isinstance(noise, mod.NoiseModel):
        return noise
    if isinstance(noise, str):
        try:
            return mod.load_profile(noise)
        except mod.ProfileError as exc:
            raise ValueError(f"noise profile {noise!r}: {exc} (built-in: {mod.available_profiles()})") from None
    if isinstance(noise, Mapping):
        unknown = sorted(set(noise) - set(NOISE_SPEC_KEYS))
        if unknown:
            raise ValueError(f"unknown noise spec keys {unknown}; valid keys are {list(NOISE_SPEC_KEYS)}")
        try:
            return mod.NoiseModel.depolarizing(**dict(noise))
        except (mod.ChannelError, TypeError, ValueError) as exc:
            raise ValueError(f"noise spec {dict(noise)!r}: {exc}") from None
    raise ValueError(
        f"noise must be a qsim.noise.NoiseModel, a profile name or a mapping of {list(NOISE_SPEC_KEYS)}, "
        f"got {type(noise).__name__}"
    )


@dataclass(frozen=True)
class Execution:
    """How a circuit is executed and differentiated; round-trips through JSON.

    Attributes:
        gradient: ``"adjoint"`` (exact; straight-through with shots) or ``"param_shift"``.
        shots: ``None`` for exact expectation values, else the number of measurements per
            Pauli term and evaluation (a positive integer).
        noise: ``None``, a :class:`qsim.noise.NoiseModel`, a profile name / TOML path, or a
            mapping for ``NoiseModel.depolarizing`` (:func:`resolve_noise`).  Only names and
            mappings survive :meth:`to_dict`.
        backend: qsim backend, ``"numba"`` (CPU, default), ``"numpy"`` (reference, float64
            only) or ``"cupy"`` (GPU).
        fusion: qsim gate-fusion level (``None`` = qsim's default).
    """

    gradient: str = "adjoint"
    shots: int | None = None
    noise: Any = None
    backend: str = "numba"
    fusion: int | None = None

    def __post_init__(self) -> None:
        if self.gradient not in GRADIENTS:
            raise ValueError(f"Execution.gradient must be one of {GRADIENTS}, got {self.gradient!r}")
        if self.shots is not None and (
            isinstance(self.shots, bool) or not isinstance(self.shots, (int, np.integer)) or self.shots < 1
        ):
            raise ValueError(f"Execution.shots must be None or a positive integer, got {self.shots!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"Execution.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.fusion is not None and self.fusion not in FUSION_LEVELS:
            raise ValueError(f"Execution.fusion must be None or one of {FUSION_LEVELS}, got {self.fusion!r}")
        # resolved once (a profile is a file read), and now rather than at the first forward pass
        object.__setattr__(self, "_model", resolve_noise(self.noise))

    @property
    def noise_model(self) -> Any:
        """The resolved :class:`qsim.noise.NoiseModel` (``None`` without noise)."""
        return self._model

    @property
    def exact(self) -> bool:
        """True when values are exact (no shots, no noise)."""
        return self.shots is None and self.noise is None

    def to_dict(self) -> dict[str, Any]:
        if self.noise is not None and not isinstance(self.noise, (str, Mapping)):
            raise ValueError(
                f"Execution.noise={self.noise!r} is a model object; give it as a mapping or a preset "
                "name to store it in a JSON config"
            )
        d = dataclasses.asdict(self)
        if isinstance(self.noise, Mapping):
            d["noise"] = dict(self.noise)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Execution:
        """Build from a mapping; unknown keys raise :class:`ValueError` naming them."""
        return config_from_dict(cls, data)


# --------------------------------------------------------------------------------------------
# Tensor <-> NumPy


def _to_numpy(t: torch.Tensor | None) -> np.ndarray | None:
    """A NumPy array sharing memory with a CPU tensor (strided views included); a copy only for
    tensors on another device or with a lazy conjugation bit."""
    if t is None:
        return None
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.is_conj():
        t = t.resolve_conj()
    return t.numpy()


def _real_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    dtypes = [t.real.dtype if t.is_complex() else t.dtype for t in tensors if t is not None]
    return torch.float64 if torch.float64 in dtypes else torch.float32


def _check_tensor(name: str, t: torch.Tensor | None, ndim: int, complex_ok: bool) -> None:
    if t is None:
        return
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    ok = t.dtype in (torch.float32, torch.float64) or (complex_ok and t.dtype in (torch.complex64, torch.complex128))
    if not ok:
        kinds = "float32/float64" + ("/complex64/complex128" if complex_ok else "")
        raise TypeError(f"{name} must be {kinds}, got {t.dtype}")
    if t.ndim != ndim:
        shape = {1: "(P,)", 2: "(B, k)" if name == "inputs" else "(B, 2**n)"}[ndim]
        raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")


# --------------------------------------------------------------------------------------------
# The autograd Function


def _front_door(ex: Execution, precision: str) -> dict[str, Any]:
    """The keyword arguments every qsim call of ``ex`` takes (one place: forward and backward agree)."""
    return dict(noise=ex.noise_model, backend=ex.backend, precision=precision, fusion=ex.fusion)


def _precision(ex: Execution, out_dtype: torch.dtype) -> str:
    """``"single"`` for float32 tensors unless the engine runs only in double (numpy backend, noise)."""
    if out_dtype == torch.float64 or ex.noise is not None or SINGLE not in get_backend(ex.backend).precisions:
        return "double"
    return "single"


class CircuitExpval(torch.autograd.Function):
    """``(weights (P,), inputs (B,k)|None, state (B,2**n)|None) -> ⟨O_j⟩ (B, m)``.

    Use through :func:`circuit_expval`; ``apply`` takes
    ``(circuit, observables, execution, rng, weights, inputs, state)``.
    """

    @staticmethod
    def forward(ctx, circuit: Circuit, observables: tuple[Observable, ...], execution: Execution,
                rng: np.random.Generator, weights: torch.Tensor, inputs: torch.Tensor | None,
                state: torch.Tensor | None) -> torch.Tensor:
        out_dtype = _real_dtype(weights, inputs, state)
        precision = _precision(execution, out_dtype)
        w, x, s = _to_numpy(weights), _to_numpy(inputs), _to_numpy(state)
        values = qsim.expval(circuit, observables, w, x, s, shots=execution.shots, seed=rng,
                             **_front_door(execution, precision))
        ctx.circuit, ctx.observables, ctx.execution, ctx.rng = circuit, observables, execution, rng
        ctx.precision = precision
        ctx.save_for_backward(weights, inputs, state)
        device = weights.device
        return torch.from_numpy(np.ascontiguousarray(values)).to(device=device, dtype=out_dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        weights, inputs, state = ctx.saved_tensors
        need_w, need_x, need_s = ctx.needs_input_grad[4:7]
        need_x = need_x and inputs is not None
        need_s = need_s and state is not None
        if not (need_w or need_x or need_s):
            return (None,) * 7
        circuit, ex = ctx.circuit, ctx.execution
        cot = _to_numpy(grad_out).astype(np.float64, copy=False)
        w, x, s = _to_numpy(weights), _to_numpy(inputs), _to_numpy(state)
        if ex.gradient == "adjoint":
            # exact gradient of the exact expectation; with shots, the straight-through gradient
            r = qsim.grad.vjp(circuit, ctx.observables, cot, w, x, s, method="adjoint",
                              **_front_door(ex, ctx.precision))
        else:
            if need_s:
                raise RuntimeError(
                    "gradient='param_shift' gives no gradient for the initial state; use "
                    "gradient='adjoint' (exact) or detach the state"
                )
            wrt = tuple(name for name, need in (("weights", need_w), ("inputs", need_x)) if need)
            r = qsim.grad.vjp(circuit, ctx.observables, cot, w, x, s, method="param_shift", shots=ex.shots,
                              seed=ctx.rng, wrt=wrt, **_front_door(ex, ctx.precision))
        gw, gx, gs = r.weights, r.inputs, r.state
        return (None, None, None, None,
                _grad_like(gw, weights) if need_w else None,
                _grad_like(gx, inputs) if need_x else None,
                _grad_like(gs, state) if need_s else None)


def _grad_like(g: np.ndarray | None, ref: torch.Tensor) -> torch.Tensor:
    if g is None:  # the circuit reads no inputs
        return torch.zeros_like(ref)
    if not ref.is_complex() and np.iscomplexobj(g):
        g = g.real
    return torch.from_numpy(np.ascontiguousarray(g)).to(device=ref.device, dtype=ref.dtype)


def circuit_expval(
    circuit: Circuit,
    observables,
    weights: torch.Tensor,
    inputs: torch.Tensor | None = None,
    state: torch.Tensor | None = None,
    *,
    execution: Execution | None = None,
    rng: np.random.Generator | int | None = None,
) -> torch.Tensor:
    """Differentiable ``⟨ψ_b|O_j|ψ_b⟩``, ``(B, m)``, with ``ψ_b = U(w, x_b) ψ0_b``.

    Args:
        circuit: any :class:`qsim.Circuit`.
        observables: one observable or a sequence (``qsim.z_each(n)``, ``qsim.Z(0)``, ...).
        weights: ``(P,)`` float32/float64, ``P = circuit.n_weights`` (may be empty).
        inputs: ``(B, k)`` real input angles, ``k = circuit.n_inputs`` (``None`` if unused).
        state: ``(B, 2**n)`` real or complex initial amplitudes, each row of unit norm
            (``None`` = ``|0…0⟩``).  Normalise in torch (``x / x.norm(dim=1, keepdim=True)``) so
            autograd sees the normalisation.
        execution: :class:`Execution` (default: exact, adjoint gradients).
        rng: generator (or seed) for shot sampling; pass the same generator on every call to
            get fresh, reproducible samples.

    Returns:
        ``(B, m)`` tensor on ``weights``' device, float64 if any input is double, else float32.

    Raises:
        TypeError / ValueError: a tensor of the wrong type or rank.
        qsim.CircuitError: shapes that do not fit the circuit, non-finite values, an
            unnormalised state (raised by qsim, naming the value).
    """
    if not isinstance(circuit, Circuit):
        raise TypeError(f"circuit must be a qsim.Circuit, got {type(circuit).__name__}")
    obs = as_observables(observables)
    ex = execution if execution is not None else Execution()
    if not isinstance(ex, Execution):
        raise TypeError(f"execution must be a hybrid.function.Execution, got {type(ex).__name__}")
    if weights is None:
        weights = torch.zeros(0, dtype=torch.float64 if any(
            t is not None and _real_dtype(t) == torch.float64 for t in (inputs, state)) else torch.float32)
    _check_tensor("weights", weights, 1, complex_ok=False)
    _check_tensor("inputs", inputs, 2, complex_ok=False)
    _check_tensor("state", state, 2, complex_ok=True)
    devices = {t.device for t in (weights, inputs, state) if t is not None}
    if len(devices) > 1:
        raise ValueError(f"weights, inputs and state are on different devices: {sorted(map(str, devices))}")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return CircuitExpval.apply(circuit, obs, ex, generator, weights, inputs, state)

