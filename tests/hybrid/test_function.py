"""hybrid.function: the torch entry point over qsim (values, gradients, shots, noise, errors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qsim
from qsim.circuit import CircuitError, Input, Weight, op
from qsim.gates import RX, RY, RZ

from hybrid import function as hf
from hybrid.function import CircuitExpval, Execution, circuit_expval




def _circuit(n: int = 3) -> qsim.Circuit:
    """Angle encoding, a long-range PQC with an RY column, and complex gates (RX, RZ) reading
    both a scaled weight and an input."""
    ops = (qsim.angle_encoding(n, scale=0.7) + qsim.long_range_pqc(n, 2, 2, ry_column_after=0)
           + [op(RX, 1, Weight(0, 0.5)), op(RZ, 2, Input(1)), op(RY, 0, Weight(3, -1.5, 0.2))])
    return qsim.Circuit(n, tuple(ops))


OBS = (qsim.Z(0), qsim.X(1), qsim.pauli("ZY", (0, 2)) + 0.5 * qsim.Z(2))


def _unit(a: torch.Tensor) -> torch.Tensor:
    return a / a.norm(dim=1, keepdim=True)


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    circ = _circuit()
    B = 4
    w = torch.randn(circ.n_weights, dtype=torch.float64, generator=g, requires_grad=True)
    x = torch.randn(B, 3, dtype=torch.float64, generator=g, requires_grad=True)
    a = torch.randn(B, 8, dtype=torch.complex128, generator=g, requires_grad=True)
    return circ, w, x, a


def test_values_match_qsim(data):
    circ, w, x, a = data
    psi = _unit(a)
    got = circuit_expval(circ, OBS, w, x, psi)
    ref = qsim.expval(circ, OBS, w.detach().numpy(), x.detach().numpy(), psi.detach().numpy())
    assert got.shape == (4, 3) and got.dtype == torch.float64
    np.testing.assert_allclose(got.detach().numpy(), ref, atol=1e-12)


def test_gradcheck_adjoint_complex_state(data):
    circ, w, x, a = data
    assert torch.autograd.gradcheck(lambda w, x, a: circuit_expval(circ, OBS, w, x, _unit(a)), (w, x[:2], a[:2]))


def test_gradcheck_adjoint_real_state(data):
    circ, w, x, _ = data
    ar = torch.randn(2, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w, x, a: circuit_expval(circ, OBS, w, x, _unit(a)), (w, x[:2], ar))


def test_gradcheck_param_shift(data):
    circ, w, x, _ = data
    ex = Execution(gradient="param_shift")
    assert torch.autograd.gradcheck(lambda w, x: circuit_expval(circ, OBS, w, x, execution=ex), (w, x[:2]),
                                    fast_mode=True)


def test_float32_uses_single_precision(data, monkeypatch):
    circ, w, x, a = data
    seen = []
    real_expval = hf.qsim.expval
    monkeypatch.setattr(hf.qsim, "expval", lambda *a_, **k: seen.append(k["precision"]) or real_expval(*a_, **k))
    out32 = circuit_expval(circ, OBS, w.detach().float().requires_grad_(), x.detach().float(),
                           _unit(a.detach()).to(torch.complex64))
    assert out32.dtype == torch.float32 and seen == ["single"]
    out64 = circuit_expval(circ, OBS, w, x, _unit(a))
    np.testing.assert_allclose(out32.detach().numpy(), out64.detach().numpy(), atol=2e-5)
    out32.sum().backward()


def test_float32_gradients_close_to_float64(data):
    circ, w, x, _ = data
    w32, x32 = w.detach().float().requires_grad_(), x.detach().float().requires_grad_()
    circuit_expval(circ, OBS, w32, x32).sum().backward()
    circuit_expval(circ, OBS, w, x).sum().backward()
    assert w32.grad.dtype == torch.float32
    np.testing.assert_allclose(w32.grad.numpy(), w.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(x32.grad.numpy(), x.grad.numpy(), atol=1e-4)


def test_numpy_views_share_memory():
    t = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    assert np.shares_memory(hf._to_numpy(t), t.numpy())
    assert np.shares_memory(hf._to_numpy(t.t()), t.numpy())              # a strided view, no copy
    z = torch.ones(2, dtype=torch.complex128, requires_grad=True)
    assert hf._to_numpy(z.conj()).dtype == np.complex128                  # lazy conj resolved


def test_only_needed_gradients(data, monkeypatch):
    circ, w, x, a = data
    x_fixed = x.detach()
    psi = _unit(a.detach())
    out = circuit_expval(circ, OBS, w, x_fixed, psi)
    out.sum().backward()
    assert w.grad is not None and x_fixed.grad is None
    # no tensor needs a gradient: no graph at all
    assert circuit_expval(circ, OBS, w.detach(), x_fixed).grad_fn is None
    # param-shift shifts only the references whose gradient is needed
    import qsim.grad.methods as front

    calls = []
    real = front.expval
    monkeypatch.setattr(front, "expval", lambda *a_, **k: calls.append(1) or real(*a_, **k))
    w2 = w.detach().clone().requires_grad_()
    circuit_expval(circ, OBS, w2, x_fixed, execution=Execution(gradient="param_shift")).sum().backward()
    n_weight_refs = sum(isinstance(p, Weight) for o in circ.ops for p in o.params)
    assert len(calls) == 1 + 2 * n_weight_refs          # the unshifted values, then two per weight reference


def test_no_inputs_no_weights():
    circ = qsim.Circuit(2, (op(qsim.gates.H, 0), op(qsim.gates.CNOT, (0, 1))))
    out = circuit_expval(circ, qsim.pauli("ZZ", (0, 1)), None)
    assert out.shape == (1, 1) and out.item() == pytest.approx(1.0)


def test_shots_forward_and_straight_through():
    circ = qsim.Circuit(1, (op(RY, 0, Weight(0)),))
    w = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    ex = Execution(shots=400)
    y1 = circuit_expval(circ, qsim.Z(0), w, execution=ex, rng=3)
    y2 = circuit_expval(circ, qsim.Z(0), w, execution=ex, rng=3)
    assert y1.item() == y2.item()                        # seeded
    assert (y1.item() * 400) % 2 == pytest.approx(0.0)   # a mean of ±1 outcomes
    assert abs(y1.item() - np.cos(0.7)) < 0.15
    y1.sum().backward()                                  # adjoint: the exact gradient
    assert w.grad.item() == pytest.approx(-np.sin(0.7), abs=1e-12)


def test_shots_param_shift_is_an_estimate():
    circ = qsim.Circuit(1, (op(RY, 0, Weight(0)),))
    w = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    y = circuit_expval(circ, qsim.Z(0), w, execution=Execution(gradient="param_shift", shots=20000), rng=1)
    y.sum().backward()
    assert w.grad.item() == pytest.approx(-np.sin(0.7), abs=0.03)
    assert w.grad.item() != pytest.approx(-np.sin(0.7), abs=1e-9)


def test_execution_json_round_trip_and_errors():
    ex = Execution(gradient="param_shift", shots=100, fusion=1)
    assert Execution.from_dict(ex.to_dict()) == ex
    with pytest.raises(ValueError, match="unknown Execution keys"):
        Execution.from_dict({"shot": 3})
    with pytest.raises(ValueError, match="gradient"):
        Execution(gradient="finite_diff")
    with pytest.raises(ValueError, match="shots"):
        Execution(shots=0)
    with pytest.raises(ValueError, match="shots"):
        Execution(shots=True)
    with pytest.raises(ValueError, match="backend"):
        Execution(backend="tpu")
    with pytest.raises(ValueError, match="fusion"):
        Execution(fusion=5)


# --------------------------------------------------------------------------------------------
# Noise (qsim.noise)

NOISE = {"p1": 0.02, "p2": 0.05, "readout": 0.03}


def test_noise_options_an_engine_cannot_honour_raise(data):
    """backend, precision and fusion reach the noisy engine or are refused (never dropped)."""
    circ, w, x, _ = data
    with pytest.raises(qsim.InputError, match="backend 'cupy' with noise"):
        circuit_expval(circ, OBS, w, x, execution=Execution(noise=NOISE, backend="cupy"))
    ref = circuit_expval(circ, OBS, w, x, execution=Execution(noise=NOISE))
    oracle = circuit_expval(circ, OBS, w, x, execution=Execution(noise=NOISE, backend="numpy"))
    unfused = circuit_expval(circ, OBS, w, x, execution=Execution(noise=NOISE, fusion=0))
    torch.testing.assert_close(oracle, ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(unfused, ref, atol=1e-12, rtol=0)
    single = circuit_expval(circ, OBS, w.float(), x.float(), execution=Execution(noise=NOISE))
    assert single.dtype == torch.float32          # simulated in double, returned in the tensors' dtype
    torch.testing.assert_close(single.double(), ref, atol=1e-6, rtol=0)


def test_noise_values_match_qsim_noise(data):
    from qsim.noise import NoiseModel

    circ, w, x, a = data
    psi = _unit(a.detach())
    ex = Execution(noise=NOISE)
    assert Execution.from_dict(ex.to_dict()) == ex
    got = circuit_expval(circ, OBS, w, x, psi, execution=ex)
    ref = qsim.expval(circ, OBS, w.detach().numpy(), x.detach().numpy(), psi.numpy(),
                      noise=NoiseModel.depolarizing(**NOISE))
    np.testing.assert_allclose(got.detach().numpy(), ref, atol=1e-12)
    exact = circuit_expval(circ, OBS, w, x, psi)
    assert not torch.allclose(got, exact, atol=1e-3)      # the noise does something


def test_noise_gradcheck_adjoint_and_param_shift(data):
    circ, w, x, a = data
    ex = Execution(noise=NOISE)
    assert torch.autograd.gradcheck(lambda w, x, a: circuit_expval(circ, OBS, w, x, _unit(a), execution=ex),
                                    (w, x[:2], a[:2]), fast_mode=True)
    ps = Execution(gradient="param_shift", noise=NOISE)
    assert torch.autograd.gradcheck(lambda w, x: circuit_expval(circ, OBS, w, x, execution=ps), (w, x[:2]),
                                    fast_mode=True)


def test_noise_specs():
    from qsim.noise import NoiseModel

    model = NoiseModel.depolarizing(0.01)
    assert Execution(noise=model).noise_model is model
    assert Execution(noise="ionq-aria-like").noise_model.name
    with pytest.raises(ValueError, match="model object"):
        Execution(noise=model).to_dict()
    with pytest.raises(ValueError, match="unknown noise spec keys"):
        Execution(noise={"depolarizing": 0.01})
    with pytest.raises(ValueError, match="noise profile 'no-such-device'"):
        Execution(noise="no-such-device")
    with pytest.raises(ValueError, match="noise spec"):
        Execution(noise={"p1": 2.0})
    with pytest.raises(ValueError, match="noise must be"):
        Execution(noise=0.01)


def test_noise_with_shots_straight_through():
    circ = qsim.Circuit(1, (op(RY, 0, Weight(0)),))
    w = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    ex = Execution(noise={"p1": 0.1}, shots=500)
    y = circuit_expval(circ, qsim.Z(0), w, execution=ex, rng=0)
    assert (y.item() * 500) % 2 == pytest.approx(0.0)
    y.sum().backward()
    exact = Execution(noise={"p1": 0.1})
    w2 = w.detach().clone().requires_grad_()
    circuit_expval(circ, qsim.Z(0), w2, execution=exact).sum().backward()
    assert w.grad.item() == pytest.approx(w2.grad.item(), abs=1e-12)


def test_argument_errors(data):
    circ, w, x, a = data
    with pytest.raises(TypeError, match="qsim.Circuit"):
        circuit_expval("circuit", OBS, w, x)
    with pytest.raises(TypeError, match="execution"):
        circuit_expval(circ, OBS, w, x, execution={"gradient": "adjoint"})
    with pytest.raises(TypeError, match="weights must be float32/float64"):
        circuit_expval(circ, OBS, w.detach().long(), x)
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        circuit_expval(circ, OBS, w, x.detach().numpy())
    with pytest.raises(ValueError, match=r"weights must have shape \(P,\)"):
        circuit_expval(circ, OBS, w.detach()[None], x)
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, k\)"):
        circuit_expval(circ, OBS, w, x.detach()[0])
    with pytest.raises(CircuitError, match="weights have shape"):
        circuit_expval(circ, OBS, w.detach()[:-1], x)
    with pytest.raises(CircuitError, match="not normalised"):
        circuit_expval(circ, OBS, w, x, 2 * _unit(a.detach()))
    with pytest.raises(CircuitError, match="not finite"):
        circuit_expval(circ, OBS, w, x.detach() * float("nan"))
    with pytest.raises(RuntimeError, match="no gradient for the initial state"):
        circuit_expval(circ, OBS, w, x, _unit(a), execution=Execution(gradient="param_shift")).sum().backward()


def test_apply_signature():
    circ = qsim.Circuit(1, (op(RY, 0, Weight(0)),))
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    out = CircuitExpval.apply(circ, qsim.observables.as_observables(qsim.Z(0)), Execution(),
                              np.random.default_rng(0), w, None, None)
    out.sum().backward()
    assert w.grad.item() == pytest.approx(0.0, abs=1e-12)
