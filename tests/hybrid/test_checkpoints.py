"""hybrid.checkpoints: checkpoint files of trained heads and the resumable training state (their
round trips, errors in one line, the random-number states they carry), and the names
hybrid.training keeps for them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybrid.baselines import MLPHead
from hybrid.checkpoints import (
    Checkpoint,
    TrainingState,
    check_resumable,
    load_checkpoint,
    load_training_state,
    save_checkpoint,
    save_training_state,
)
from hybrid.config import JSONConfig, TrainConfig
from hybrid.seeding import seed_everything
from hybrid.training import fit, predict


def _quiet(**kw) -> TrainConfig:
    return TrainConfig(progress=False, **kw)


def test_checkpoint_round_trip(tmp_path, separable_problem):
    Xtr, ytr, *_ = separable_problem
    seed_everything(1)
    model = MLPHead(Xtr.shape[1], 5)
    cfg = _quiet(epochs=2)
    h = fit(model, Xtr, ytr, config=cfg)
    path = save_checkpoint(tmp_path / "run" / "head.pt", model, cfg,
                           extra={"history": h.to_dict(), "model": {"hidden": 5}})
    assert path.is_file() and not list(path.parent.glob(".*.tmp"))
    fresh = MLPHead(Xtr.shape[1], 5)
    ckpt = load_checkpoint(path, fresh)
    assert isinstance(ckpt, Checkpoint) and ckpt.config == cfg
    assert ckpt.extra["model"] == {"hidden": 5} and ckpt.model_class.endswith("MLPHead")
    np.testing.assert_array_equal(predict(fresh, Xtr), predict(model, Xtr))
    with pytest.raises(ValueError, match="do not fit MLPHead"):
        load_checkpoint(path, MLPHead(Xtr.shape[1], 6))


def test_checkpoint_errors(tmp_path):
    model = MLPHead(4, 0)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a qhybrid-checkpoint file"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_checkpoint(tmp_path / "x.pt", model, extra={"array": np.zeros(2)})




def test_checkpoint_that_does_not_fit_is_one_line(tmp_path):
    """Issue 10 finding 10: weights that do not fit the model are reported in one line (torch's message
    spans several)."""
    path = save_checkpoint(tmp_path / "m.pt", MLPHead(4, 3))
    with pytest.raises(ValueError) as info:
        load_checkpoint(path, MLPHead(5, 3))
    assert "\n" not in str(info.value) and "size mismatch" in str(info.value)


def test_training_keeps_its_names():
    """Everything importable from hybrid.training before the split still is, as the same objects."""
    import hybrid
    import hybrid.checkpoints as ck
    import hybrid.config as config
    import hybrid.training as tr

    for name in ("Checkpoint", "TrainingState", "save_checkpoint", "load_checkpoint", "save_training_state",
                 "load_training_state", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "TRAINING_STATE_FORMAT",
                 "TRAINING_STATE_VERSION"):
        assert getattr(tr, name) is getattr(ck, name)
    for name in ("TrainConfig", "readable_train_dict", "OPTIMIZERS", "SCHEDULERS", "SELECTIONS"):
        assert getattr(tr, name) is getattr(config, name)
    assert issubclass(TrainConfig, JSONConfig)
    assert hybrid.TrainConfig is TrainConfig and hybrid.save_checkpoint is save_checkpoint


def test_training_state_round_trip_restores_every_random_state(tmp_path):
    """capture -> save -> load -> restore gives back the weights, the optimizer state and the very next
    draws of torch's, NumPy's and the mini-batch order's generators (compared with draws taken right
    after the capture)."""
    seed_everything(5)
    model = MLPHead(4, 3)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    order = torch.Generator().manual_seed(9)
    torch.randperm(7, generator=order)
    state = TrainingState.capture(epoch=1, model=model, optimizer=opt, scheduler=None, history={"epochs": []},
                                  best_key=(0.5, -1.0), best_state=model.state_dict(), stale=0, order_rng=order,
                                  config=_quiet(epochs=3), shape={"train_rows": 7}, extra={"run": 1})
    expected = (torch.rand(3), np.random.rand(3), torch.randperm(7, generator=order))
    path = save_training_state(tmp_path / "s" / "resume.pt", state)
    back = load_training_state(path)
    assert back.extra == {"run": 1} and back.best_key == [0.5, -1.0] and back.epoch == 1

    fresh, order2 = MLPHead(4, 3), torch.Generator()
    opt2 = torch.optim.Adam(fresh.parameters(), lr=0.1)
    back.restore(fresh, opt2, None, order2)
    for a, b in zip(fresh.parameters(), model.parameters()):
        assert torch.equal(a, b)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert torch.equal(torch.rand(3), expected[0]) and np.array_equal(np.random.rand(3), expected[1])
    assert torch.equal(torch.randperm(7, generator=order2), expected[2])
    with pytest.raises(ValueError, match="does not fit this model") as info:
        back.restore(MLPHead(5, 3), opt2, None, order2)
    assert "\n" not in str(info.value)


def test_check_resumable_names_the_first_difference():
    state = TrainingState(epoch=2, model={}, optimizer={}, scheduler=None, history={}, best_key=None,
                          best_state=None, stale=0, order_rng=torch.Generator().get_state(),
                          torch_rng=torch.get_rng_state(), numpy_rng={}, config=_quiet(epochs=4).to_dict(),
                          shape={"train_rows": 10, "features": 3})
    check_resumable(state, TrainConfig(epochs=4, progress=True), {"train_rows": 10, "features": 3})  # display only
    with pytest.raises(ValueError, match="TrainConfig.epochs=4, this run has 5"):
        check_resumable(state, _quiet(epochs=5), {"train_rows": 10})
    with pytest.raises(ValueError, match="features=3, this data has 4"):
        check_resumable(state, _quiet(epochs=4), {"train_rows": 10, "features": 4})


def test_other_versions_are_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", MLPHead(4, 0))
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, "version": 99}, tmp_path / "v99.pt")
    with pytest.raises(ValueError, match="checkpoint version 99; this qhybrid reads version 1"):
        load_checkpoint(tmp_path / "v99.pt")
    torch.save({"format": "qhybrid-training-state", "version": 99}, tmp_path / "s99.pt")
    with pytest.raises(ValueError, match="training state version 99"):
        load_training_state(tmp_path / "s99.pt")
    with pytest.raises(FileNotFoundError, match="training state not found"):
        load_training_state(tmp_path / "none.pt")
