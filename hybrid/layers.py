"""Quantum ``nn.Module`` s over qsim circuits: a generic layer, the amplitude encoder, the QPU module.

Every module runs its circuit through the one torch entry point
(:func:`hybrid.function.circuit_expval`), so gradients come from qsim's adjoint VJP (or the
parameter-shift rule with shots / noise).  Their configurations are dataclasses that round-trip
through JSON (``to_dict`` / ``from_dict``); unknown keys and bad values raise
:class:`ValueError` naming them.

* :class:`QuantumLayer` - any :class:`qsim.Circuit` and observables; trainable weights ``w``.
* :class:`AmplitudeEncoder` (paper.md sections 3.2-3.3, first module): an embedding
  ``e ∈ R^d`` is zero-padded or truncated to ``2**Q`` entries, L2-normalised in torch,
  ``ψ0 = ẽ / ||ẽ||``, used as the initial state of ``M`` long-range layers of connectivity ``C``
  (``qsim.long_range_pqc``), and read out as ``(⟨Z_0⟩, …, ⟨Z_{Q-1}⟩)``.  Gradients reach the
  embedding through the state cotangent.
* :class:`QPUModule` (second module): ``N`` data re-uploading blocks
  ``[⊗_q RY(s·x_q)] → PQC1`` (weights shared or separate), then ``PQC2`` with ``R`` layers,
  read out as ``⟨Z_q⟩`` on the first ``Q_m`` qubits; optional shots and noise model.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

import qsim
from qsim.ansatz import angle_encoding, long_range_pqc, long_range_pqc_num_weights
from qsim.circuit import Circuit
from qsim.observables import as_observables

from hybrid.config import JSONConfig, check_choice, check_float, check_int
from hybrid.function import Execution, circuit_expval

__all__ = [
    "INITS",
    "RESIZE_MODES",
    "SCALES",
    "AmplitudeEncoder",
    "EncoderConfig",
    "QPUConfig",
    "QPUModule",
    "QuantumLayer",
    "amplitude_state",
    "resolve_resize",
]

logger = logging.getLogger(__name__)

#: Weight initialisations: ``normal`` ``N(0, init_scale²)`` (near the CNOT network, the default),
#: ``uniform`` ``U[-init_scale·π, init_scale·π)``, ``zeros``.
INITS = ("normal", "uniform", "zeros")
#: How an embedding of length d meets ``2**Q`` amplitudes: ``auto`` pads when shorter and
#: truncates when longer; ``pad`` / ``truncate`` demand that case (``d == 2**Q`` always passes).
RESIZE_MODES = ("auto", "pad", "truncate")
#: Trainable maps before amplitude encoding: ``none`` (the paper), ``coordinate`` (one weight per
#: kept embedding coordinate, see :class:`EncoderConfig`).
SCALES = ("none", "coordinate")
#: ``(γ, β)`` that :class:`QPUModule`'s standardisation starts from (see ``QPUConfig.standardize``).
STANDARDIZE_INIT = (0.25, 0.5)


def _init_weights(n: int, init: str, scale: float, dtype: torch.dtype) -> torch.Tensor:
    """Initial weights from torch's global generator (seed it for reproducible runs)."""
    if init == "zeros":
        return torch.zeros(n, dtype=dtype)
    if init == "normal":
        return torch.randn(n, dtype=torch.float64).mul_(scale).to(dtype)
    return (torch.rand(n, dtype=torch.float64) * 2 - 1).mul_(scale * math.pi).to(dtype)


# --------------------------------------------------------------------------------------------
# Generic layer


class QuantumLayer(nn.Module):
    """``forward(inputs=None, state=None) -> (B, m)`` expectation values of any qsim circuit.

    .. math::  y_{bj} = ⟨ψ0_b| U(w, x_b)^† O_j U(w, x_b) |ψ0_b⟩

    Args:
        circuit: a :class:`qsim.Circuit` (its :class:`~qsim.circuit.Weight` slots are the
            trainable ``w``, its :class:`~qsim.circuit.Input` slots read ``inputs``).
        observables: one observable or a sequence.
        execution: :class:`~hybrid.function.Execution` (gradient method, shots, noise, backend).
        init: weight initialisation (:data:`INITS`), from torch's global generator.
        init_scale: its scale (std for ``normal``; fraction of π for ``uniform``).
        dtype: ``torch.float32`` (qsim single precision) or ``torch.float64``.
        seed: seeds the shot-sampling generator (``None``: fresh entropy).

    Attributes:
        weights: ``nn.Parameter`` of shape ``(circuit.n_weights,)``.
    """

    def __init__(self, circuit: Circuit, observables, *, execution: Execution | None = None,
                 init: str = "normal", init_scale: float = 0.1, dtype: torch.dtype = torch.float32,
                 seed: int | None = None) -> None:
        super().__init__()
        if not isinstance(circuit, Circuit):
            raise TypeError(f"circuit must be a qsim.Circuit, got {type(circuit).__name__}")
        check_choice("QuantumLayer", "init", init, INITS)
        check_float("QuantumLayer", "init_scale", init_scale)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"QuantumLayer dtype must be torch.float32 or torch.float64, got {dtype}")
        self.circuit = circuit
        self.observables = as_observables(observables)
        for o in self.observables:
            for t in o.terms:
                t.masks(circuit.n_qubits)  # wire range check now, not at the first forward
        self.execution = execution if execution is not None else Execution()
        self.weights = nn.Parameter(_init_weights(circuit.n_weights, init, init_scale, dtype))
        self._rng = np.random.default_rng(seed)

    @property
    def n_qubits(self) -> int:
        return self.circuit.n_qubits

    @property
    def n_outputs(self) -> int:
        return len(self.observables)

    @property
    def n_parameters(self) -> int:
        return self.weights.numel()

    def forward(self, inputs: torch.Tensor | None = None, state: torch.Tensor | None = None) -> torch.Tensor:
        if self.circuit.n_inputs and inputs is None:
            raise ValueError(f"this circuit reads {self.circuit.n_inputs} input angles per sample; pass inputs")
        if inputs is not None:
            inputs = inputs.to(self.weights.dtype)
        return circuit_expval(self.circuit, self.observables, self.weights, inputs, state,
                              execution=self.execution, rng=self._rng)

    def extra_repr(self) -> str:
        return (f"n_qubits={self.n_qubits}, ops={len(self.circuit)}, weights={self.n_parameters}, "
                f"outputs={self.n_outputs}, gradient={self.execution.gradient!r}, shots={self.execution.shots}")


# --------------------------------------------------------------------------------------------
# Amplitude encoder


def resolve_resize(mode: str, input_dim: int, n_qubits: int) -> str:
    """What the encoder does to a length-``input_dim`` vector: ``"none"``, ``"pad"`` or ``"truncate"``.

    Raises:
        ValueError: ``mode`` forbids the case at hand (e.g. ``"pad"`` with ``d > 2**Q``).
    """
    check_choice("EncoderConfig", "resize", mode, RESIZE_MODES)
    size = 2**n_qubits
    if input_dim == size:
        return "none"
    need = "pad" if input_dim < size else "truncate"
    if mode not in ("auto", need):
        raise ValueError(
            f"EncoderConfig.resize={mode!r} but a {input_dim}-dimensional embedding on {n_qubits} qubits "
            f"({size} amplitudes) needs {need!r}; use resize='auto' or {need!r}, or change n_qubits"
        )
    return need


def amplitude_state(x: torch.Tensor, n_qubits: int, bias: float | torch.Tensor = 0.0) -> torch.Tensor:
    """``ψ0 = ẽ / ||ẽ||``, ``ẽ`` = ``x`` zero-padded or truncated to ``2**n_qubits`` entries.

    With ``bias = c ≠ 0`` the first padding entry is ``c`` instead of 0: ``ẽ = [x, c, 0, …]``.
    Without it every readout ``⟨ψ0|A|ψ0⟩`` is an even function of ``x`` (``x`` and ``-x`` give
    the same state up to sign), so no circuit can separate ``x`` from ``-x``; the constant adds
    the linear terms ``2c·A_{d,:}·x`` to the quadratic form.  ``bias`` may be a (trainable)
    0-d tensor.

    Differentiable (the normalisation is a torch op) in ``x`` and in a tensor ``bias``.

    Raises:
        ValueError: a row whose kept part is all zeros or not finite (named), or ``bias``
            without a free amplitude (``len(x) >= 2**n_qubits``).
    """
    size = 2**n_qubits
    d = x.shape[1]
    has_bias = isinstance(bias, torch.Tensor) or bias != 0
    if has_bias and d >= size:
        raise ValueError(f"bias={float(bias)} needs a free amplitude, but a {d}-dimensional embedding fills all "
                         f"{size} amplitudes of {n_qubits} qubits; add a qubit or set bias=0")
    kept = min(d, size)
    parts = [x[:, :kept]]
    if has_bias:
        parts.append(torch.as_tensor(bias, dtype=x.dtype, device=x.device).reshape(1, 1).expand(x.shape[0], 1))
    free = size - kept - int(has_bias)
    if free:
        parts.append(x.new_zeros(x.shape[0], free))
    e = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
    # ψ0 is scale invariant: divide by max|ẽ| first so that ||ẽ||² cannot overflow (1e30-scaled rows)
    peak = e.detach().abs().amax(dim=1, keepdim=True)
    bad = ~torch.isfinite(peak).flatten() | (peak == 0).flatten()
    if bool(bad.any()):
        b = int(torch.nonzero(bad)[0])
        what = "zero" if float(peak[b]) == 0 else "not finite"
        raise ValueError(f"embedding row {b} is {what} in its first {kept} entries; it cannot be amplitude-encoded")
    e = e / peak
    return e / e.norm(dim=1, keepdim=True)


@dataclass
class EncoderConfig(JSONConfig):
    """One amplitude encoder (paper.md sections 3.2-3.3): ``Q`` qubits, ``M`` layers, connectivity ``C``.

    Attributes:
        n_qubits: Q (``2**Q`` amplitudes; 10 fits a 768-d embedding, 9 a 384-d one).
        layers: M long-range layers, each ``C·Q`` CNOT+RY blocks.
        connectivity: C, offsets ``1..C`` (``1 <= C <= Q-1``).
        ry_column_after: add a column of ``Q`` trainable RY after this layer (0-based; Fig. 3
            has one after the first layer), or ``None``.
        resize: :data:`RESIZE_MODES`; what was applied is recorded by :meth:`resolved_resize`.
        bias: constant written into the first padding amplitude before normalisation
            (:func:`amplitude_state`); 0 is the paper's plain amplitude encoding.
        learn_bias: make ``bias`` a trainable scalar (initialised to ``bias``; one parameter).
        scale: ``"none"`` (the paper) or ``"coordinate"``: a trainable weight per kept
            coordinate, ``ẽ_i = s_i·x_i`` (initialised to 1; ``min(d, 2**Q)`` parameters).  With a
            bias amplitude the linear part of every readout is ``2c·Σ_i A_{d,i} s_i x_i``, so any
            direction in embedding space is reachable whatever the circuit's ``A = U^T Z U``
            (not an addition of the paper; :data:`SCALES`).
        init, init_scale: weight initialisation (:data:`INITS`).
    """

    n_qubits: int = 9
    layers: int = 2
    connectivity: int = 2
    ry_column_after: int | None = None
    resize: str = "auto"
    bias: float = 0.0
    learn_bias: bool = False
    scale: str = "none"
    init: str = "normal"
    init_scale: float = 0.1

    def __post_init__(self) -> None:
        o = "EncoderConfig"
        self.n_qubits = check_int(o, "n_qubits", self.n_qubits, 2, 24)
        self.layers = check_int(o, "layers", self.layers, 1)
        self.connectivity = check_int(o, "connectivity", self.connectivity, 1, self.n_qubits - 1)
        if self.ry_column_after is not None:
            self.ry_column_after = check_int(o, "ry_column_after", self.ry_column_after, 0, self.layers - 1)
        check_choice(o, "resize", self.resize, RESIZE_MODES)
        self.bias = check_float(o, "bias", self.bias)
        if not isinstance(self.learn_bias, bool):
            raise ValueError(f"EncoderConfig.learn_bias must be true or false, got {self.learn_bias!r}")
        if self.learn_bias and self.bias == 0:
            raise ValueError("EncoderConfig.learn_bias needs a non-zero initial bias (a zero bias amplitude has "
                             "zero gradient at the start); set bias, e.g. 1.0")
        check_choice(o, "scale", self.scale, SCALES)
        check_choice(o, "init", self.init, INITS)
        self.init_scale = check_float(o, "init_scale", self.init_scale)

    @property
    def n_weights(self) -> int:
        """Circuit angles: ``M·C·Q`` (+ ``Q`` with the RY column)."""
        return long_range_pqc_num_weights(self.n_qubits, self.layers, self.connectivity, self.ry_column_after)

    def n_parameters(self, input_dim: int) -> int:
        """Trainable parameters of one encoder on ``input_dim`` coordinates: the circuit angles,
        plus ``min(d, 2**Q)`` coordinate scales (``scale="coordinate"``), plus 1 (``learn_bias``)."""
        kept = min(input_dim, 2**self.n_qubits) if self.scale == "coordinate" else 0
        return self.n_weights + kept + int(self.learn_bias)

    def resolved_resize(self, input_dim: int) -> str:
        """``"none"``, ``"pad"`` or ``"truncate"`` for embeddings of length ``input_dim``.

        Raises:
            ValueError: the resize mode forbids this case, or ``bias`` has no free amplitude.
        """
        if self.bias and input_dim >= 2**self.n_qubits:
            raise ValueError(f"EncoderConfig.bias={self.bias} needs a free amplitude, but {input_dim} >= "
                             f"2**{self.n_qubits}; add a qubit or set bias=0")
        return resolve_resize(self.resize, input_dim, self.n_qubits)

    def circuit(self) -> Circuit:
        return Circuit(self.n_qubits, tuple(long_range_pqc(
            self.n_qubits, self.layers, self.connectivity, ry_column_after=self.ry_column_after)))


class AmplitudeEncoder(nn.Module):
    """Embedding ``(B, d)`` → ``(⟨Z_0⟩, …, ⟨Z_{Q-1}⟩)`` ``(B, Q)`` through an amplitude-encoded PQC.

    Args:
        input_dim: d.
        config: :class:`EncoderConfig`.
        dtype: ``torch.float32`` or ``torch.float64``.

    Attributes:
        resize: ``"none"``, ``"pad"`` or ``"truncate"`` (what this encoder does to length d).
        layer: the :class:`QuantumLayer` (exact, adjoint: the paper's first module is simulated).
    """

    def __init__(self, input_dim: int, config: EncoderConfig | None = None, *,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.config = config if config is not None else EncoderConfig()
        self.input_dim = check_int("AmplitudeEncoder", "input_dim", input_dim, 1)
        self.resize = self.config.resolved_resize(self.input_dim)
        c = self.config
        self.layer = QuantumLayer(c.circuit(), qsim.z_each(c.n_qubits), init=c.init, init_scale=c.init_scale,
                                  dtype=dtype)
        kept = min(self.input_dim, 2**c.n_qubits)
        self.scale = nn.Parameter(torch.ones(kept, dtype=dtype)) if c.scale == "coordinate" else None
        self.bias = nn.Parameter(torch.tensor(c.bias, dtype=dtype)) if c.learn_bias else None

    @property
    def n_outputs(self) -> int:
        return self.config.n_qubits

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"AmplitudeEncoder expects (B, {self.input_dim}) embeddings, got {tuple(x.shape)}")
        x = x.to(self.layer.weights.dtype)
        if self.scale is not None:
            x = x[:, : self.scale.numel()] * self.scale
        bias = self.bias if self.bias is not None else self.config.bias
        return self.layer(state=amplitude_state(x, self.config.n_qubits, bias))

    def extra_repr(self) -> str:
        c = self.config
        return f"d={self.input_dim} -> 2**{c.n_qubits} ({self.resize}), M={c.layers}, C={c.connectivity}"


# --------------------------------------------------------------------------------------------
# QPU module


@dataclass
class QPUConfig(JSONConfig):
    """The second module (paper.md section 3.1): re-uploading blocks, PQC2, Z on ``Q_m`` qubits.

    The circuit on ``Q`` qubits (``Q`` = the encoders' merged output size ``Q_c``)::

        repeat N times:  ⊗_q RY(input_scale · x_q)  →  PQC1 (block_layers long-range layers, C)
        PQC2 (layers long-range layers, C, optional RY column)  →  ⟨Z_q⟩ for q < measured

    Attributes:
        reuploads: N >= 1.
        block_layers: long-range layers in each PQC1 block.
        connectivity: C of PQC1 and PQC2 (clipped to ``Q-1`` is *not* done: it must fit).
        layers: R >= 0, the layers of PQC2.
        ry_column_after: RY column after this PQC2 layer, or ``None``.
        shared: one set of PQC1 weights for all N blocks (Fig. 1 drawn literally) instead of one
            per block (MerLin's choice).
        input_scale: s in ``RY(s·x)`` (π maps ⟨Z⟩ ∈ [-1, 1] to [-π, π]).
        measured: Q_m, the number of qubits read out (the paper: 1).
        standardize: standardise each input feature before the angle encoding,
            ``x̂_q = γ_q (x_q - μ_q)/σ_q + β_q`` with batch statistics in training and running
            ones in evaluation (``nn.BatchNorm1d``; ``2·Q`` trainable parameters), initialised at
            ``γ = 1/4, β = 1/2`` (:data:`STANDARDIZE_INIT`): with ``s = π`` the angles start at
            ``π/2 ± π/4``, where ``⟨Z⟩ = cos θ`` of ``RY(θ)|0⟩`` is odd and nearly linear in the
            feature.  Encoder outputs vary by a few hundredths across sentences; without it
            ``RY(s·x_q)`` barely moves, and centred at 0 the readout would be even in the
            feature.  Not in the paper.
        gradient, shots, noise: :class:`~hybrid.function.Execution` options of this module only
            (the encoders are always exact).
        seed: seeds shot sampling (``None``: fresh entropy).
        init, init_scale: weight initialisation.
    """

    reuploads: int = 2
    block_layers: int = 1
    connectivity: int = 2
    layers: int = 1
    ry_column_after: int | None = None
    shared: bool = False
    input_scale: float = math.pi
    measured: int = 1
    standardize: bool = False
    gradient: str = "adjoint"
    shots: int | None = None
    noise: Any = None
    seed: int | None = None
    init: str = "normal"
    init_scale: float = 0.1

    def __post_init__(self) -> None:
        o = "QPUConfig"
        self.reuploads = check_int(o, "reuploads", self.reuploads, 1)
        self.block_layers = check_int(o, "block_layers", self.block_layers, 0)
        self.connectivity = check_int(o, "connectivity", self.connectivity, 1)
        self.layers = check_int(o, "layers", self.layers, 0)
        if self.ry_column_after is not None:
            if self.layers == 0:
                raise ValueError("QPUConfig.ry_column_after needs layers >= 1 (the column follows a PQC2 layer)")
            self.ry_column_after = check_int(o, "ry_column_after", self.ry_column_after, 0, self.layers - 1)
        for name in ("shared", "standardize"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"QPUConfig.{name} must be true or false, got {getattr(self, name)!r}")
        self.input_scale = check_float(o, "input_scale", self.input_scale)
        self.measured = check_int(o, "measured", self.measured, 1)
        if self.seed is not None:
            self.seed = check_int(o, "seed", self.seed, 0)
        check_choice(o, "init", self.init, INITS)
        self.init_scale = check_float(o, "init_scale", self.init_scale)
        self.execution()  # validates gradient / shots / noise

    def execution(self) -> Execution:
        return Execution(gradient=self.gradient, shots=self.shots, noise=self.noise)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["noise"] = self.execution().to_dict()["noise"]  # raises for a non-JSON model object
        return out

    def check_qubits(self, n_qubits: int) -> None:
        """Raise :class:`ValueError` when this config does not fit ``n_qubits``."""
        if n_qubits < 2:
            raise ValueError(f"the QPU module needs at least 2 qubits, got {n_qubits}")
        if self.connectivity > n_qubits - 1:
            raise ValueError(f"QPUConfig.connectivity={self.connectivity} must be <= n_qubits - 1 = {n_qubits - 1}")
        if self.measured > n_qubits:
            raise ValueError(f"QPUConfig.measured={self.measured} exceeds the {n_qubits} QPU qubits")

    def n_weights(self, n_qubits: int) -> int:
        """``(1 if shared else N)·block_layers·C·Q + R·C·Q`` (+ ``Q`` with the RY column)."""
        self.check_qubits(n_qubits)
        block = self.block_layers * self.connectivity * n_qubits
        return (1 if self.shared else self.reuploads) * block + long_range_pqc_num_weights(
            n_qubits, self.layers, self.connectivity, self.ry_column_after)

    def n_parameters(self, n_qubits: int) -> int:
        """Trainable parameters: :meth:`n_weights` plus ``2·Q`` with ``standardize``."""
        return self.n_weights(n_qubits) + (2 * n_qubits if self.standardize else 0)

    def circuit(self, n_qubits: int) -> Circuit:
        """The QPU circuit on ``n_qubits`` (inputs ``x_0..x_{Q-1}``, weights as in :meth:`n_weights`)."""
        self.check_qubits(n_qubits)
        block = self.block_layers * self.connectivity * n_qubits
        ops: list = []
        for k in range(self.reuploads):
            ops += angle_encoding(n_qubits, scale=self.input_scale)
            first = 0 if self.shared else k * block
            ops += long_range_pqc(n_qubits, self.block_layers, self.connectivity, first_weight=first)
        first = block * (1 if self.shared else self.reuploads)
        ops += long_range_pqc(n_qubits, self.layers, self.connectivity, first_weight=first,
                              ry_column_after=self.ry_column_after)
        return Circuit(n_qubits, tuple(ops), n_weights=self.n_weights(n_qubits), n_inputs=n_qubits)


class QPUModule(nn.Module):
    """``(B, Q)`` features in [-1, 1] → ``(⟨Z_0⟩, …, ⟨Z_{Q_m-1}⟩)`` ``(B, Q_m)`` (see :class:`QPUConfig`).

    Args:
        n_qubits: Q (= the merged encoder output size Q_c).
        config: :class:`QPUConfig`.
        dtype: ``torch.float32`` or ``torch.float64``.
    """

    def __init__(self, n_qubits: int, config: QPUConfig | None = None, *, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.config = config if config is not None else QPUConfig()
        self.layer = QuantumLayer(
            self.config.circuit(n_qubits), qsim.z_each(self.config.measured), execution=self.config.execution(),
            init=self.config.init, init_scale=self.config.init_scale, dtype=dtype, seed=self.config.seed)
        self.norm = None
        if self.config.standardize:
            self.norm = nn.BatchNorm1d(n_qubits, dtype=dtype)
            gamma, beta = STANDARDIZE_INIT
            with torch.no_grad():
                self.norm.weight.fill_(gamma)
                self.norm.bias.fill_(beta)

    @property
    def n_qubits(self) -> int:
        return self.layer.n_qubits

    @property
    def n_outputs(self) -> int:
        return self.config.measured

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.n_qubits:
            raise ValueError(f"QPUModule expects (B, {self.n_qubits}) features, got {tuple(x.shape)}")
        if self.norm is not None:
            x = x.to(self.layer.weights.dtype)
            if self.training and x.shape[0] == 1:  # one row has no batch statistics: use the running ones
                n = self.norm
                x = nn.functional.batch_norm(x, n.running_mean, n.running_var, n.weight, n.bias, False, 0.0, n.eps)
            else:
                x = self.norm(x)
        return self.layer(inputs=x)

    def extra_repr(self) -> str:
        c = self.config
        return (f"Q={self.n_qubits}, N={c.reuploads}, R={c.layers}, C={c.connectivity}, shared={c.shared}, "
                f"Q_m={c.measured}")

