"""Generic training loop: convergence, model selection, early stopping, interrupts, config
round trips and checkpoints."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from hybrid.baselines import MLPHead
from hybrid.seeding import deterministic, seed_everything
from hybrid.training import History, TrainConfig, evaluate, fit, predict


def _quiet(**kw) -> TrainConfig:
    return TrainConfig(progress=False, **kw)


def test_fit_converges_on_separable_problem(separable_problem):
    Xtr, ytr, Xva, yva, Xte, yte = separable_problem
    seed_everything(0)
    model = MLPHead(Xtr.shape[1], 16)
    before = evaluate(model, Xte, yte)
    h = fit(model, Xtr, ytr, Xva, yva, _quiet(lr=1e-2, epochs=30, scheduler="cosine"))
    after = evaluate(model, Xte, yte)
    assert after["accuracy"] >= 0.95 and after["loss"] < before["loss"] and after["n"] == len(yte)
    assert len(h.epochs) == 30 and not h.stopped_early and not h.interrupted
    e = h.epochs[0]
    fields = {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert fields <= set(vars(e))
    assert h.epochs[0].lr == pytest.approx(1e-2) and h.epochs[-1].lr < 1e-3  # cosine decays
    # the model holds the best epoch's weights: acc is the max, ties by lower loss
    best = h.best
    assert best.val_accuracy == max(m.val_accuracy for m in h.epochs)
    assert best.val_loss == min(m.val_loss for m in h.epochs if m.val_accuracy == best.val_accuracy)
    assert evaluate(model, Xva, yva)["accuracy"] == pytest.approx(best.val_accuracy)
    assert predict(model, Xte).shape == (len(Xte),)


def test_fit_is_reproducible(separable_problem):
    Xtr, ytr, Xva, yva, *_ = separable_problem
    cfg = _quiet(
        epochs=3, seed=7, optimizer="adamw", weight_decay=1e-2, scheduler="exponential", gamma=0.5
    )
    runs = []
    for _ in range(2):
        seed_everything(7)
        model = MLPHead(Xtr.shape[1], 8)
        h = fit(model, Xtr, ytr, Xva, yva, cfg)
        weights = torch.cat([p.flatten() for p in model.parameters()])
        runs.append((weights, [m.train_loss for m in h.epochs]))
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert [m.lr for m in h.epochs] == pytest.approx([1e-3, 5e-4, 2.5e-4])


def test_early_stopping_restores_best(separable_problem):
    Xtr, ytr, Xva, yva, *_ = separable_problem
    seed_everything(0)
    model = MLPHead(Xtr.shape[1], 0)
    yva_random = np.random.default_rng(0).integers(0, 2, len(yva))  # nothing to learn on val
    h = fit(model, Xtr, ytr, Xva, yva_random, _quiet(lr=1e-2, epochs=200, patience=3))
    assert h.stopped_early and len(h.epochs) < 200
    assert len(h.epochs) - h.best_epoch == 3
    assert evaluate(model, Xva, yva_random)["accuracy"] == pytest.approx(h.best.val_accuracy)


def test_keyboard_interrupt_returns_best_so_far(separable_problem):
    Xtr, ytr, Xva, yva, *_ = separable_problem
    seed_everything(0)
    batches = math.ceil(len(Xtr) / 32)
    model = _InterruptingMLP(Xtr.shape[1], 0, at=2 * batches + 3)  # in the third epoch
    h = fit(model, Xtr, ytr, Xva, yva, _quiet(lr=1e-2, epochs=10))
    assert h.interrupted and len(h.epochs) == 2 and h.best_epoch in (1, 2)
    assert evaluate(model, Xva, yva)["accuracy"] == pytest.approx(h.best.val_accuracy)
    assert not torch.are_deterministic_algorithms_enabled()  # global state restored


def test_fit_without_validation_and_float64_model(separable_problem):
    Xtr, ytr, *_ = separable_problem
    model = MLPHead(Xtr.shape[1], 4).double()
    h = fit(model, Xtr, ytr, config=_quiet(epochs=2))
    assert h.best_epoch == 2 and math.isnan(h.epochs[0].val_accuracy)
    assert json.loads(json.dumps(h.to_dict()))["epochs"][0]["val_loss"] is None
    assert History.from_dict(h.to_dict()).best_epoch == 2


def test_fit_errors(separable_problem):
    Xtr, ytr, Xva, yva, *_ = separable_problem
    d = Xtr.shape[1]
    with pytest.raises(ValueError, match="needs validation data"):
        fit(MLPHead(d), Xtr, ytr, config=_quiet(patience=2))
    with pytest.raises(ValueError, match="both X_val and y_val"):
        fit(MLPHead(d), Xtr, ytr, Xva, None, _quiet())
    with pytest.raises(ValueError, match=r"y_train must have shape \(200,\)"):
        fit(MLPHead(d), Xtr, ytr[:-1], config=_quiet())
    with pytest.raises(ValueError, match="X_train must be 2-D"):
        fit(MLPHead(d), Xtr[0], ytr, config=_quiet())
    with pytest.raises(ValueError, match="integer class labels"):
        fit(MLPHead(d), Xtr, ytr + 0.5, config=_quiet())
    with pytest.raises(ValueError, match="label 2 out of range"):
        fit(MLPHead(d), Xtr, ytr * 2, config=_quiet())
    with pytest.raises(ValueError, match="logits of shape"):
        fit(nn.Sequential(nn.Linear(d, 2), nn.Flatten(0)), Xtr, ytr, config=_quiet())
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        bad = MLPHead(d)
        with torch.no_grad():
            bad.net.weight.fill_(float("inf"))
        fit(bad, Xtr, ytr, config=_quiet())


# -------------------------------------------------------------------------------- config


def test_config_json_round_trip():
    cfg = TrainConfig(optimizer="adamw", lr=3e-4, weight_decay=0.01, batch_size=16, epochs=7,
                      scheduler="exponential", gamma=0.9, patience=4, seed=11, deterministic=False,
                      progress=False)
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert TrainConfig.from_dict({"lr": 1}).lr == 1.0  # ints are fine for floats
    assert TrainConfig.from_dict({}) == TrainConfig()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"learning_rate": 0.1}, "unknown TrainConfig keys ['learning_rate']"),
        ({"optimizer": "sgd"}, "optimizer must be one of"),
        ({"scheduler": "step"}, "scheduler must be one of"),
        ({"lr": 0}, "lr must be a finite positive number, got 0.0"),
        ({"lr": "fast"}, "lr must be a number, got 'fast'"),
        ({"lr": float("nan")}, "lr must be a finite positive number, got nan"),
        ({"weight_decay": -1}, "weight_decay must be >= 0"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"batch_size": 2.5}, "batch_size must be an integer, got 2.5"),
        ({"epochs": True}, "epochs must be an integer, got True"),
        ({"gamma": 1.5}, "gamma must be <= 1"),
        ({"min_lr": 1.0}, "min_lr must be <= 0.001"),
        ({"patience": 0}, "patience must be >= 1"),
        ({"seed": -1}, "seed must be in [0, 4294967295], got -1"),
        ({"device": "gpu0"}, "bad device 'gpu0'"),
        ({"progress": "yes"}, "progress must be true or false"),
    ],
)
def test_config_errors(data, fragment):
    with pytest.raises(ValueError) as info:
        TrainConfig.from_dict(data)
    assert fragment in str(info.value)


def test_config_json_errors():
    with pytest.raises(ValueError, match="not valid"):
        TrainConfig.from_json("{lr: 1}")
    with pytest.raises(ValueError, match="TrainConfig: expected a JSON object, got list"):
        TrainConfig.from_dict([1, 2])


def test_deterministic_context_restores_state():
    assert not torch.are_deterministic_algorithms_enabled()
    with deterministic():
        assert torch.are_deterministic_algorithms_enabled()
    assert not torch.are_deterministic_algorithms_enabled()
    with pytest.raises(ValueError, match="seed must be"):
        seed_everything(-3)


# -------------------------------------------------------------------------------- issue 10


class _SignalAt(nn.Module):
    """A linear head that sends ``signum`` to this process on its n-th training forward pass."""

    def __init__(self, d: int, at: int, signum: int) -> None:
        super().__init__()
        self.lin = nn.Linear(d, 2)
        self.at, self.signum, self.calls = at, signum, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                import os

                os.kill(os.getpid(), self.signum)
        return self.lin(x)


def test_sigterm_under_stop_signals_ends_fit_like_ctrl_c(separable_problem):
    """Issue 10 finding 2: under hybrid.interrupts.StopSignals (as in `qhybrid train`) SIGTERM stops fit like
    Ctrl-C, before the next mini-batch: the finished epochs are kept, the best weights restored, and the exit
    status is 143 (SIGTERM used to kill the process and lose the run)."""
    import signal

    from hybrid.interrupts import StopSignals

    Xtr, ytr, Xva, yva, *_ = separable_problem
    seed_everything(0)
    batches = math.ceil(len(Xtr) / 32)
    model = _SignalAt(Xtr.shape[1], 2 * batches + 3, signal.SIGTERM)
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        h = fit(model, Xtr, ytr, Xva, yva, _quiet(lr=1e-2, epochs=10))
    assert h.interrupted and len(h.epochs) == 2 and model.calls == 2 * batches + 3   # no batch after the signal
    assert stop.received == signal.SIGTERM and stop.exit_code == 143
    assert evaluate(model, Xva, yva)["accuracy"] == pytest.approx(h.best.val_accuracy)
    assert signal.getsignal(signal.SIGTERM) == before                                # handler restored


class _InterruptingMLP(MLPHead):
    """An MLPHead (same weights and state-dict keys) that raises KeyboardInterrupt on its n-th training pass."""

    def __init__(self, d: int, hidden: int, at: int) -> None:
        super().__init__(d, hidden)
        self.at, self.calls = at, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                raise KeyboardInterrupt
        return super().forward(x)


@pytest.mark.parametrize("scheduler", ["cosine", "exponential"])
def test_checkpoint_and_resume_give_the_weights_of_an_uninterrupted_fit(tmp_path, separable_problem, scheduler):
    """Issue 10 finding 6: fit(checkpoint=...) writes the whole training state after every epoch (atomically,
    loaded with weights_only=True); resuming from the state after epoch 2 of 4 ends with exactly the weights,
    optimizer state and history of a straight 4-epoch fit."""
    from hybrid.training import load_training_state

    Xtr, ytr, Xva, yva, *_ = separable_problem
    cfg = _quiet(lr=1e-2, epochs=4, optimizer="adamw", weight_decay=1e-3, scheduler=scheduler, gamma=0.7, seed=3)
    seed_everything(3)
    straight = MLPHead(Xtr.shape[1], 8)
    h_straight = fit(straight, Xtr, ytr, Xva, yva, cfg)

    batches = math.ceil(len(Xtr) / 32)
    path = tmp_path / "state" / "resume.pt"
    seed_everything(3)
    first = _InterruptingMLP(Xtr.shape[1], 8, at=2 * batches + 1)   # Ctrl-C at the first batch of epoch 3
    h_first = fit(first, Xtr, ytr, Xva, yva, cfg, checkpoint=path, checkpoint_extra={"run": "x"})
    assert h_first.interrupted and len(h_first.epochs) == 2 and path.is_file()
    assert not list(path.parent.glob(".*.tmp"))

    loaded = []
    real_load = torch.load
    state = None

    def spy(*args, **kwargs):
        loaded.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    torch.load = spy
    try:
        state = load_training_state(path)
    finally:
        torch.load = real_load
    assert loaded == [True] and state.epoch == 2 and state.extra == {"run": "x"}

    resumed = MLPHead(Xtr.shape[1], 8)         # any initial weights: the state replaces them
    h = fit(resumed, Xtr, ytr, Xva, yva, cfg, resume_from=state)
    for a, b in zip(resumed.parameters(), straight.parameters()):
        assert torch.equal(a, b)
    strip = lambda hist: [(e.epoch, e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy, e.lr)  # noqa: E731
                          for e in hist.epochs]
    assert strip(h) == strip(h_straight) and h.best_epoch == h_straight.best_epoch and not h.interrupted


def test_resume_refuses_another_config_or_data(tmp_path, separable_problem):
    """Issue 10 finding 6: a training state continues only the same TrainConfig (progress aside) on data
    of the same shape; anything else is a ValueError naming the difference."""
    from hybrid.training import load_training_state

    Xtr, ytr, Xva, yva, *_ = separable_problem
    cfg = _quiet(epochs=2, seed=1)
    path = tmp_path / "resume.pt"
    fit(MLPHead(Xtr.shape[1], 2), Xtr, ytr, Xva, yva, cfg, checkpoint=path)
    state = load_training_state(path)
    with pytest.raises(ValueError, match=r"TrainConfig.lr=0.001, this run has 0.01"):
        fit(MLPHead(Xtr.shape[1], 2), Xtr, ytr, Xva, yva, _quiet(epochs=2, seed=1, lr=1e-2), resume_from=state)
    with pytest.raises(ValueError, match="train_rows=200, this data has 150"):
        fit(MLPHead(Xtr.shape[1], 2), Xtr[:150], ytr[:150], Xva, yva, cfg, resume_from=state)
    h = fit(MLPHead(Xtr.shape[1], 2), Xtr, ytr, Xva, yva, dataclasses.replace(cfg, progress=True), resume_from=state)
    assert len(h.epochs) == 2 and not h.interrupted          # finished before: nothing more to train
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable training state"):
        load_training_state(tmp_path / "junk.pt")


def test_cuda_device_without_cuda_is_a_config_error():
    """Issue 10 finding 10: TrainConfig(device="cuda") on a machine without CUDA used to pass validation and
    fail with a RuntimeError traceback at training time; it is now a ValueError naming the device, and a
    stored config that trained on a GPU still reads back (for the CPU) from checkpoints and run folders."""
    from hybrid.training import readable_train_dict

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match=r"TrainConfig.device='cuda' but this machine has no CUDA device"):
        TrainConfig(device="cuda")
    with pytest.raises(ValueError, match=r"device='cuda:1'"):
        TrainConfig.from_dict({"device": "cuda:1"})
    assert TrainConfig.from_dict(readable_train_dict({"device": "cuda", "lr": 0.5})).device == "cpu"
