"""hybrid.layers / hybrid.head / hybrid.config: modules, parameter counts, presets, JSON configs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import qsim
from qsim.circuit import Input, Weight

from hybrid.config import JSONConfig
from hybrid.function import Execution
from hybrid.head import HeadConfig, QuantumHead, preset, search_parameter_count
from hybrid.layers import (
    AmplitudeEncoder,
    EncoderConfig,
    QPUConfig,
    QPUModule,
    QuantumLayer,
    amplitude_state,
    resolve_resize,
)




def _small_head(merge="mean", linear_input="qpu_only", n_encoders=2, d=6, dtype="float64", **qpu) -> HeadConfig:
    return HeadConfig(input_dim=d, n_encoders=n_encoders, merge=merge, linear_input=linear_input, dtype=dtype,
                      encoder=EncoderConfig(n_qubits=3, layers=1, connectivity=2, ry_column_after=0),
                      qpu=QPUConfig(reuploads=2, connectivity=1, layers=1, **qpu))


# --------------------------------------------------------------------------------------------
# Parameter counts: Fig. 3 and the 886 of the paper


def test_fig3_block_count_and_gate_order():
    cfg = EncoderConfig(n_qubits=4, layers=3, connectivity=2, ry_column_after=0)
    assert cfg.n_weights == 28 and preset("fig3").encoder.n_weights == 28
    circ = cfg.circuit()
    assert circ.n_weights == 28
    ops = [(o.gate.name, o.wires, o.params[0].index if o.params else None) for o in circ.ops]
    # Fig. 3: offset-1 ring (θ0-θ3), offset-2 ring (θ4-θ7), the RY column (θ8-θ11), then layers of 8
    assert ops[:4] == [("CNOT", (0, 1), None), ("RY", (1,), 0), ("CNOT", (1, 2), None), ("RY", (2,), 1)]
    assert ops[6:8] == [("CNOT", (3, 0), None), ("RY", (0,), 3)]
    assert ops[8:10] == [("CNOT", (0, 2), None), ("RY", (2,), 4)]
    assert [o for o in ops if o[2] in range(8, 12)] == [("RY", (q,), 8 + q) for q in range(4)]
    assert AmplitudeEncoder(16, cfg).n_parameters == 28


def test_paper_886_preset_and_search():
    cfg = preset("paper-886")
    counts = cfg.parameter_counts()
    assert counts == {"encoders": 392, "qpu": 294 + 196, "linear": 4, "total": 886}
    assert cfg.qpu_qubits == 14 and cfg.encoder.n_qubits == 14 and cfg.describe()["resize"] == "pad"
    assert QuantumHead(cfg).n_parameters == 886          # built, not simulated
    hits = search_parameter_count(886, 14)
    assert len(hits) > 1000                              # the count alone does not pin the config
    assert hits[0] == cfg                                # the preset is the preferred member
    assert all(h.parameter_counts()["total"] == 886 and h.qpu_qubits == 14 for h in hits[:50])
    assert search_parameter_count(7, 14) == []


@pytest.mark.parametrize("kw", [
    dict(merge="concat"), dict(merge="sum", linear_input="concat"), dict(n_encoders=1),
    dict(shared=True), dict(ry_column_after=0, measured=2), dict(block_layers=0),
])
def test_counted_equals_built(kw):
    qpu = {k: kw.pop(k) for k in ("shared", "ry_column_after", "measured", "block_layers") if k in kw}
    cfg = _small_head(**kw, **qpu)
    head = QuantumHead(cfg)
    assert head.n_parameters == cfg.parameter_counts()["total"]
    assert head.qpu.n_qubits == cfg.qpu_qubits == (6 if cfg.merge == "concat" and cfg.n_encoders == 2 else 3)


def test_default_preset_sizes_to_the_embedding():
    assert preset("paper-sized", 384).encoder.n_qubits == 9
    assert preset("paper-sized", 768).encoder.n_qubits == 10
    with pytest.raises(ValueError, match="unknown head preset"):
        preset("paper-900")


# --------------------------------------------------------------------------------------------
# Modules


def test_amplitude_encoder_matches_qsim():
    torch.manual_seed(0)
    enc = AmplitudeEncoder(6, EncoderConfig(n_qubits=3, layers=2, connectivity=1), dtype=torch.float64)
    assert enc.resize == "pad"
    x = torch.randn(5, 6, dtype=torch.float64)
    out = enc(x)
    psi = np.pad(x.numpy(), ((0, 0), (0, 2)))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    ref = qsim.expval(enc.layer.circuit, qsim.z_each(3), enc.layer.weights.detach().numpy(), None, psi)
    np.testing.assert_allclose(out.detach().numpy(), ref, atol=1e-12)


def test_resize_modes():
    assert resolve_resize("auto", 10, 3) == "truncate" and resolve_resize("auto", 8, 3) == "none"
    assert resolve_resize("pad", 8, 3) == "none"
    with pytest.raises(ValueError, match="needs 'truncate'"):
        resolve_resize("pad", 10, 3)
    with pytest.raises(ValueError, match="needs 'pad'"):
        EncoderConfig(n_qubits=3, resize="truncate").resolved_resize(5)
    with pytest.raises(ValueError, match="resize"):
        EncoderConfig(resize="project")
    x = torch.tensor([[3.0, 4.0, 12.0]])
    torch.testing.assert_close(amplitude_state(x, 1), torch.tensor([[0.6, 0.8]]))
    with pytest.raises(ValueError, match="embedding row 1 is zero"):
        amplitude_state(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 5.0]]), 1)
    torch.testing.assert_close(amplitude_state(torch.tensor([[3.0]]), 1, bias=4.0), torch.tensor([[0.6, 0.8]]))
    with pytest.raises(ValueError, match="needs a free amplitude"):
        amplitude_state(torch.ones(1, 2), 1, bias=1.0)
    with pytest.raises(ValueError, match="needs a free amplitude"):
        EncoderConfig(n_qubits=3, bias=0.5).resolved_resize(8)


def test_plain_amplitude_encoding_is_even_and_bias_breaks_it():
    torch.manual_seed(0)
    x = torch.randn(3, 6, dtype=torch.float64)
    plain = AmplitudeEncoder(6, EncoderConfig(n_qubits=3, layers=2, connectivity=2, init="uniform", init_scale=1.0),
                             dtype=torch.float64)
    torch.testing.assert_close(plain(x), plain(-x))
    biased = AmplitudeEncoder(6, EncoderConfig(n_qubits=3, layers=2, connectivity=2, init="uniform", init_scale=1.0,
                                               bias=1.0), dtype=torch.float64)
    assert not torch.allclose(biased(x), biased(-x))


def test_qpu_circuit_structure():
    cfg = QPUConfig(reuploads=3, connectivity=2, layers=2, shared=True, input_scale=0.5, ry_column_after=1)
    circ = cfg.circuit(4)
    assert circ.n_inputs == 4 and circ.n_weights == cfg.n_weights(4) == 8 + 16 + 4
    enc = [o for o in circ.ops if o.params and isinstance(o.params[0], Input)]
    assert len(enc) == 12 and all(o.params[0].scale == 0.5 for o in enc)
    block_w = {o.params[0].index for o in circ.ops[:30] if o.params and isinstance(o.params[0], Weight)}
    assert block_w == set(range(8))                       # shared: every block reads weights 0-7
    separate = QPUConfig(reuploads=3, connectivity=2, layers=2).n_weights(4)
    assert separate == 3 * 8 + 16
    with pytest.raises(ValueError, match="connectivity=5 must be <= n_qubits - 1 = 3"):
        QPUConfig(connectivity=5).circuit(4)
    with pytest.raises(ValueError, match="measured=5 exceeds"):
        QPUConfig(measured=5).check_qubits(4)
    with pytest.raises(ValueError, match="expects \\(B, 4\\) features"):
        QPUModule(4, QPUConfig())(torch.zeros(2, 3))


def test_quantum_layer_generic_and_errors():
    circ = qsim.Circuit(2, tuple(qsim.angle_encoding(2) + qsim.long_range_pqc(2, 1, 1)))
    layer = QuantumLayer(circ, qsim.z_each(2), init="zeros", dtype=torch.float64)
    out = layer(torch.tensor([[0.0, math.pi]], dtype=torch.float64))
    # |01⟩ → CNOT(0→1) leaves it → CNOT(1→0) flips qubit 0 → |11⟩
    np.testing.assert_allclose(out.detach().numpy(), [[-1.0, -1.0]], atol=1e-12)
    assert "weights=2" in repr(layer)
    with pytest.raises(ValueError, match="pass inputs"):
        layer()
    with pytest.raises(TypeError, match="qsim.Circuit"):
        QuantumLayer("not a circuit", qsim.Z(0))
    with pytest.raises(qsim.CircuitError, match="out of range"):
        QuantumLayer(circ, qsim.Z(5))
    with pytest.raises(ValueError, match="init"):
        QuantumLayer(circ, qsim.Z(0), init="xavier")
    with pytest.raises(ValueError, match="dtype"):
        QuantumLayer(circ, qsim.Z(0), dtype=torch.float16)


def test_qpu_with_shots_is_sampled_and_seeded():
    cfg = QPUConfig(reuploads=1, connectivity=1, layers=1, shots=64, seed=5)
    torch.manual_seed(0)
    a = QPUModule(3, cfg, dtype=torch.float64)
    torch.manual_seed(0)
    b = QPUModule(3, cfg, dtype=torch.float64)
    x = torch.rand(4, 3, dtype=torch.float64)
    ya, yb = a(x), b(x)
    torch.testing.assert_close(ya, yb)
    assert torch.all(torch.remainder(ya * 64, 2) == 0)


# --------------------------------------------------------------------------------------------
# Gradients and training


@pytest.mark.parametrize("merge,linear_input", [("mean", "qpu_only"), ("concat", "concat")])
def test_head_gradients_match_finite_differences(merge, linear_input):
    torch.manual_seed(1)
    head = QuantumHead(_small_head(merge=merge, linear_input=linear_input))
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    params = list(head.parameters())
    # gradients reaching the embedding (through the state cotangent and the normalisation)
    assert torch.autograd.gradcheck(lambda x: head(x), (x,))
    # gradients of every parameter group against central differences of the whole head's loss
    y = torch.randint(0, 2, (3,))
    loss = torch.nn.functional.cross_entropy(head(x), y)
    grads = torch.autograd.grad(loss, params)
    eps = 1e-6
    for p, g in zip(params, grads):
        flat = p.detach().view(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 4)):
            old = flat[i].item()
            with torch.no_grad():
                flat[i] = old + eps
                lp = torch.nn.functional.cross_entropy(head(x), y).item()
                flat[i] = old - eps
                lm = torch.nn.functional.cross_entropy(head(x), y).item()
                flat[i] = old
            assert g.view(-1)[i].item() == pytest.approx((lp - lm) / (2 * eps), abs=1e-7)


def test_training_converges_on_a_separable_problem(separable_problem):
    from hybrid.seeding import seed_everything
    from hybrid.training import TrainConfig, evaluate, fit

    X_tr, y_tr, X_va, y_va, X_te, y_te = separable_problem
    # labels flip with x -> -x; plain amplitude encoding cannot see that (even readouts), the
    # bias amplitude can (see amplitude_state)
    cfg = HeadConfig(input_dim=16, n_encoders=1, merge="mean", linear_input="concat",
                     encoder=EncoderConfig(n_qubits=5, layers=2, connectivity=2, bias=4.0, init="uniform",
                                           init_scale=1.0),
                     qpu=QPUConfig(reuploads=1, connectivity=1, layers=1))
    seed_everything(0)
    head = QuantumHead(cfg)
    before = evaluate(head, X_te, y_te)["accuracy"]
    hist = fit(head, X_tr, y_tr, X_va, y_va, TrainConfig(lr=0.05, epochs=8, batch_size=32, progress=False))
    after = evaluate(head, X_te, y_te)["accuracy"]
    assert hist.epochs[-1].train_loss < hist.epochs[0].train_loss
    assert after > 0.85 and after > before


# --------------------------------------------------------------------------------------------
# Configs


def test_config_json_round_trips():
    cfgs = [EncoderConfig(n_qubits=5, layers=3, connectivity=4, ry_column_after=2, resize="pad"),
            QPUConfig(reuploads=4, shared=True, shots=100, gradient="param_shift", seed=3, noise={"p1": 0.01}),
            preset("paper-886"), _small_head(merge="concat", linear_input="concat")]
    for c in cfgs:
        text = c.to_json()
        back = type(c).from_json(text)
        assert back == c and back.to_json() == text
        assert type(c).from_dict(json.loads(text)) == c
    head = HeadConfig.from_dict({"input_dim": 6, "encoder": {"n_qubits": 3}, "qpu": {"layers": 0}})
    assert isinstance(head.encoder, EncoderConfig) and head.qpu.layers == 0


@pytest.mark.parametrize("cls,data,match", [
    (EncoderConfig, {"qubits": 3}, "unknown EncoderConfig keys \\['qubits'\\]"),
    (EncoderConfig, {"n_qubits": 1}, "n_qubits must be in \\[2, 24\\]"),
    (EncoderConfig, {"n_qubits": 4, "connectivity": 4}, "connectivity must be in \\[1, 3\\]"),
    (EncoderConfig, {"layers": 2, "ry_column_after": 2}, "ry_column_after must be in \\[0, 1\\]"),
    (EncoderConfig, {"layers": 1.5}, "layers must be an integer"),
    (EncoderConfig, {"init_scale": float("nan")}, "init_scale"),
    (QPUConfig, {"reuploads": 0}, "reuploads must be >= 1"),
    (QPUConfig, {"layers": 0, "ry_column_after": 0}, "needs layers >= 1"),
    (QPUConfig, {"shared": "yes"}, "shared must be true or false"),
    (QPUConfig, {"gradient": "spsa"}, "gradient"),
    (QPUConfig, {"shots": -1}, "shots"),
    (QPUConfig, {"input_scale": "pi"}, "input_scale must be a number"),
    (HeadConfig, {"merge": "max"}, "merge must be one of"),
    (HeadConfig, {"linear_input": "all"}, "linear_input"),
    (HeadConfig, {"dtype": "float16"}, "dtype"),
    (HeadConfig, {"n_classes": 1}, "n_classes"),
    (HeadConfig, {"encoder": 3}, "expected a JSON object"),
    (HeadConfig, {"input_dim": 768, "encoder": {"n_qubits": 9, "resize": "pad"}}, "needs 'truncate'"),
    (HeadConfig, {"encoder": {"n_qubits": 2, "connectivity": 1}, "qpu": {"connectivity": 2}},
     "connectivity=2 must be <= n_qubits - 1"),
    (HeadConfig, [1, 2], "expected a JSON object"),
])
def test_config_errors(cls, data, match):
    with pytest.raises(ValueError, match=match):
        cls.from_dict(data)


def test_config_json_errors():
    with pytest.raises(ValueError, match="HeadConfig JSON is not valid"):
        HeadConfig.from_json("{")
    noisy = QPUConfig(noise=None)
    from qsim.noise import NoiseModel

    with pytest.raises(ValueError, match="model object"):
        QPUConfig(noise=NoiseModel.depolarizing(0.01)).to_dict()
    assert isinstance(noisy, JSONConfig)
    assert Execution() == noisy.execution()


# --------------------------------------------------------------------------------------------
# Package


def test_import_hybrid_does_not_import_torch():
    code = ("import sys, hybrid; assert 'torch' not in sys.modules, 'torch imported'; "
            "assert 'QuantumHead' in dir(hybrid); hybrid.load_sst2; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    import hybrid

    assert hybrid.QuantumHead is QuantumHead and hybrid.circuit_expval is not None

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hybrid.nope
