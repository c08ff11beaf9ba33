"""Noise models: rule matching and overrides, noisy instruction lists, structure keys."""

from __future__ import annotations


import numpy as np

import qsim
import qsim.grad
import pytest

import qsim.noise as qn
from qsim_testutils import channels_of, small_circuit
from qsim import Circuit, Weight, op
from qsim import z_each as qsim_z
from qsim.gates import RY, RZ


def test_arity_rules_and_placement():
    d1, d2 = qn.depolarizing(0.01), qn.depolarizing(0.02, 2)
    c = small_circuit()
    noisy = qn.NoiseModel().add(d1, arity=1).add(d2, arity=2).apply(c)
    assert channels_of(noisy) == [("depolarizing", (0,)), ("depolarizing", (1,)), ("depolarizing2", (0, 1)),
                                  ("depolarizing2", (1, 2)), ("depolarizing", (2,))]
    assert noisy.instructions[0] is c.ops[0] and noisy.instructions[1].channel is d1
    assert noisy.circuit is c and len(c.ops) == 5                  # the circuit stays noise-free data


def test_one_qubit_channel_after_two_qubit_gate_goes_on_each_wire():
    noisy = qn.NoiseModel().add(qn.bit_flip(0.1), gates="CNOT").apply(small_circuit())
    assert channels_of(noisy) == [("bit_flip", (0,)), ("bit_flip", (1,))]


def test_overrides_by_gate_and_by_qubit():
    base = qn.depolarizing(0.01)
    m = (qn.NoiseModel().add(base, arity=1)
         .add(qn.amplitude_damping(0.1), gates="RZ")              # per-gate override
         .add(qn.phase_flip(0.2), gates="RY", wires=2))           # per-qubit override
    noisy = m.apply(small_circuit())
    assert channels_of(noisy) == [("depolarizing", (0,)), ("amplitude_damping", (1,)), ("phase_flip", (2,))]
    quiet = m.without_noise(wires=0).apply(small_circuit())
    assert ("depolarizing", (0,)) not in channels_of(quiet)


def test_same_specificity_rules_add_up_in_order():
    m = qn.NoiseModel().add(qn.depolarizing(0.01), arity=1).add(qn.amplitude_damping(0.1), arity=1)
    noisy = m.apply(Circuit(1, (op(RY, 0, Weight(0)),)))
    assert channels_of(noisy) == [("depolarizing", (0,)), ("amplitude_damping", (0,))]


def test_readout_and_overrides():
    m = qn.NoiseModel().with_readout(qn.readout_error(0.01, 0.02)).with_readout(qn.readout_error(0.1), wires=2)
    noisy = m.apply(small_circuit())
    assert noisy.readout == ((0.01, 0.02), (0.01, 0.02), (0.1, 0.1))
    assert qn.NoiseModel().apply(small_circuit()).readout is None
    assert qn.NoiseModel.ideal().is_ideal and not m.is_ideal


def test_apply_is_cached_and_rules_validate():
    m = qn.NoiseModel.depolarizing(0.01, 0.02)
    c = small_circuit()
    assert m.apply(c) is m.apply(c)
    assert m.apply(Circuit(c.n_qubits, c.ops)) is m.apply(c)          # by value: equal circuits share
    assert qn.NoiseModel.depolarizing(0.01, 0.02).apply(c) is not m.apply(c)   # channels compare by identity
    with pytest.raises(qn.ChannelError, match="2-wire gates cannot place"):
        qn.NoiseModel().add(qn.kraus_channel([np.eye(8)], name="three"), arity=2)
    with pytest.raises(qn.ChannelError, match="arity"):
        qn.NoiseModel().add(qn.depolarizing(0.1), arity=0)


def test_model_hash_is_cached_and_follows_equality():
    import pickle

    m = qn.NoiseModel.depolarizing(0.01, 0.02).with_readout(0.02)
    assert m._hash is None
    h = hash(m)
    assert h == hash((m.rules, m.readout, m.readout_overrides, m.name)) and m._hash == h
    same = qn.NoiseModel(m.rules, m.readout, m.readout_overrides, m.name)
    assert same == m and hash(same) == h
    for other in (m.named("other"), m.with_readout(0.03), m.add(qn.depolarizing(0.1), arity=1)):
        assert other != m and hash(other) == hash((other.rules, other.readout, other.readout_overrides, other.name))
    assert "_hash" not in repr(m)
    back = pickle.loads(pickle.dumps(m))
    assert "_hash" not in back.__dict__ or back.__dict__["_hash"] is None


@pytest.mark.parametrize("model,fragment", [
    (qn.NoiseModel().add(qn.depolarizing(0.1), gates=["FOO"]), r"rule \[gates=\['FOO'\]\] matches no operation"),
    (qn.NoiseModel().add(qn.depolarizing(0.1), gates="RY", wires=1), r"rule \[gates=\['RY'\], wires=\(1,\)\]"),
    (qn.NoiseModel().add(qn.depolarizing(0.1, 2), wires=(2, 3)), r"rule \[wires=\(2, 3\)\]"),
    (qn.NoiseModel().with_readout(0.1, wires=7), "readout override on qubit 7 is outside the 3-qubit circuit"),
])
def test_rules_matching_nothing_warn_or_raise_when_strict(model, fragment):
    """Issue 10 finding 9: a rule that matches no gate or wire (`gates=["FOO"]`) silently gave
    noise-free results; `apply` now warns, and raises with strict=True."""
    c = small_circuit()
    with pytest.warns(qn.UnmatchedNoiseWarning, match=fragment):
        noisy = model.apply(c)
    assert noisy.channels == () and noisy.readout is None
    with pytest.raises(qn.ChannelError, match=fragment):
        model.apply(c, strict=True)
    other = c.extend([op(RZ, 0, Weight(0))])      # warned once per (model, circuit): take a new circuit
    with pytest.warns(qn.UnmatchedNoiseWarning, match=fragment):     # through the entry points too
        qsim.expval(other, qsim_z(3), np.array([0.3, 0.2, 0.1]), noise=model)


def test_rules_that_match_or_select_by_arity_stay_silent(recwarn):
    """Issue 10 finding 9: only rules naming gates or wires warn; a profile's arity rules may
    match nothing in a small circuit."""
    one_qubit = Circuit(1, (op(RY, 0, Weight(0)),))
    qn.NoiseModel.depolarizing(0.01, 0.02).apply(one_qubit, strict=True)    # no 2-qubit gate: fine
    qn.NoiseModel().add(qn.bit_flip(0.1), gates="CNOT").apply(small_circuit(), strict=True)
    assert not [w for w in recwarn if issubclass(w.category, qn.UnmatchedNoiseWarning)]
