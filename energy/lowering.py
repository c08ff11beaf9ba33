r"""The work of one statevector simulation, counted the way qsim runs it: passes and remaps.

**Passes.**  A best-practice simulator does not sweep the state once per gate: it fuses gates.
The pass count here is qsim's own (:func:`qsim.program.lower`, the same numbers the benchmark
records as ``n_passes``): the circuit is built as a :class:`qsim.circuit.Circuit` (1-wire gates
as ``RY``, 2-wire as ``CNOT``, 3-wire as ``Toffoli``, controls first) and lowered at the
profile's ``fusion_level`` (qsim: 1 on CPUs, :data:`qsim.program.DEFAULT_FUSION`; 2 on GPUs,
:data:`qsim.program.GPU_FUSION`).  Two numbers come back:

* ``passes`` ``P``: kernel launches (each pays ``t_launch``);
* ``sweeps`` ``W = sum_p 2^{-c_p}``: passes weighted by the fraction of the state they touch (a
  pass under ``c`` controls reads and writes ``2^{-c}`` of the amplitudes,
  :attr:`qsim.program.Program.state_sweeps`), so a CNOT costs half a sweep.

One extra read-out sweep (:data:`MEASUREMENT_PASSES`) is added.  qsim circuits stop at
:data:`qsim.circuit.MAX_QUBITS` qubits; the circuit families here have gate counts linear in
``n``, so beyond it ``P`` and ``W`` are extrapolated linearly from the last two lowerable sizes.
A circuit without a gate list (a duck-typed factory) falls back to ``P = W = ceil(G / f)``.

**Remaps.**  On ``N = 2^k`` devices the ``k`` most significant qubits are *global* (they index the
device).  A gate acting diagonally on a wire (the control of a CNOT, an ``RZ``) needs no data
movement even when the wire is global; a gate acting non-diagonally on a global wire does.  As
in distributed simulators with qubit remapping (qsim's and cuStateVec's index-bit swaps, anchors
§1.3), the simulator then swaps global and local qubits in one all-to-all and runs on.  The
count of all-to-alls :func:`remap_count` is a greedy plan over the circuit: at a gate needing a
global wire, bring in that wire and the global wires needed soonest (``k`` in all), evicting the
local wires whose next non-diagonal use is furthest away (Belady's rule).  One all-to-all sends
every device's slice to all ``N`` devices in equal parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

from energy.circuits import CircuitFamily, CircuitSpec
from qsim.circuit import MAX_QUBITS, Circuit, Weight, op
from qsim.gates import CNOT, RY, Toffoli
from qsim.program import lower

__all__ = ["MEASUREMENT_PASSES", "Work", "circuit_work", "remap_count"]

#: Extra state passes to read out ``<Z>`` (one sweep over the probabilities).
MEASUREMENT_PASSES = 1

#: Gate standing for a ``k``-wire gate of a wire-list circuit when it is lowered (controls first).
_GATE_BY_ARITY = {1: RY, 2: CNOT, 3: Toffoli}


@dataclass(frozen=True)
class Work:
    """Passes over the state of one simulation.

    Attributes:
        passes: kernel passes ``P`` including the read-out.
        sweeps: state-equivalent sweeps ``W`` including the read-out.
        method: how they were counted.
    """

    passes: float
    sweeps: float
    method: str


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


def _lowered(spec: CircuitSpec, level: int) -> tuple[int, float] | None:
    if spec.n_qubits > MAX_QUBITS:
        return None
    circuit = _qsim_circuit(spec)
    if circuit is None:
        return None
    program = lower(circuit, level)
    return program.n_passes, program.state_sweeps


def circuit_work(family: CircuitFamily | None, spec: CircuitSpec, level: int,
                 fusion_factor: float = 1.0) -> Work:
    """Passes and sweeps of ``spec`` (``family(n)``) at qsim fusion ``level`` (module docstring)."""
    n = spec.n_qubits
    counted = _lowered(spec, level)
    if counted is not None:
        passes, sweeps = counted
        method = f"qsim lowering, fusion level {level}"
    elif family is not None and n > MAX_QUBITS:
        last = _lowered(family(MAX_QUBITS), level)
        before = _lowered(family(MAX_QUBITS - 1), level)
        if last is None or before is None:
            return _fallback(spec, fusion_factor)
        steps = n - MAX_QUBITS
        passes = last[0] + steps * (last[0] - before[0])
        sweeps = last[1] + steps * (last[1] - before[1])
        method = f"qsim lowering, fusion level {level}, linear from n = {MAX_QUBITS - 1}, {MAX_QUBITS}"
    else:
        return _fallback(spec, fusion_factor)
    return Work(passes + MEASUREMENT_PASSES, sweeps + MEASUREMENT_PASSES, method)


def _fallback(spec: CircuitSpec, fusion_factor: float) -> Work:
    passes = math.ceil(spec.n_gates / fusion_factor) + MEASUREMENT_PASSES
    return Work(passes, passes, f"no gate list: ceil(G / {fusion_factor:g}) passes")


def remap_count(spec: CircuitSpec, k: int) -> float:
    """All-to-alls of a greedy remapping plan with ``k`` global qubits (module docstring).

    Without a gate list every non-diagonal gate is assumed to touch a global wire with
    probability ``k / n`` and to need its own exchange (the upper bound of a simulator that does
    not remap).
    """
    n = spec.n_qubits
    if k <= 0:
        return 0.0
    if spec.active is None:
        return sum(g * min(1.0, a * k / n) for a, g in spec.counts.items())
    return float(_plan(n, spec.active, min(k, n - 1)))


@lru_cache(maxsize=4096)
def _plan(n: int, active: Sequence[tuple[int, ...]], k: int) -> int:
    uses: dict[int, list[int]] = {w: [] for w in range(n)}
    for pos, wires in enumerate(active):
        for w in wires:
            uses[w].append(pos)
    cursor = dict.fromkeys(range(n), 0)

    def next_use(w: int) -> float:
        i = cursor[w]
        return uses[w][i] if i < len(uses[w]) else math.inf

    local = set(range(k, n))
    count = 0
    for wires in active:
        need = [w for w in wires if w not in local]
        if need:
            count += 1
            waiting = sorted((w for w in range(n) if w not in local and w not in need
                              and next_use(w) < math.inf), key=next_use)
            bring = need + waiting[: k - len(need)]
            keep = set(wires)
            evict = sorted((w for w in local if w not in keep), key=next_use, reverse=True)[:len(bring)]
            local = (local - set(evict)) | set(bring[: len(evict)])
        for w in wires:
            cursor[w] += 1
    return count


def describe(work: Work) -> dict[str, Any]:
    """JSON-ready form."""
    return {"passes": work.passes, "sweeps": work.sweeps, "method": work.method}
