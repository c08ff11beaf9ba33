"""Classical baselines: parameter counts, the matched MLP, and learning a separable problem."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from hybrid.baselines import (
    BASELINE_NAMES,
    LogisticRegressionBaseline,
    MLPBaseline,
    MLPHead,
    SVCBaseline,
    load_baseline,
    make_baseline,
    matched_hidden_size,
    mlp_parameter_count,
    save_baseline,
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


# -------------------------------------------------------------------------------- persistence


def _noisy_problem(seed: int, n: int = 300, d: int = 12):
    """Random, not separable: many points near the decision boundary, so a lossy copy would show."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + 0.7 * X[:, 1] ** 2 + 0.8 * rng.normal(size=n) > 0.5).astype(np.int64)
    return X, y, rng.normal(size=(5000, d)) * 1.5


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(LogisticRegressionBaseline, id="logreg"),
        pytest.param(lambda: LogisticRegressionBaseline(C=0.1), id="logreg-c0.1"),
        pytest.param(lambda: SVCBaseline(C=1.0), id="svc"),
        pytest.param(lambda: SVCBaseline(C=100.0, gamma=0.05), id="svc-c100-gamma"),
    ],
)
def test_sklearn_baselines_round_trip_without_pickle(tmp_path, monkeypatch, seed, make):
    """Issue 10 finding 1 (groundwork): `evaluate` unpickled model.pkl; the scikit-learn heads
    now save as plain arrays plus JSON and load with allow_pickle=False, predicting exactly as
    before."""
    import pickle

    X, y, X_new = _noisy_problem(seed)
    model = make().fit(X, y)
    arrays, meta = model.to_state()
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays.values())
    json.dumps(meta)  # metadata is plain JSON
    again = type(model).from_state(arrays, meta)
    np.testing.assert_array_equal(again.predict(X_new), model.predict(X_new))

    def no_pickle(*args, **kwargs):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    path = save_baseline(tmp_path / "model.npz", model)
    with np.load(path, allow_pickle=False) as npz:  # readable without pickle
        assert json.loads(str(npz["__meta__"]))["class"] == type(model).__name__
    loaded = load_baseline(path)
    assert type(loaded) is type(model) and loaded.config() == model.config()
    np.testing.assert_array_equal(loaded.predict(X_new), model.predict(X_new))
    assert loaded.n_parameters == model.n_parameters and loaded.score(X, y) == model.score(X, y)
    if isinstance(model, SVCBaseline):
        f_loaded = loaded.model.decision_function(X_new)
        np.testing.assert_allclose(f_loaded, model.model.decision_function(X_new), atol=1e-10)


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


LOGREG = {"class": "LogisticRegressionBaseline", "format": 1, "C": 1.0, "max_iter": 10}
SVC = {"class": "SVCBaseline", "format": 1, "C": 1.0, "gamma": "scale", "gamma_value": 0.1}
SVC_ARRAYS = {"intercept": np.zeros(1), "classes": np.array([0, 1]), "n_support": np.array([1, 2])}


def _meta_npz(path, meta, **arrays):
    text = meta if isinstance(meta, str) else json.dumps(meta)
    np.savez(path, __meta__=np.array(text), **arrays)
    return path


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: (p.write_text("not an npz"), p)[1], r"not a .npz archive \(10 bytes"),
        (lambda p: (p.write_bytes(_npy_bytes(np.zeros(3))), p)[1], "is a single .npy array"),
        (lambda p: np.savez(p, a=np.array([{}], dtype=object)) or p, "Object arrays cannot be"),
        (lambda p: np.savez(p, coef=np.zeros((1, 2))) or p, "no baseline metadata"),
        (lambda p: _meta_npz(p, "{oops"), "baseline metadata is not valid JSON"),
        (lambda p: _meta_npz(p, {**SVC, "format": 99}), "baseline format 99"),
        (lambda p: _meta_npz(p, {**SVC, "class": "MLPBaseline"}), "unknown baseline class 'MLP"),
        (lambda p: _meta_npz(p, LOGREG, coef=np.zeros((1, 2)), intercept=np.zeros(1)),
         "missing array 'classes'"),
        (lambda p: _meta_npz(p, LOGREG, coef=np.zeros((1, 2)), intercept=np.zeros(3),
                             classes=np.array([0, 1])), "logreg arrays disagree"),
        (lambda p: _meta_npz(p, {**LOGREG, "C": -1}, coef=np.zeros((1, 2)), intercept=np.zeros(1),
                             classes=np.array([0, 1])), "logreg.C"),
        (lambda p: _meta_npz(p, SVC, support_vectors=np.zeros((3, 2)), dual_coef=np.zeros((1, 2)),
                             **SVC_ARRAYS), "svc arrays disagree"),
        (lambda p: _meta_npz(p, SVC, support_vectors=np.full((3, 2), np.nan),
                             dual_coef=np.zeros((1, 3)), **SVC_ARRAYS),
         "array 'support_vectors' has shape"),
    ],
)
def test_load_baseline_rejects_bad_files_naming_them(tmp_path, make, fragment):
    """Issue 10 finding 1 (groundwork): a bad baseline file is one ValueError naming the file."""
    path = make(tmp_path / "model.npz")
    with pytest.raises(ValueError, match=fragment) as info:
        load_baseline(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_only_sklearn_heads_save_as_arrays(tmp_path):
    """Issue 10 finding 1 (groundwork): MLPs keep torch checkpoints; unfitted heads cannot
    be saved."""
    with pytest.raises(ValueError, match="MLPBaseline cannot be saved as arrays"):
        save_baseline(tmp_path / "m.npz", MLPBaseline(0))
    with pytest.raises(RuntimeError, match="before fit"):
        save_baseline(tmp_path / "m.npz", SVCBaseline())
    with pytest.raises(FileNotFoundError):
        load_baseline(tmp_path / "missing.npz")
