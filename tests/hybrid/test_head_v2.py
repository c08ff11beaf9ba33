"""The head's additions over the paper: coordinate scales, a trainable bias amplitude, PCA /
whitening, standardised QPU inputs, parameter counts; checked against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qsim

from hybrid.head import HeadConfig, QuantumHead, preset
from hybrid.layers import STANDARDIZE_INIT, AmplitudeEncoder, EncoderConfig, QPUConfig, QPUModule, amplitude_state
from hybrid.preprocess import Projection


def _enc(**kw) -> EncoderConfig:
    return EncoderConfig(**{"n_qubits": 3, "layers": 2, "connectivity": 2, "init": "uniform", "init_scale": 1.0,
                            **kw})


def test_coordinate_scales_and_trainable_bias_match_a_numpy_reference():
    torch.manual_seed(0)
    enc = AmplitudeEncoder(5, _enc(scale="coordinate", bias=0.7, learn_bias=True), dtype=torch.float64)
    with torch.no_grad():
        enc.scale.copy_(torch.linspace(0.5, 2.0, 5, dtype=torch.float64))
        enc.bias.fill_(1.3)
    x = torch.randn(4, 5, dtype=torch.float64)
    out = enc(x)
    e = np.concatenate([x.numpy() * np.linspace(0.5, 2.0, 5), np.full((4, 1), 1.3), np.zeros((4, 2))], axis=1)
    psi = e / np.linalg.norm(e, axis=1, keepdims=True)
    ref = qsim.expval(enc.layer.circuit, qsim.z_each(3), enc.layer.weights.detach().numpy(), None, psi,
                      backend="numpy")
    np.testing.assert_allclose(out.detach().numpy(), ref, atol=1e-12)
    assert enc.n_parameters == enc.config.n_parameters(5) == enc.config.n_weights + 5 + 1
    assert not torch.allclose(enc(x), enc(-x))                       # odd part present


def test_scale_and_bias_gradients_match_finite_differences():
    torch.manual_seed(1)
    enc = AmplitudeEncoder(5, _enc(scale="coordinate", bias=0.7, learn_bias=True), dtype=torch.float64)
    x = torch.randn(3, 5, dtype=torch.float64)
    s0, b0 = enc.scale.detach().clone().requires_grad_(), enc.bias.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda s, b: torch.func.functional_call(enc, {"scale": s, "bias": b}, (x,)),
                                    (s0, b0))


def test_amplitude_state_is_scale_invariant_and_names_bad_rows():
    x = torch.tensor([[3.0, 4.0], [1e30, 2e30]], dtype=torch.float32)
    psi = amplitude_state(x, 1)
    torch.testing.assert_close(psi[0], torch.tensor([0.6, 0.8]))
    torch.testing.assert_close(psi[1], torch.tensor([1.0, 2.0]) / 5**0.5)  # no overflow to a zero state
    with pytest.raises(ValueError, match="row 1 is not finite"):
        amplitude_state(torch.tensor([[1.0, 0.0], [float("inf"), 1.0]]), 1)
    with pytest.raises(ValueError, match="learn_bias needs a non-zero"):
        EncoderConfig(learn_bias=True)
    with pytest.raises(ValueError, match="scale"):
        EncoderConfig(scale="project")


@pytest.mark.parametrize("whiten", [False, True])
def test_projection_matches_numpy_pca(whiten):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8)) @ rng.normal(size=(8, 8)) + 3.0
    proj = Projection(8, 3, whiten=whiten, dtype=torch.float64).fit(X)
    Y = proj(torch.as_tensor(X)).numpy()
    Xc = X - X.mean(0)
    w, V = np.linalg.eigh(np.cov(Xc.T))
    V, w = V[:, ::-1][:, :3], w[::-1][:3]
    ref = Xc @ V
    np.testing.assert_allclose(np.abs(Y), np.abs(ref / (np.sqrt(w) * np.sqrt(3) if whiten else np.sqrt(w.sum()))),
                               rtol=1e-8, atol=1e-10)
    assert np.mean(np.sum(Y**2, axis=1)) == pytest.approx(59 / 60)   # E||x||² = 1 (ddof 1 variances)
    np.testing.assert_allclose(Projection(8, 3, whiten=whiten, dtype=torch.float64).fit(X).basis, proj.basis)
    if whiten:
        np.testing.assert_allclose(np.cov(Y.T) * 3, np.eye(3), atol=1e-10)


def test_projection_errors():
    p = Projection(4, 2)
    with pytest.raises(RuntimeError, match="not fitted"):
        p(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="more than 2 training rows"):
        p.fit(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        p.fit(np.full((5, 4), np.nan))
    with pytest.raises(ValueError, match="zero variance"):
        Projection(4, 3, whiten=True).fit(np.c_[np.random.default_rng(0).normal(size=(9, 2)), np.zeros((9, 2))])
    with pytest.raises(ValueError, match="needs components"):
        HeadConfig(input_dim=8, preprocess="pca")
    with pytest.raises(ValueError, match="needs preprocess"):
        HeadConfig(input_dim=8, components=4)


def test_standardised_qpu_inputs_start_at_half_pi():
    torch.manual_seed(0)
    qpu = QPUModule(3, QPUConfig(reuploads=1, connectivity=1, layers=0, block_layers=0, standardize=True,
                                 measured=3), dtype=torch.float64)
    x = torch.randn(64, 3, dtype=torch.float64) * 0.03 + 0.2           # encoder-like: tiny spread
    qpu.train()
    out = qpu(x)
    gamma, beta = STANDARDIZE_INIT
    z = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + qpu.norm.eps) * gamma + beta
    torch.testing.assert_close(out, torch.cos(np.pi * z))              # RY(πẑ)|0⟩: ⟨Z⟩ = cos(πẑ)
    assert qpu.n_parameters == QPUConfig(reuploads=1, connectivity=1, layers=0, block_layers=0,
                                         standardize=True).n_parameters(3) == 6


def test_head_with_every_addition_counts_and_round_trips(tmp_path):
    cfg = HeadConfig(input_dim=20, preprocess="whiten", components=7, n_encoders=2,
                     encoder=_enc(scale="coordinate", bias=1.0, learn_bias=True),
                     qpu=QPUConfig(reuploads=1, connectivity=1, layers=1, standardize=True))
    torch.manual_seed(0)
    head = QuantumHead(cfg).prepare(np.random.default_rng(0).normal(size=(30, 20)))
    counts = cfg.parameter_counts()
    assert head.n_parameters == counts["total"]
    assert counts["encoders"] == 2 * (cfg.encoder.n_weights + 7 + 1)
    assert counts["qpu"] == cfg.qpu.n_weights(3) + 6
    assert HeadConfig.from_dict(cfg.to_dict()) == cfg
    torch.save(head.state_dict(), tmp_path / "h.pt")
    again = QuantumHead(cfg)
    again.load_state_dict(torch.load(tmp_path / "h.pt", weights_only=True))
    x = torch.randn(5, 20)
    head.eval(), again.eval()
    torch.testing.assert_close(head(x), again(x))


def test_default_preset_is_the_improved_head_and_paper_presets_are_unchanged():
    d = preset("default", 768)
    assert d.preprocess == "pca" and d.encoder.scale == "coordinate" and d.qpu.standardize
    assert d.parameter_counts()["total"] <= 2000
    p = preset("paper-886", 768)
    assert p.preprocess == "none" and p.encoder.scale == "none" and not p.qpu.standardize
    assert p.parameter_counts()["total"] == 886


def test_standardised_qpu_trains_on_a_one_row_batch():
    """435 rows at batch size 2 leave a last mini-batch of one row: batch statistics do not exist there."""
    torch.manual_seed(0)
    qpu = QPUModule(3, QPUConfig(reuploads=1, connectivity=1, layers=1, standardize=True), dtype=torch.float64)
    qpu.train()
    qpu(torch.randn(8, 3, dtype=torch.float64))
    out = qpu(torch.randn(1, 3, dtype=torch.float64))
    out.sum().backward()
    assert out.shape == (1, 1) and qpu.norm.weight.grad is not None


def test_ensemble_is_the_mean_of_independent_members():
    """K members: K times the parameters, logits = the members' mean, each member a complete head
    (its own encoders, QPU and linear layer) that a single head with the same weights reproduces."""
    X = np.random.default_rng(3).normal(size=(60, 24))
    base = HeadConfig(input_dim=24, preprocess="pca", components=7, n_encoders=2,
                      encoder=EncoderConfig(n_qubits=3, layers=1, connectivity=1, bias=1.0),
                      qpu=QPUConfig(reuploads=1, connectivity=1, layers=1), dtype="float64")
    cfg = HeadConfig.from_dict({**base.to_dict(), "ensemble": 3})
    assert HeadConfig.from_dict(cfg.to_dict()) == cfg
    torch.manual_seed(0)
    head = QuantumHead(cfg).prepare(X)
    assert head.n_parameters == cfg.parameter_counts()["total"] == 3 * base.parameter_counts()["total"]
    x = torch.as_tensor(X[:5])
    singles = []
    for member in [head, *head.members]:
        one = QuantumHead(base)
        one.projection.load_state_dict(head.projection.state_dict())
        one.encoders.load_state_dict(member.encoders.state_dict())
        one.qpu.load_state_dict(member.qpu.state_dict())
        one.linear.load_state_dict(member.linear.state_dict())
        singles.append(one(x))
    torch.testing.assert_close(head(x), sum(singles) / 3)
    assert not torch.allclose(singles[0], singles[1])             # members start from their own draws
    assert not any(k.startswith("members.") for k in QuantumHead(base).state_dict())   # K = 1 unchanged
    with pytest.raises(ValueError, match="ensemble"):
        HeadConfig(ensemble=0)


def test_ablation_heads_without_qpu_or_without_encoders():
    """``linear_input="encoders_only"``: no QPU module, logits = Linear(z) of the same encoders;
    ``n_encoders=0``: the QPU module angle-encodes the projection's coordinates directly."""
    X = np.random.default_rng(4).normal(size=(40, 24))
    base = HeadConfig(input_dim=24, preprocess="pca", components=7, n_encoders=2,
                      encoder=EncoderConfig(n_qubits=3, layers=1, connectivity=1, bias=1.0),
                      qpu=QPUConfig(reuploads=2, connectivity=1, layers=1, standardize=True),
                      linear_input="concat", dtype="float64")
    x = torch.as_tensor(X[:5])
    no_qpu = HeadConfig.from_dict({**base.to_dict(), "linear_input": "encoders_only"})
    torch.manual_seed(0)
    head = QuantumHead(no_qpu).prepare(X)
    assert head.qpu is None and head.n_parameters == no_qpu.parameter_counts()["total"]
    assert no_qpu.parameter_counts()["qpu"] == 0 and no_qpu.linear_inputs == 3
    torch.testing.assert_close(head(x), head.linear(head.features(x)))
    no_enc = HeadConfig.from_dict({**base.to_dict(), "n_encoders": 0, "components": 3})
    torch.manual_seed(0)
    head = QuantumHead(no_enc).prepare(X)
    assert len(head.encoders) == 0 and no_enc.qpu_qubits == 3 and no_enc.describe()["encoder_qubits"] == 0
    assert head.n_parameters == no_enc.parameter_counts()["total"] == no_enc.qpu.n_parameters(3) + (3 + 1 + 1) * 2
    z = head.projection(x)
    torch.testing.assert_close(head(x), head.linear(torch.cat([z, head.qpu(z)], dim=1)))
    assert HeadConfig.from_dict(no_enc.to_dict()) == no_enc
    with pytest.raises(ValueError, match="preprocess"):
        HeadConfig(input_dim=24, n_encoders=0)
    with pytest.raises(ValueError, match="no quantum module"):
        HeadConfig.from_dict({**no_enc.to_dict(), "linear_input": "encoders_only"})
