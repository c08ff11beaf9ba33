"""Run folders as one artifact (issue 10 findings 2-6): checked first, written aside and renamed into
place whole, locked against a second writer, never replaced silently; SIGINT/SIGTERM stop cleanly and
``--resume`` continues an interrupted run to the weights of an uninterrupted one."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import torch

from hybrid import cli
from hybrid.runfolder import RunFolder, RunFolderError, check_out_dir

#: A small quantum head (fast): one encoder, one layer, one re-upload.
TINY_HEAD = ["--encoders", "1", "--encoder-layers", "1", "--reuploads", "1"]
#: Mini-batches per epoch on the paper split's 435 training sentences at the default batch size 32.
BATCHES_PER_EPOCH = 14


@pytest.fixture
def data_args(sst2_dir, minilm_npz):
    return ["--data", str(sst2_dir), "--embeddings", str(minilm_npz), "--max-test", "100", "--no-progress",
            "--no-reference"]


def _run(argv, capsys):
    rc = cli.main(argv)
    captured = capsys.readouterr()
    return rc, captured.err


def _last_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _signal_at_training_call(monkeypatch, call: int, signum: int) -> None:
    """From now on, make the quantum head send ``signum`` to this process on its ``call``-th training
    forward pass."""
    from hybrid.head import QuantumHead

    calls = [0]
    forward = QuantumHead.forward

    def counting(self, x):
        if self.training:
            calls[0] += 1
            if calls[0] == call:
                os.kill(os.getpid(), signum)
        return forward(self, x)

    monkeypatch.setattr(QuantumHead, "forward", counting)


def _weights(folder):
    return torch.load(folder / "checkpoint.pt", weights_only=True)["state_dict"]


# --------------------------------------------------------------------------------------------
# Finding 3: an existing --out is never replaced silently


def test_existing_out_is_refused_unless_overwrite(tmp_path, data_args, capsys):
    """Issue 10 finding 3: a second `train --out X` into an existing run used to overwrite it silently
    (leaving the old checkpoint.pt beside a new model.npz); now it is refused in one line (exit 2) and
    the old run is untouched; --overwrite replaces the folder as a whole (no file of the old run left)."""
    out = tmp_path / "run"
    assert cli.main(["train", *data_args, "--baseline", "mlp-0", "--epochs", "1", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"config.json", "metrics.json", "checkpoint.pt"}
    capsys.readouterr()

    rc, err = _run(["train", *data_args, "--baseline", "logreg", "--out", str(out)], capsys)
    assert rc == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1
    assert f"--out {out}: already exists (a finished run); pass --overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    rc, err = _run(["train", *data_args, "--baseline", "logreg", "--out", str(out), "--overwrite"], capsys)
    assert rc == 0, err
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.json", "model.npz"}   # no old checkpoint.pt
    assert json.loads((out / "metrics.json").read_text())["model"] == "logreg"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]                           # no lock, no leftovers


def test_overwrite_replaces_only_run_folders(tmp_path, capsys):
    """Issue 10 finding 3: --overwrite never deletes a folder that is not a run folder (a mistyped --out)."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.tex").write_text("keep me")
    with pytest.raises(RunFolderError, match="not a qhybrid run folder"):
        check_out_dir(notes, overwrite=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_out_dir(empty) == empty          # an empty folder is as good as none
    assert (notes / "thesis.tex").read_text() == "keep me"


# --------------------------------------------------------------------------------------------
# Finding 4: the folder appears whole; one writer at a time


def test_failed_write_leaves_the_old_run_whole(tmp_path, data_args, capsys, monkeypatch):
    """Issue 10 finding 4: a full disk while writing a rerun used to leave the new config.json beside the old
    model (and `evaluate` reported the old model under the new config); now the run is written aside, the
    failure is one line (exit 2) and the old run folder is exactly as it was, with no temporary left."""
    import hybrid.checkpoints

    out = tmp_path / "run"
    assert cli.main(["train", *data_args, "--baseline", "logreg", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()

    def full_disk(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(hybrid.checkpoints, "save_checkpoint", full_disk)
    rc, err = _run(["train", *data_args, "--baseline", "mlp-0", "--epochs", "1", "--out", str(out), "--overwrite"],
                   capsys)
    assert rc == cli.EXIT_USAGE and "Traceback" not in err
    assert _last_line(err).startswith(f"qhybrid train: --out {out}: could not write the run folder (No space left")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_second_writer_is_locked_out_and_a_stale_lock_is_taken_over(tmp_path):
    """Issue 10 finding 4: two trainings into one --out used to mix their files; the second writer is now
    refused while the first holds <out>.lock, and the lock of a process that is gone is taken over."""
    out = tmp_path / "run"
    with RunFolder(out) as first:
        assert first.lock.read_text().split() == [str(os.getpid()), socket.gethostname()]
        with pytest.raises(RunFolderError, match=r"this process \(\d+\) is writing this run folder"):
            with RunFolder(out, overwrite=True):
                pass
        assert first.staging.is_dir()
    assert not (tmp_path / "run.lock").exists() and not (tmp_path / "run.partial").exists()

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "run.lock").write_text(f"{gone.pid} {socket.gethostname()}\n")
    with RunFolder(out) as rf:
        rf.commit(lambda folder: (folder / "metrics.json").write_text('{"status": "finished"}'))
    assert (out / "metrics.json").is_file() and not (tmp_path / "run.lock").exists()


# --------------------------------------------------------------------------------------------
# Finding 5: the output location is checked before any work


def test_out_is_checked_before_any_data_is_loaded(tmp_path, data_args, capsys, monkeypatch):
    """Issue 10 finding 5: --out under a file, or in a folder that cannot be written, used to fail with a
    traceback after the whole run; now one line naming the path, exit 2, before any data is loaded."""
    import hybrid.experiment

    monkeypatch.setattr(hybrid.experiment, "prepare_data", lambda *a, **k: pytest.fail("data loaded before the check"))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    rc, err = _run(["train", *data_args, "--out", str(blocker / "run")], capsys)
    assert rc == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1
    assert f"--out {blocker / 'run'}: cannot create it, {blocker} is a file, not a folder" in err
    rc, err = _run(["train", *data_args, "--out", str(blocker)], capsys)
    assert rc == cli.EXIT_USAGE and f"--out {blocker}: exists and is not a folder" in err

    locked = tmp_path / "read-only"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(locked) else real_access(p, mode))
    rc, err = _run(["train", *data_args, "--out", str(locked / "runs" / "x")], capsys)
    assert rc == cli.EXIT_USAGE and f"cannot create it, {locked} is not writable" in err
    assert not (locked / "runs").exists()


def test_the_check_creates_nothing(tmp_path, data_args, capsys, monkeypatch):
    """Issue 10 finding 5: checking the default --out (runs/<time>-<model>) creates no folder; a run that then
    stops on a usage error leaves the working folder as it was."""
    monkeypatch.chdir(tmp_path)
    rc, err = _run(["train", *data_args, "--connectivity", "20"], capsys)
    assert rc == cli.EXIT_USAGE and "connectivity must be in" in err
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Finding 2: interrupted runs are not reported as successes


def test_sigterm_in_the_first_epoch_writes_no_run_folder(tmp_path, data_args, capsys, monkeypatch):
    """Issue 10 finding 2: a stop in epoch 1 used to save the untrained model as a normal run with exit 0;
    now SIGTERM before the first finished epoch writes nothing (no folder, no partial) and exits 143."""
    out = tmp_path / "run"
    _signal_at_training_call(monkeypatch, 3, signal.SIGTERM)
    rc, err = _run(["train", *data_args, *TINY_HEAD, "--epochs", "3", "--out", str(out)], capsys)
    assert rc == cli.EXIT_SIGTERM == 143
    assert "interrupted before the first epoch finished: no run folder written" in _last_line(err)
    assert list(tmp_path.iterdir()) == []


def test_sigint_after_two_epochs_keeps_the_best_so_far_marked_interrupted(tmp_path, data_args, capsys, monkeypatch):
    """Issue 10 finding 2: Ctrl-C after finished epochs keeps the best-so-far model, but metrics.json says
    "status": "interrupted" and the exit status is 130 (it used to be 0, like a finished run)."""
    out = tmp_path / "run"
    _signal_at_training_call(monkeypatch, 2 * BATCHES_PER_EPOCH + 2, signal.SIGINT)
    rc, err = _run(["train", *data_args, *TINY_HEAD, "--epochs", "5", "--out", str(out)], capsys)
    assert rc == cli.EXIT_SIGINT == 130
    assert "interrupted after 2 finished epochs" in _last_line(err) and "--resume" in _last_line(err)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and len(metrics["history"]["epochs"]) == 2
    assert metrics["history"]["interrupted"] and metrics["history"]["best_epoch"] in (1, 2)
    rc = cli.main(["evaluate", str(out), "--split", "validation", "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(
        metrics["validation"]["accuracy"])


# --------------------------------------------------------------------------------------------
# Finding 6: periodic checkpoints and --resume


def test_resume_after_sigterm_gives_the_weights_of_an_uninterrupted_run(tmp_path, data_args, capsys, monkeypatch):
    """Issue 10 finding 6: SIGTERM used to lose the whole run (no checkpoint, no resume).  Now every epoch
    is checkpointed in <out>.partial; SIGTERM in epoch 3 of 4 exits 143 with the best-so-far model, and
    `--resume` finishes the run with exactly the weights and history of an uninterrupted 4-epoch run."""
    straight, out = tmp_path / "straight", tmp_path / "resumed"
    argv = ["train", *data_args, *TINY_HEAD, "--epochs", "4"]
    assert cli.main([*argv, "--out", str(straight)]) == 0
    capsys.readouterr()

    _signal_at_training_call(monkeypatch, 2 * BATCHES_PER_EPOCH + 1, signal.SIGTERM)   # first batch of epoch 3
    rc, err = _run([*argv, "--out", str(out)], capsys)
    assert rc == cli.EXIT_SIGTERM, err
    assert json.loads((out / "metrics.json").read_text())["status"] == "interrupted"
    assert (tmp_path / "resumed.partial" / "resume.pt").is_file()

    rc, err = _run([*argv, "--out", str(out)], capsys)                     # no silent restart over it
    assert rc == cli.EXIT_USAGE and "pass --overwrite to replace it or --resume to continue it" in err
    rc, err = _run([*argv, "--out", str(out), "--resume"], capsys)
    assert rc == 0, err
    resumed = json.loads((out / "metrics.json").read_text())
    reference = json.loads((straight / "metrics.json").read_text())
    assert resumed["status"] == "finished" and len(resumed["history"]["epochs"]) == 4

    def no_seconds(h):
        return [{k: v for k, v in e.items() if k != "seconds"} for e in h["epochs"]]

    assert no_seconds(resumed["history"]) == no_seconds(reference["history"])
    a, b = _weights(out), _weights(straight)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["test"] == reference["test"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resumed", "straight"]
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "config.json", "metrics.json"]

    # --resume of a finished run reads it back instead of training again
    mtime = (out / "metrics.json").stat().st_mtime_ns
    rc, err = _run([*argv, "--out", str(out), "--resume"], capsys)
    assert rc == 0 and "finished run (--resume): reading it back" in err
    assert (out / "metrics.json").stat().st_mtime_ns == mtime


def test_resume_refuses_a_partial_run_of_other_settings(tmp_path, data_args, capsys, monkeypatch):
    """Issue 10 finding 6: --resume continues only the run it was started as (other head: one line, exit 2)."""
    out = tmp_path / "run"
    _signal_at_training_call(monkeypatch, BATCHES_PER_EPOCH + 1, signal.SIGTERM)
    assert cli.main(["train", *data_args, *TINY_HEAD, "--epochs", "3", "--out", str(out)]) == cli.EXIT_SIGTERM
    capsys.readouterr()
    rc, err = _run(["train", *data_args, *TINY_HEAD, "--qpu-layers", "2", "--epochs", "3", "--out", str(out),
                    "--resume"], capsys)
    assert rc == cli.EXIT_USAGE and "was started with other settings" in err
    rc, err = _run(["train", *data_args, *TINY_HEAD, "--epochs", "4", "--out", str(out), "--resume"], capsys)
    assert rc == cli.EXIT_USAGE and "TrainConfig.epochs=3, this run has 4" in err
    assert (tmp_path / "run.partial" / "resume.pt").is_file()          # kept for a correct --resume


# --------------------------------------------------------------------------------------------
# Run assembly belongs to the run: the environment read once, the files used recorded, head overrides


def test_data_config_reads_the_environment_once_and_explicit_values_win(monkeypatch, tmp_path):
    from hybrid.experiment import DataConfig

    assert DataConfig().resolved() == DataConfig()                          # nothing set: the hub, encode
    monkeypatch.setenv("QHYBRID_DATA", str(tmp_path / "sst2"))
    monkeypatch.setenv("QHYBRID_EMBEDDINGS", str(tmp_path / "e.npz"))
    got = DataConfig(seed=3).resolved()
    assert (got.data, got.embeddings, got.seed) == (str(tmp_path / "sst2"), str(tmp_path / "e.npz"), 3)
    assert DataConfig(data="mine", embeddings="mine.npz").resolved() == DataConfig(data="mine", embeddings="mine.npz")
    assert DataConfig().resolved(precomputed=False).embeddings is None     # a fine-tuned body re-encodes


def test_a_run_records_the_files_it_took_from_the_environment(tmp_path, sst2_dir, minilm_npz, monkeypatch):
    """A run whose data and embeddings came from $QHYBRID_DATA / $QHYBRID_EMBEDDINGS used to record
    "embeddings": null, so evaluating it needed the same environment; it now records the files, and
    evaluates without the variables."""
    from hybrid.experiment import DataConfig, RunConfig, evaluate_run, read_run_config, train_run

    monkeypatch.setenv("QHYBRID_DATA", str(sst2_dir))
    monkeypatch.setenv("QHYBRID_EMBEDDINGS", str(minilm_npz))
    result = train_run(RunConfig(model="logreg", data=DataConfig(max_test=100), reference=False), tmp_path / "run")
    cfg, record = read_run_config(tmp_path / "run")
    assert record["data"]["embeddings"] == str(minilm_npz.resolve()) == cfg.data.embeddings
    assert record["data"]["data"] == str(sst2_dir.resolve())
    assert record["data_info"]["embeddings"] == str(minilm_npz)
    monkeypatch.delenv("QHYBRID_DATA")
    monkeypatch.delenv("QHYBRID_EMBEDDINGS")
    again = evaluate_run(tmp_path / "run", "test")
    assert again["n"] == 100 and again["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"])


def test_head_overrides_are_part_of_the_run_config():
    from hybrid.experiment import RunConfig
    from hybrid.head import preset

    overrides = {"encoder.layers": 1, "qpu.reuploads": 1, "n_encoders": 1}
    cfg = RunConfig(head_overrides=overrides)
    expected = preset("default", 384)
    expected.encoder.layers, expected.qpu.reuploads, expected.n_encoders = 1, 1, 1
    assert cfg.head_for(384) == expected and RunConfig.from_json(cfg.to_json()) == cfg
    resolved = cfg.for_input_dim(384)
    assert resolved.head == expected and resolved.head_overrides is None
    assert RunConfig().with_head_changes(overrides, 384) == resolved
    assert RunConfig(model="mlp-matched", head_overrides=overrides).head_for(384) == expected
    with pytest.raises(ValueError, match=r"quantum-head options \['qpu.reuploads'\] do not apply to the baseline"):
        RunConfig(model="logreg", head_overrides={"qpu.reuploads": 2})
    with pytest.raises(ValueError, match="unknown head setting 'qpu.nothing.deep'"):
        RunConfig(head_overrides={"qpu.nothing.deep": 1}).head_for(384)
    with pytest.raises(ValueError, match="head_overrides must map dotted head settings"):
        RunConfig(head_overrides=[("qpu.reuploads", 2)])


def test_train_run_applies_head_overrides_after_loading_the_data(tmp_path, sst2_dir, minilm_npz):
    """The Python API expresses "the default preset with other settings" without the CLI: train_run applies
    RunConfig.head_overrides once the embedding size is known and records the head they give."""
    from hybrid.experiment import DataConfig, RunConfig, read_run_config, train_run

    cfg = RunConfig(data=DataConfig(data=str(sst2_dir), embeddings=str(minilm_npz), max_test=50), reference=False,
                    train={"epochs": 1, "progress": False, "patience": None},
                    head_overrides={"n_encoders": 1, "encoder.layers": 1, "qpu.reuploads": 1})
    result = train_run(cfg, tmp_path / "run")
    back, record = read_run_config(tmp_path / "run")
    assert back.head == cfg.head_for(384) and back.head_overrides is None and record["head_overrides"] is None
    assert result.metrics["parameters"] == back.head.parameter_counts()["total"]
