"""Classical baselines: parameter counts, the matched MLP, and learning a separable problem."""

from __future__ import annotations

import numpy as np
import pytest

from hybrid.baselines import (
    BASELINE_NAMES,
    LogisticRegressionBaseline,
    MLPBaseline,
    MLPHead,
    SVCBaseline,
    make_baseline,
    matched_hidden_size,
    mlp_parameter_count,
)
from hybrid.training import TrainConfig

D = 768


@pytest.mark.parametrize(
    ("hidden", "count"), [(0, 1538), (48, 37010), (96, 74018), (144, 111026), (192, 148034)]
)
def test_mlp_parameter_counts_match_the_paper(hidden, count):
    assert mlp_parameter_count(D, hidden) == count
    assert MLPHead(D, hidden).n_parameters == count
    assert make_baseline(f"mlp-{hidden}", input_dim=D).n_parameters == count


def test_logreg_parameter_count():
    assert LogisticRegressionBaseline(input_dim=D).n_parameters == 769
    X = np.random.default_rng(0).normal(size=(20, D))
    y = np.arange(20) % 2
    assert make_baseline("logreg").fit(X, y).n_parameters == 769
    with pytest.raises(RuntimeError, match="input_dim"):
        LogisticRegressionBaseline().n_parameters


@pytest.mark.parametrize(
    ("budget", "hidden"),
    [
        (886, 1), (1538, 0), (1540, 0), (37010, 48), (37010 + 300, 48), (37010 + 500, 49),
        (10, 1), (2000, 3),
    ],
)
def test_matched_hidden_size(budget, hidden):
    assert matched_hidden_size(budget, D) == hidden
    best = abs(mlp_parameter_count(D, hidden) - budget)
    for h in range(0, 200):
        assert abs(mlp_parameter_count(D, h) - budget) >= best


def test_mlp_matched_baseline(separable_problem):
    Xtr, ytr, Xva, yva, *_ = separable_problem
    cfg = TrainConfig(epochs=2, progress=False)
    b = make_baseline("mlp-matched", parameter_budget=200, train_config=cfg)
    b.fit(Xtr, ytr, Xva, yva)
    d = Xtr.shape[1]
    assert b.hidden == matched_hidden_size(200, d)
    assert b.n_parameters == mlp_parameter_count(d, b.hidden)
    assert b.name == "mlp-matched" and b.config()["parameter_budget"] == 200
    with pytest.raises(ValueError, match="parameter_budget"):
        make_baseline("mlp-matched")


def test_make_baseline_names_and_errors():
    for name in BASELINE_NAMES:
        kw = {"parameter_budget": 886} if name == "mlp-matched" else {}
        assert make_baseline(name, **kw).name in (name, "svc")
    svc = make_baseline("svc-c100")
    assert isinstance(svc, SVCBaseline) and svc.C == 100.0
    assert make_baseline("svc", C=100).C == 100.0
    assert make_baseline("mlp-7").hidden == 7
    with pytest.raises(ValueError, match="unknown baseline 'forest'"):
        make_baseline("forest")
    with pytest.raises(ValueError, match="fixes C"):
        make_baseline("svc-c1", C=3)
    with pytest.raises(ValueError, match="exactly one"):
        MLPBaseline(hidden=3, parameter_budget=10)
    with pytest.raises(RuntimeError, match="after fit"):
        SVCBaseline().n_parameters
    with pytest.raises(RuntimeError, match="before fit"):
        SVCBaseline().predict(np.zeros((1, 2)))


@pytest.mark.parametrize("name", ["logreg", "svc", "svc-c100", "mlp-0", "mlp-48"])
def test_baselines_learn_a_separable_problem(separable_problem, name):
    Xtr, ytr, Xva, yva, Xte, yte = separable_problem
    kw = {}
    if name.startswith("mlp"):
        kw["train_config"] = TrainConfig(lr=1e-2, epochs=40, patience=10, progress=False)
    b = make_baseline(name, **kw).fit(Xtr, ytr, Xva, yva)
    acc = b.score(Xte, yte)
    assert acc >= 0.93, f"{name}: test accuracy {acc}"
    assert b.predict(Xte).dtype == np.int64
    if name.startswith("svc"):
        assert 0 < b.n_parameters <= len(Xtr)


def test_mlp_baseline_is_seeded(separable_problem):
    Xtr, ytr, Xva, yva, Xte, _ = separable_problem
    cfg = TrainConfig(epochs=3, seed=5, progress=False)
    a = MLPBaseline(8, train_config=cfg).fit(Xtr, ytr, Xva, yva)
    b = MLPBaseline(8, train_config=cfg).fit(Xtr, ytr, Xva, yva)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert p.equal(q)
    # without validation data the early stopping is switched off rather than failing
    c = MLPBaseline(8, train_config=TrainConfig(epochs=2, patience=1, progress=False)).fit(Xtr, ytr)
    assert len(c.history.epochs) == 2
