r"""The work of one statevector simulation, counted the way qsim runs it: memory sweeps and exchanges.

**Lowering.**  The circuit is built as a :class:`qsim.circuit.Circuit` (1-wire gates as ``RY``,
2-wire as ``CNOT``, 3-wire as ``Toffoli``, controls first; a spec read from a qsim circuit is
lowered as is) and lowered by :func:`qsim.program.lower` at the profile's ``fusion_level`` (qsim:
1 on CPUs, :data:`qsim.program.DEFAULT_FUSION`; 2 on GPUs, :data:`qsim.program.GPU_FUSION`).

**Memory sweeps on one device.**  ``W`` is what the engine's own ``memory_sweeps`` reports to the
benchmark, so an efficiency ``eta`` calibrated from bench rows (:mod:`energy.calibrate`) and the
``W`` it multiplies count the same sweeps:

* *cache-blocked* (qsim's Numba CPU backend; a profile with ``block_cache = C > 0``): the plan of
  :func:`qsim.program.plan.plan` with blocks of ``2^k`` amplitudes,

  .. math::

      k = \max\bigl(1, \min(\lfloor \log_2 (f\,C / b) \rfloor,\ n - s)\bigr), \qquad
      s = \max\bigl(0, \lceil \log_2 (m\,T / B) \rceil\bigr),

  the rule of :func:`qsim.backends.numba_backend.local_qubits` with the profile's cache ``C`` and
  cores ``T`` in place of the host's (``f`` = :data:`~qsim.backends.numba_backend.BLOCK_CACHE_FRACTION`,
  ``m`` = :data:`~qsim.backends.numba_backend.MIN_BLOCKS_PER_THREAD`, ``b`` bytes per amplitude,
  ``B`` the batch).  ``W`` = the plan's steps (block runs, swaps, lone passes: one sweep each) and
  ``P = W`` (one parallel region each).  Registers of at most
  :data:`~qsim.backends.numba_backend.SAMPLE_MAJOR_MAX_QUBITS` qubits run sample-major: the whole
  program in one call with the state in cache, i.e. the plan at ``k = n``, one block run,
  ``P = W = 1`` (the engine's ``memory_sweeps`` reports the passes there, sweeps of a
  cache-resident state; calibration leaves such states out,
  :data:`energy.calibrate.MIN_MEMORY_BOUND_STATE_BYTES`);
* *one sweep per pass* (qsim's CuPy / NumPy engine; ``block_cache = 0``): ``P`` passes (kernel
  launches) and ``W = sum_p 2^{-c_p}``, each pass weighted by the fraction of the state its
  ``c_p`` controls let it touch (:attr:`qsim.program.Program.state_sweeps`).

One read-out sweep (:data:`MEASUREMENT_PASSES`) is added.  On ``N`` devices each device runs the
same count over its slice (for the blocked count: the whole program's plan, every swap of it a
sweep of the slice).  qsim circuits stop at :data:`qsim.circuit.MAX_QUBITS` qubits; beyond it ``P``
and ``W`` are extrapolated linearly from the last two lowerable sizes (exact for the pass counts of
the families here, whose gate counts are linear in ``n``; the blocked steps grow faster near
``n - k ~ 24``, so there it is an under-estimate).  A circuit without a gate list (a duck-typed
factory) falls back to ``P = W = ceil(G / f)``.

**Exchanges on N = 2^g devices.**  The ``g`` most significant qubits are global: their bits number
the device (rank).  A distributed run is the plan the MPI backend runs,
:func:`qsim.program.plan.distributed_plan` at ``k = n - g`` local bits (the qHiPSTER / mpiQulacs
scheme: any layout, never undone; diagonal passes on global qubits are rank-dependent phases;
controls on rank bits are checks on the rank number).  Each ``STEP_SWAP`` of ``m`` bit pairs is one
exchange step, in which every rank keeps ``2^{-m}`` of its slice and sends ``2^{-m}`` of it to each
of the ``2^m - 1`` ranks that differ from it in the ``m`` swapped rank bits; a lone ``STEP_SWEEP``
with ``t`` targets on rank bits counts as two steps of those ``t`` bits (bring them in, send them
back), as :func:`qsim.program.plan.exchange_count` counts it.  With ranks numbered node by node,
the lowest ``nu = floor(log2 N_node)`` rank bits stay inside a node.  A step swapping ``m`` rank
bits, ``a`` of them node-internal, of a slice of ``S/N`` bytes takes

.. math::

    t_s = \frac{S}{N}\, 2^{-m} \left( \frac{2^a - 1}{BW_{intra}} + \frac{2^m - 2^a}{BW_{inter}} \right)

and moves ``(1 - 2^{-m}) S/N`` bytes per rank (``m = g, a = nu`` is one all-to-all; the sum over
steps is :func:`qsim.program.plan.exchange_slices`).  Beyond
:data:`~qsim.circuit.MAX_QUBITS` qubits the plan of the largest lowerable circuit with the same ``g``
is used: for the default paper head and the hardware-efficient ansatz the exchange steps depend on
``g``, not on ``n``, from ``n = 34`` up for ``g <= 16`` (``tests/energy/test_energy_lowering.py``);
for deeper heads with connectivity 2 they vary with ``n`` by up to about a third.  Without a
gate list every gate acts on a global wire with probability ``min(1, a g / n)`` (arity ``a``) and
is exchanged alone: two one-pair steps on the top rank bit (the bound of a simulator that does not
remap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from energy.circuits import CircuitFamily, CircuitSpec
from qsim.backends.numba_backend import BLOCK_CACHE_FRACTION, MIN_BLOCKS_PER_THREAD, SAMPLE_MAJOR_MAX_QUBITS
from qsim.circuit import MAX_QUBITS, Circuit, Weight, op
from qsim.gates import CNOT, RY, Toffoli
from qsim.program import lower
from qsim.program.lower import Program
from qsim.program.plan import STEP_SWAP, STEP_SWEEP, distributed_plan, plan

__all__ = ["MEASUREMENT_PASSES", "Blocking", "Exchanges", "Work", "circuit_work", "exchanges"]

#: Extra state passes to read out ``<Z>`` (one sweep over the probabilities).
MEASUREMENT_PASSES = 1

#: Gate standing for a ``k``-wire gate of a wire-list circuit when it is lowered (controls first).
_GATE_BY_ARITY = {1: RY, 2: CNOT, 3: Toffoli}


@dataclass(frozen=True)
class Work:
    """Passes over the state of one simulation.

    Attributes:
        passes: kernel passes ``P`` (parallel regions of a blocked plan) including the read-out.
        sweeps: sweeps over the state memory ``W`` including the read-out.
        method: how they were counted.
    """

    passes: float
    sweeps: float
    method: str


@dataclass(frozen=True)
class Blocking:
    """A cache-blocked CPU engine's block size rule with a profile's numbers (module docstring).

    Attributes:
        cache_bytes: ``C``, the per-core cache a block is sized to (the L2 share).
        bytes_per_amplitude: ``b``.
        threads: ``T``, threads sharing the blocks.
        batch: ``B``, states run together.
    """

    cache_bytes: float
    bytes_per_amplitude: int
    threads: int
    batch: int = 1

    def local_qubits(self, n_qubits: int) -> int:
        """``k``: blocks of ``2^k`` amplitudes for an ``n_qubits`` register."""
        k = int(math.log2(BLOCK_CACHE_FRACTION * self.cache_bytes / self.bytes_per_amplitude))
        spare = max(0, math.ceil(math.log2(MIN_BLOCKS_PER_THREAD * self.threads / self.batch)))
        return max(1, min(k, n_qubits - spare))


@dataclass(frozen=True)
class Exchanges:
    """Exchange steps of a run on ``2^g`` devices (module docstring).

    Attributes:
        steps: ``(count, rank_bits)`` groups: ``count`` steps that each swap the rank bits
            ``rank_bits`` (0 = the lowest rank bit).
        method: how they were counted.
    """

    steps: tuple[tuple[float, tuple[int, ...]], ...]
    method: str

    @property
    def count(self) -> float:
        """Exchange steps ``R``."""
        return float(sum(c for c, _ in self.steps))

    @property
    def slices(self) -> float:
        """Slices each rank sends over all steps, ``sum_s (1 - 2^{-m_s})``."""
        return float(sum(c * (1.0 - 2.0 ** -len(bits)) for c, bits in self.steps))

    def time(self, slice_bytes: Any, node_bits: Any, intra_bandwidth: Any, inter_bandwidth: Any) -> np.ndarray:
        """``sum_s t_s`` (module docstring) for arrays (or scalars) of ``S/N``, ``nu`` and the bandwidths."""
        slice_bytes, node_bits = np.asarray(slice_bytes, float), np.asarray(node_bits, float)
        intra, inter = np.asarray(intra_bandwidth, float), np.asarray(inter_bandwidth, float)
        total = np.zeros(np.broadcast(slice_bytes, node_bits, intra, inter).shape)
        for count, bits in self.steps:
            m = len(bits)
            inside = np.exp2(sum((b < node_bits).astype(float) for b in bits)) if bits else 1.0
            total = total + count * slice_bytes * 2.0**-m * ((inside - 1.0) / intra + (2.0**m - inside) / inter)
        return total


def _qsim_circuit(spec: CircuitSpec) -> Circuit | None:
    if spec.source is not None:
        return spec.source
    if spec.gates is None or any(len(w) not in _GATE_BY_ARITY for w in spec.gates):
        return None
    return _circuit_from_wires(spec.n_qubits, spec.gates)


@lru_cache(maxsize=1024)
def _circuit_from_wires(n: int, gates: tuple[tuple[int, ...], ...]) -> Circuit:
    ops, weight = [], 0
    for wires in gates:
        gate = _GATE_BY_ARITY[len(wires)]
        if gate.num_params:
            ops.append(op(gate, wires, Weight(weight)))
            weight += 1
        else:
            ops.append(op(gate, wires))
    return Circuit(n, tuple(ops))


def _program(spec: CircuitSpec, level: int) -> Program | None:
    if spec.n_qubits > MAX_QUBITS:
        return None
    circuit = _qsim_circuit(spec)
    return None if circuit is None else lower(circuit, level)


def _counted(spec: CircuitSpec, level: int, blocking: Blocking | None) -> tuple[float, float] | None:
    """``(P, W)`` of ``spec`` without the read-out, or ``None`` when it cannot be lowered."""
    program = _program(spec, level)
    if program is None:
        return None
    if blocking is None or not program.n_passes:
        return float(program.n_passes), float(program.state_sweeps)
    n = program.n_qubits
    steps = float(plan(program, n if n <= SAMPLE_MAJOR_MAX_QUBITS else blocking.local_qubits(n)).n_steps)
    return steps, steps


def _method(level: int, blocking: Blocking | None, n: int) -> str:
    if blocking is None:
        return f"qsim lowering, fusion level {level}, one sweep per pass, no cache blocking"
    if n <= SAMPLE_MAJOR_MAX_QUBITS:
        return (f"qsim plan, fusion level {level}, sample-major at n <= {SAMPLE_MAJOR_MAX_QUBITS}: "
                "one block run in cache")
    k = blocking.local_qubits(min(n, MAX_QUBITS))
    return (f"qsim plan steps, fusion level {level}, blocks of 2^{k} amplitudes "
            f"for a {blocking.cache_bytes / 2**20:g} MiB cache")


def circuit_work(family: CircuitFamily | None, spec: CircuitSpec, level: int, fusion_factor: float = 1.0,
                 blocking: Blocking | None = None) -> Work:
    """Passes and sweeps of ``spec`` (``family(n)``) at qsim fusion ``level`` (module docstring).

    Args:
        family: the circuit's family, to extrapolate past qsim's qubit limit (``None``: no family).
        spec: the circuit.
        level: qsim fusion level.
        fusion_factor: gates per pass for a circuit without a gate list.
        blocking: the cache-blocked engine's block rule; ``None`` for one sweep per pass.
    """
    n = spec.n_qubits
    method = _method(level, blocking, n)
    counted = _counted(spec, level, blocking)
    if counted is not None:
        passes, sweeps = counted
    elif family is not None and n > MAX_QUBITS:
        last = _counted(family(MAX_QUBITS), level, blocking)
        before = _counted(family(MAX_QUBITS - 1), level, blocking)
        if last is None or before is None:
            return _fallback(spec, fusion_factor)
        steps = n - MAX_QUBITS
        passes = last[0] + steps * (last[0] - before[0])
        sweeps = last[1] + steps * (last[1] - before[1])
        method += f", linear from n = {MAX_QUBITS - 1}, {MAX_QUBITS}"
    else:
        return _fallback(spec, fusion_factor)
    return Work(passes + MEASUREMENT_PASSES, sweeps + MEASUREMENT_PASSES, method)


def _fallback(spec: CircuitSpec, fusion_factor: float) -> Work:
    passes = math.ceil(spec.n_gates / fusion_factor) + MEASUREMENT_PASSES
    return Work(passes, passes, f"no gate list: ceil(G / {fusion_factor:g}) passes")


def exchanges(family: CircuitFamily | None, spec: CircuitSpec, level: int, global_qubits: int) -> Exchanges:
    """Exchange steps of ``spec`` on ``2^global_qubits`` devices at qsim fusion ``level`` (module docstring)."""
    g, n = int(global_qubits), spec.n_qubits
    if g <= 0:
        return Exchanges((), "one device: no exchange")
    program = _program(spec, level)
    if program is not None:
        g = min(g, n - 1)
        return Exchanges(_plan_exchanges(program, g), f"qsim distributed plan, {_global(g)}, fusion level {level}")
    if family is not None and n > MAX_QUBITS:
        program = _program(family(MAX_QUBITS), level)
        if program is not None:
            g = min(g, MAX_QUBITS - 1)
            return Exchanges(_plan_exchanges(program, g), f"qsim distributed plan of n = {MAX_QUBITS}, same "
                                                          f"{_global(g)}, fusion level {level}")
    expected = sum(count * min(1.0, arity * g / n) for arity, count in spec.counts.items())
    return Exchanges(((2.0 * expected, (g - 1,)),) if expected else (),
                     "no gate list: two one-pair steps per gate on a global wire")


def _global(g: int) -> str:
    return f"{g} global qubit{'' if g == 1 else 's'}"


def _plan_exchanges(program: Program, g: int) -> tuple[tuple[float, tuple[int, ...]], ...]:
    """``(count, rank bits)`` groups of the distributed plan on ``2^g`` ranks: its swaps, its lone
    passes on rank bits twice.  The totals are :func:`qsim.program.plan.exchange_count` and
    :func:`~qsim.program.plan.exchange_slices`; the rank bits of each step (which links it uses)
    are read here, until qsim reports them."""
    pl = distributed_plan(program, g)
    k = pl.local_qubits
    groups: dict[tuple[int, ...], float] = {}
    for kind, lo, hi in zip(pl.step_kind, pl.step_lo, pl.step_hi):
        if kind == STEP_SWAP:
            bits, count = tuple(sorted(int(b) - k for b in pl.swap_global[lo:hi])), 1.0
        elif kind == STEP_SWEEP:
            width = int(program.width[int(pl.slot_pass[lo])])
            bits, count = tuple(sorted(int(b) - k for b in pl.bits[lo, :width] if b >= k)), 2.0
        else:
            continue
        if bits:
            groups[bits] = groups.get(bits, 0.0) + count
    return tuple(sorted((c, b) for b, c in groups.items()))


def describe(work: Work) -> dict[str, Any]:
    """JSON-ready form."""
    return {"passes": work.passes, "sweeps": work.sweeps, "method": work.method}
