"""Circuit data and every validation error."""

from __future__ import annotations

import numpy as np
import pytest

from qsim import (Circuit, CircuitError, Const, Input, Operation, Weight, expval, final_state, op, pauli,
                  z_each)
from qsim.gates import CNOT, RX, RY, Toffoli


def test_counts_depth_and_real():
    c = Circuit(3, (op(RY, 0, Weight(0)), op(CNOT, (0, 1)), op(RY, 2, Input(0)), op(Toffoli, (0, 1, 2))))
    assert c.count_by_arity() == {1: 2, 2: 1, 3: 1}
    assert c.count_by_name() == {"RY": 2, "CNOT": 1, "Toffoli": 1}
    assert c.depth() == 3
    assert c.is_real and c.n_weights == 1 and c.n_inputs == 1
    assert not Circuit(1, (op(RX, 0, 0.3),)).is_real
    assert len(c + c) == 8 and "CNOT" in c.draw()


@pytest.mark.parametrize("make,match", [
    (lambda: Circuit(0), "n_qubits"),
    (lambda: Circuit(2, (op(RY, 2, Weight(0)),)), "wire 2 out of range"),
    (lambda: op(CNOT, (1, 1)), "repeated wire"),
    (lambda: op(CNOT, (0,)), "acts on 2 wires"),
    (lambda: op(RY, -1, 0.1), "non-negative"),
    (lambda: Operation(RY, (0,), ()), "takes 1 parameters"),
    (lambda: Operation(RY, (0,), ("a",)), "not a Weight"),
    (lambda: Weight(-1), "non-negative"),
    (lambda: Input(0, scale=float("nan")), "not finite"),
    (lambda: Const(float("inf")), "not finite"),
    (lambda: Circuit(1, (op(RY, 0, Weight(3)),), n_weights=2), "slot 3 is used"),
    (lambda: Circuit(1, ("x",)), "not an Operation"),
    (lambda: Circuit(2) + Circuit(3), "cannot concatenate"),
])
def test_construction_errors(make, match):
    with pytest.raises(CircuitError, match=match):
        make()


def test_data_errors():
    c = Circuit(2, (op(RY, 0, Weight(0)), op(RY, 1, Input(1))))
    w, x = np.zeros(1), np.zeros((3, 2))
    with pytest.raises(CircuitError, match=r"weights have shape \(2,\), expected \(1,\)"):
        expval(c, z_each(2), np.zeros(2), x)
    with pytest.raises(CircuitError, match="uses 1 weights but none"):
        expval(c, z_each(2), None, x)
    with pytest.raises(CircuitError, match=r"inputs have shape \(3, 1\), expected \(B, 2\)"):
        expval(c, z_each(2), w, np.zeros((3, 1)))
    with pytest.raises(CircuitError, match="reads 2 inputs per sample but none"):
        expval(c, z_each(2), w)
    with pytest.raises(CircuitError, match=r"weights\(0,\) = nan is not finite"):
        expval(c, z_each(2), np.array([np.nan]), x)
    with pytest.raises(CircuitError, match=r"inputs\(1, 0\) = inf"):
        expval(c, z_each(2), w, np.array([[0, 0], [np.inf, 0], [0, 0]]))
    with pytest.raises(CircuitError, match="not normalised"):
        expval(c, z_each(2), w, x, state=np.ones((3, 4)))
    with pytest.raises(CircuitError, match=r"state has shape \(3, 8\)"):
        expval(c, z_each(2), w, x, state=np.ones((3, 8)) / np.sqrt(8))
    with pytest.raises(CircuitError, match="batch sizes disagree"):
        expval(c, z_each(2), w, x, state=np.tile([1.0, 0, 0, 0], (2, 1)))
    with pytest.raises(CircuitError, match="wire out of range"):
        expval(c, pauli("Z", 5), w, x)
    with pytest.raises(CircuitError, match="unknown factor"):
        pauli("Q", 0)
    with pytest.raises(CircuitError, match="backend 'gpu'"):
        final_state(c, w, x, backend="gpu")
    with pytest.raises(CircuitError, match="precision 'half'"):
        final_state(c, w, x, precision="half")
    with pytest.raises(CircuitError, match="fusion level 7"):
        final_state(c, w, x, fusion=7)
    with pytest.raises(CircuitError, match="real=True"):
        expval(Circuit(1, (op(RX, 0, 0.2),)), z_each(1), real=True)


def test_qubit_limit():
    """Issue 10 finding 8: Circuit(64) built and simulating tried to allocate 8 TiB; the register
    is bounded at construction (MAX_QUBITS = 40, a 4 TiB state) with a one-line CircuitError."""
    from qsim.circuit import MAX_QUBITS

    assert Circuit(MAX_QUBITS).n_qubits == MAX_QUBITS              # data only: nothing allocated
    for n in (MAX_QUBITS + 1, 64):
        with pytest.raises(CircuitError, match=f"n_qubits = {n} exceeds qsim's limit of {MAX_QUBITS}"):
            Circuit(n)


@pytest.mark.parametrize("combine", ["add", "extend"])
def test_concatenation_keeps_declared_slots(combine):
    """Issue 10 finding 9: `extend` and `+` dropped declared n_weights/n_inputs, so the shot path
    (which extends the circuit by basis changes) failed on circuits with spare slots."""
    from qsim import sample_expval

    c = Circuit(2, (op(RY, 0, Weight(0)),), n_weights=3, n_inputs=2)
    more = (op(RX, 1, Weight(1)),)
    out = c + Circuit(2, more) if combine == "add" else c.extend(more)
    assert (out.n_weights, out.n_inputs) == (3, 2)
    wider = Circuit(2, (op(RY, 1, Input(4)),), n_weights=5)        # the larger count wins on each side
    both = c + wider if combine == "add" else c.extend(wider.ops)
    assert both.n_inputs == 5 and both.n_weights == (5 if combine == "add" else 3)
    w, x = np.array([0.3, 0.0, 0.0]), np.zeros((2, 2))
    est = sample_expval(c, pauli("X", 0), 200, w, x, seed=0)       # failed before: weights (3,) vs (1,)
    assert est.shape == (2, 1)


@pytest.mark.parametrize("make,match", [
    (lambda: op(RY, 1.0, Weight(0)), r"RY: wire 1\.0 must be a non-negative integer"),
    (lambda: op(CNOT, (0, 1.0)), r"CNOT: wire 1\.0 must be"),
    (lambda: Operation(RY, 0.5, (Const(0.1),)), r"wire 0\.5 must be"),
    (lambda: op(RY, 0, "pi"), r"RY: angle = 'pi' is not a real number"),
    (lambda: op(RY, 0, "0.5"), r"RY: angle = '0.5' is not a real number"),
    (lambda: op(RY, 0, 1j), r"RY: angle = 1j is not a real number"),
    (lambda: Const("0.5"), r"constant value = '0.5' is not a real number"),
    (lambda: Weight(0, scale="2"), r"weight scale = '2' is not a real number"),
    (lambda: Input(0, offset=np.complex128(1)), r"input offset = .* is not a real number"),
])
def test_wires_and_angles_of_the_wrong_type(make, match):
    """Issue 10 finding 10: float wires and string angles raised a bare TypeError/ValueError deep in
    the constructor (or were kept as strings); now one CircuitError naming the value."""
    with pytest.raises(CircuitError, match=match):
        make()
    assert op(RY, np.int64(1), np.float32(0.5)).params == (Const(0.5),)   # numpy scalars stay fine


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_complex_or_text_data_rejected(backend):
    """Issue 10 finding 9: complex weights were cast to real with only a numpy ComplexWarning."""
    c = Circuit(1, (op(RY, 0, Weight(0)), op(RX, 0, Input(0))))
    with pytest.raises(CircuitError, match=r"weights are complex \(complex128\)"):
        expval(c, z_each(1), np.array([0.3 + 0.1j]), np.zeros((1, 1)), backend=backend)
    with pytest.raises(CircuitError, match=r"inputs are complex"):
        expval(c, z_each(1), [0.3], np.array([[1j]]), backend=backend)
    with pytest.raises(CircuitError, match=r"weights = \['a'\] are not real numbers"):
        expval(c, z_each(1), ["a"], np.zeros((1, 1)), backend=backend)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("precision", ["quad", "half", None])
def test_precision_validated_on_every_backend(backend, precision):
    """Issue 10 finding 9: the numpy backend ignored `precision` in expval and vjp (accepted "quad")."""
    from qsim.grad import vjp

    c = Circuit(1, (op(RY, 0, Weight(0)),))
    calls = [lambda: expval(c, z_each(1), [0.1], backend=backend, precision=precision),
             lambda: final_state(c, [0.1], backend=backend, precision=precision),
             lambda: vjp(c, z_each(1), np.ones((1, 1)), [0.1], backend=backend, precision=precision)]
    for call in calls:
        with pytest.raises(CircuitError, match=rf"precision {precision!r} must be one of \('double', 'single'\)"):
            call()


def test_numpy_backend_is_double_only():
    """Issue 10 finding 9: precision='single' on the numpy reference silently ran in double."""
    from qsim.grad import vjp

    c = Circuit(1, (op(RY, 0, Weight(0)),))
    with pytest.raises(CircuitError, match="numpy reference backend runs in double precision only"):
        expval(c, z_each(1), [0.1], backend="numpy", precision="single")
    with pytest.raises(CircuitError, match="numpy reference backend runs in double precision only"):
        vjp(c, z_each(1), np.ones((1, 1)), [0.1], backend="numpy", precision="single")


# ---------------------------------------------------------------------- angle references carry their behaviour
def test_references_angle_shifted_source():
    """``angle`` per sample (vectorised over the batch), ``shifted`` and ``source``/``affine`` against
    the definitions ``scale · w[i] + offset``, ``scale · x[b, i] + offset``, ``value``."""
    from qsim.circuit import SRC_CONST, SRC_INPUT, SRC_WEIGHT
    from qsim.program import SRC_CONST as P_CONST, SRC_INPUT as P_INPUT, SRC_WEIGHT as P_WEIGHT

    assert (SRC_CONST, SRC_WEIGHT, SRC_INPUT) == (P_CONST, P_WEIGHT, P_INPUT)
    rng = np.random.default_rng(4)
    w, x = rng.normal(size=3), rng.normal(size=(5, 2))
    wr, xr, cr = Weight(2, 0.5, 0.1), Input(1, 2.0, -0.3), Const(0.7)
    assert wr.angle(w, x) == pytest.approx(0.5 * w[2] + 0.1)
    np.testing.assert_allclose(xr.angle(w, x), [2.0 * x[b, 1] - 0.3 for b in range(5)])
    assert cr.angle(w, x) == 0.7 and cr.value == 0.7
    assert (wr.source, xr.source, cr.source) == (SRC_WEIGHT, SRC_INPUT, SRC_CONST)
    assert wr.affine == (SRC_WEIGHT, 2, 0.5, 0.1) and xr.affine == (SRC_INPUT, 1, 2.0, -0.3)
    assert cr.affine == (SRC_CONST, 0, 0.0, 0.7)
    for ref in (wr, xr, cr):
        s = ref.shifted(0.25)
        assert type(s) is type(ref) and s.source == ref.source
        np.testing.assert_allclose(np.asarray(s.angle(w, x)), np.asarray(ref.angle(w, x)) + 0.25)


# ---------------------------------------------------------------------- the cached hash
def test_cached_hash_is_the_field_hash_and_follows_equality():
    """``hash(c)`` is the dataclass's field hash, computed once; equal circuits hash equal, and the
    cache takes no part in equality, repr, the constructor or pickles."""
    import dataclasses
    import pickle

    c = Circuit(3, (op(RY, 0, Weight(0)), op(CNOT, (0, 1)), op(RX, 2, Input(0, 2.0, 0.1)), op(RY, 1, 0.3)))
    assert c._hash is None                                           # nothing computed before use
    h = hash(c)
    assert h == hash((c.n_qubits, c.ops, c.n_weights, c.n_inputs)) and c._hash == h
    same = Circuit(3, tuple(c.ops))
    assert same == c and hash(same) == h
    assert {c: 1}[same] == 1
    others = [Circuit(3, c.ops[:-1]), Circuit(3, c.ops, n_weights=5), Circuit(4, c.ops),
              Circuit(3, c.ops[:-1] + (op(RY, 1, 0.4),)), Circuit(3, c.ops[:2] + (op(RX, 2, Input(0, 2.0, 0.2)),))]
    for o in others:
        assert o != c and hash(o) == hash((o.n_qubits, o.ops, o.n_weights, o.n_inputs))
    assert len({hash(o) for o in others} | {h}) == len(others) + 1
    assert "_hash" not in repr(c) and [f.name for f in dataclasses.fields(c) if f.compare] == [
        "n_qubits", "ops", "n_weights", "n_inputs"]
    assert dataclasses.replace(c, n_weights=4)._hash is None       # a new circuit starts uncached
    back = pickle.loads(pickle.dumps(c))
    assert "_hash" not in back.__dict__ or back.__dict__["_hash"] is None
    assert hash(back) == hash((back.n_qubits, back.ops, back.n_weights, back.n_inputs))


def test_lowering_cache_hits_on_equal_circuits():
    from qsim.program import lower

    c = Circuit(2, (op(RY, 0, Weight(0)), op(CNOT, (0, 1))))
    assert lower(c) is lower(c) is lower(Circuit(2, tuple(c.ops)))
