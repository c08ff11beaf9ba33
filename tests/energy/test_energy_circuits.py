"""Circuit descriptions: the paper head's counts, ASAP depth, and the qsim duck type."""

import sys
import types

import pytest

from energy.circuits import (EnergyCircuitError, CircuitSpec, HardwareEfficient, PaperHead,
                             family_from_factory, spec_from_circuit, spec_from_wires,
                             two_qubit_equivalent)


class FakeQsimCircuit:
    """Shaped like a qsim circuit: n_qubits, count_by_arity(), depth()."""

    def __init__(self, n_qubits, counts, depth):
        self.n_qubits = n_qubits
        self._counts = counts
        self._depth = depth

    def count_by_arity(self):
        return dict(self._counts)

    def depth(self):
        return self._depth


@pytest.mark.parametrize("n, layers, c, reuploads, final",
                         [(4, 3, 2, 1, 0), (7, 2, 3, 2, 1), (14, 1, 1, 1, 1)])
def test_paper_head_counts(n, layers, c, reuploads, final):
    spec = PaperHead(layers, c, reuploads, final)(n)
    blocks = c * n * (reuploads * layers + final)  # C*Q CNOT + C*Q RY per layer
    assert spec.counts[2] == blocks
    # plus an angle-encoding RY per qubit per re-upload
    assert spec.counts[1] == blocks + reuploads * n


def test_paper_fig3_parameter_count():
    # Fig. 3: Q = 4, 3 layers, C = 2, plus one column of RYs: 3 * 8 + 4 = 28 trainable angles.
    spec = PaperHead(layers=3, connectivity=2, reuploads=1, final_layers=0, ry_column=True)(4)
    encoding = 4
    assert spec.counts[1] - encoding == 28
    assert spec.counts[2] == 24


def test_asap_depth_of_small_circuits():
    serial = spec_from_wires(3, [(0, 1), (1,), (1, 2), (2,)])
    assert (serial.depth, serial.depth_multi) == (4, 2)
    parallel = spec_from_wires(4, [(0,), (1,), (2,), (3,), (0, 1), (2, 3)])
    assert (parallel.depth, parallel.depth_multi, parallel.depth_single) == (2, 1, 1)
    # Offset-2 ring on 4 qubits groups as in Fig. 3: CNOT 0->2 and 1->3 share a layer.
    ring = spec_from_wires(4, [(0, 2), (2,), (1, 3), (3,), (2, 0), (0,), (3, 1), (1,)])
    assert ring.depth == 4


def test_hardware_efficient_counts():
    spec = HardwareEfficient(layers=2)(5)
    assert spec.counts == {1: 5 * 3, 2: 2 * 4}


def test_duck_typed_qsim_circuit():
    spec = spec_from_circuit(FakeQsimCircuit(5, {1: 10, 2: 4, 3: 1}, 7))
    assert spec.n_qubits == 5 and spec.n_gates == 15
    assert (spec.depth, spec.depth_multi) == (7, 5)
    assert spec.label == "FakeQsimCircuit"
    assert spec_from_circuit(spec) is spec


@pytest.mark.parametrize(
    ("circuit", "message"),
    [
        (object(), "object has no 'n_qubits'"),
        (FakeQsimCircuit(3, {1: -1}, 2), r"count_by_arity\(\)\[1\] = -1"),
        (FakeQsimCircuit(3, {1: 2}, -1), r"depth\(\) = -1"),
        (FakeQsimCircuit(2, {3: 1}, 1), "gate\\(s\\) on 3 wires but only n_qubits = 2"),
        (FakeQsimCircuit(0, {}, 0), "n_qubits = 0"),
    ],
)
def test_bad_circuits_are_rejected(circuit, message):
    with pytest.raises(EnergyCircuitError, match=message):
        spec_from_circuit(circuit)


def test_three_wire_gates_decompose_as_toffoli():
    assert two_qubit_equivalent({1: 2, 2: 3, 3: 2}) == (2 + 18, 3 + 12)


def test_paper_head_rejects_connectivity_beyond_width():
    with pytest.raises(EnergyCircuitError, match="connectivity = 3"):
        PaperHead(connectivity=3)(3)


def test_factory_family_from_module_reference(monkeypatch):
    module = types.ModuleType("fake_qsim_heads")
    module.head = lambda n: FakeQsimCircuit(n, {1: 3 * n, 2: 2 * n}, 4 * n)
    monkeypatch.setitem(sys.modules, "fake_qsim_heads", module)
    family = family_from_factory("fake_qsim_heads:head")
    spec = family(6)
    assert isinstance(spec, CircuitSpec) and spec.counts == {1: 18, 2: 12}
    with pytest.raises(EnergyCircuitError, match="expected 'package.module:function'"):
        family_from_factory("no_colon")
    with pytest.raises(EnergyCircuitError, match="fake_qsim_heads:missing"):
        family_from_factory("fake_qsim_heads:missing")
