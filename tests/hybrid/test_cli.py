"""hybrid.cli / hybrid.experiment: the qhybrid command, run folders, the SST-2 pipeline end to end."""

from __future__ import annotations

import argparse
import json
import re
import types

import pytest

from hybrid import cli
from hybrid.experiment import DataConfig, RunConfig, evaluate_run, read_run_config
from hybrid.head import preset
from hybrid.training import TrainConfig




@pytest.fixture
def data_args(sst2_dir, minilm_npz):
    return ["--data", str(sst2_dir), "--embeddings", str(minilm_npz), "--max-test", "300", "--no-progress"]


# --------------------------------------------------------------------------------------------
# The pipeline end to end on the shared data


def test_train_quantum_then_evaluate(tmp_path, data_args, capsys):
    out = tmp_path / "run"
    rc = cli.main(["train", *data_args, "--epochs", "2", "--encoder-layers", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == cli.EXIT_OK, captured.err
    assert "quantum head" in captured.out and "logistic regression" in captured.out
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.json", "checkpoint.pt"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n"] == 300 and len(metrics["history"]["epochs"]) == 2
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert metrics["reference"]["logreg"]["parameters"] == 385
    cfg, record = read_run_config(out)
    assert cfg.is_quantum and cfg.head.input_dim == 384 and cfg.head.encoder.layers == 1
    assert record["head_info"]["resize"] == "pad" and record["data_info"]["splits"]["train"] == 435
    assert metrics["parameters"] == cfg.head.parameter_counts()["total"]
    rc = cli.main(["evaluate", str(out), "--split", "validation", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and res["n"] == 77
    assert res["accuracy"] == pytest.approx(metrics["validation"]["accuracy"])


def test_train_baseline_and_evaluate(tmp_path, data_args, capsys):
    out = tmp_path / "lr"
    assert cli.main(["train", *data_args, "--baseline", "logreg", "--no-reference", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "model.npz").is_file() and "reference" not in metrics
    capsys.readouterr()
    assert cli.main(["evaluate", str(out)]) == 0
    assert f"test accuracy {metrics['test']['accuracy']:.4f} on 300 sentences" in capsys.readouterr().out


def test_train_mlp_baseline_checkpoint_round_trip(tmp_path, sst2_corpus, minilm_npz):
    from hybrid.experiment import prepare_data, train_run

    data = DataConfig(embeddings=str(minilm_npz), max_test=200)
    data.data = sst2_corpus.source
    ds = prepare_data(data)
    cfg = RunConfig(model="mlp-0", data=data, reference=False,
                    train=TrainConfig(epochs=3, progress=False, patience=None))
    res = train_run(cfg, tmp_path / "mlp", dataset=ds)
    again = evaluate_run(tmp_path / "mlp", "test", dataset=ds)
    assert again["accuracy"] == pytest.approx(res.metrics["test"]["accuracy"])


def test_config_file_and_flag_overrides(tmp_path, data_args, capsys):
    head = preset("default", 384)
    head.n_encoders, head.encoder.layers, head.qpu.layers = 1, 1, 0
    cfg = RunConfig(head=head, train=TrainConfig(epochs=5, progress=False))
    path = tmp_path / "run.json"
    path.write_text(cfg.to_json())
    out = tmp_path / "run"
    rc = cli.main(["train", *data_args, "--config", str(path), "--epochs", "1", "--reuploads", "1",
                   "--no-reference", "--out", str(out), "--json"])
    assert rc == 0, capsys.readouterr().err
    metrics = json.loads(capsys.readouterr().out)
    back, _ = read_run_config(out)
    assert back.train.epochs == 1 and back.head.qpu.reuploads == 1 and back.head.n_encoders == 1
    assert metrics["parameters"] == back.head.parameter_counts()["total"]
    assert RunConfig.from_json(cfg.to_json()) == cfg


# --------------------------------------------------------------------------------------------
# Error paths: one line naming the problem, exit status 2 (usage) or 3 (data)


def _run(argv, capsys):
    rc = cli.main(argv)
    return rc, capsys.readouterr().err


def test_data_errors(tmp_path, capsys, minilm_npz, sst2_dir):
    rc, err = _run(["train", "--data", str(tmp_path / "nope"), "--epochs", "1"], capsys)
    assert rc == cli.EXIT_DATA and "SST-2 data folder not found" in err
    rc, err = _run(["train", "--data", str(sst2_dir), "--embeddings", str(tmp_path / "x.npz")], capsys)
    assert rc == cli.EXIT_DATA and "precomputed embeddings file not found" in err
    rc, err = _run(["evaluate", str(tmp_path)], capsys)
    assert rc == cli.EXIT_DATA and "config.json is missing" in err
    rc, err = _run(["evaluate", str(tmp_path / "missing")], capsys)
    assert rc == cli.EXIT_DATA and "run folder not found" in err


def test_offline_download_says_how_to_pass_a_folder(capsys, monkeypatch):
    from hybrid import data as hdata

    def offline(*args, **kwargs):
        raise hdata.DataUnavailableError("could not download SST-2; pass --data /path/to/sst2")

    monkeypatch.setattr(hdata, "load_sst2_hub", offline)
    rc, err = _run(["train", "--epochs", "1"], capsys)
    assert rc == cli.EXIT_DATA
    assert "downloading SST-2" in err and "--data" in err


def test_usage_errors(tmp_path, capsys, data_args):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc, err = _run(["train", "--config", str(bad)], capsys)
    assert rc == cli.EXIT_USAGE and "not valid JSON" in err
    bad.write_text(json.dumps({"model": "quantum", "epochz": 3}))
    rc, err = _run(["train", "--config", str(bad)], capsys)
    assert rc == cli.EXIT_USAGE and "unknown RunConfig keys ['epochz']" in err
    bad.write_text("[1]")
    rc, err = _run(["train", "--config", str(bad)], capsys)
    assert rc == cli.EXIT_USAGE and "expected a JSON object" in err
    rc, err = _run(["train", "--config", str(tmp_path / "none.json")], capsys)
    assert rc == cli.EXIT_DATA and "--config file not found" in err
    rc, err = _run(["train", "--baseline", "logreg", "--qubits", "5"], capsys)
    assert rc == cli.EXIT_USAGE and "do not apply to the baseline 'logreg'" in err
    rc, err = _run(["train", "--baseline", "random-forest"], capsys)
    assert rc == cli.EXIT_USAGE and "unknown baseline 'random-forest'" in err
    rc, err = _run(["train", *data_args, "--connectivity", "20"], capsys)
    assert rc == cli.EXIT_USAGE and re.search(r"connectivity must be in \[1, \d+\], got 20", err)
    rc, err = _run(["train", *data_args, "--lr", "-1"], capsys)
    assert rc == cli.EXIT_USAGE and "TrainConfig.lr" in err
    rc, err = _run(["train", *data_args, "--noise", '{"p9": 1}'], capsys)
    assert rc == cli.EXIT_USAGE and "unknown noise spec keys ['p9']" in err
    rc, err = _run(["--threads", "0", "evaluate", str(tmp_path)], capsys)
    assert rc == cli.EXIT_USAGE and "--threads 0: must be >= 1" in err
    rc, err = _run(["--threads", "100000", "evaluate", str(tmp_path)], capsys)
    assert rc == cli.EXIT_USAGE and "NUMBA_NUM_THREADS" in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["evaluate", str(tmp_path), "--split", "dev"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        cli.main([])


def test_threads_option(monkeypatch):
    import torch

    import qsim

    # both recorded, neither applied: Numba's OpenMP layer shares torch's OpenMP pool, so a real
    # qsim.set_num_threads(1) would change torch.get_num_threads() for the tests that follow
    seen: list[tuple[str, int]] = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.append(("torch", n)))
    monkeypatch.setattr(qsim, "set_num_threads", lambda n: seen.append(("qsim", n)))
    cli._set_threads(1)
    assert sorted(seen) == [("qsim", 1), ("torch", 1)]
    with pytest.raises(ValueError, match=">= 1"):
        cli._set_threads(0)


# --------------------------------------------------------------------------------------------
# Sub-commands found by entry point (group qhybrid.commands)


def test_every_subcommand_is_an_installed_entry_point():
    from importlib.metadata import entry_points

    found = {ep.name: ep for ep in entry_points(group=cli.COMMAND_GROUP)}
    assert set(found) == {"train", "evaluate", "bench", "energy", "study", "report"}
    assert found["train"].load() is cli.TRAIN and found["evaluate"].load() is cli.EVALUATE
    for ep in found.values():
        command = ep.load()
        assert isinstance(command.help, str) and command.help
        assert callable(command.add_arguments) and callable(command.run)


def test_dispatch_loads_only_the_command_it_runs(monkeypatch, capsys):
    from importlib.metadata import EntryPoint

    seen = {}

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--qubits", type=int, default=3)

    def run(args: argparse.Namespace) -> int:
        seen["qubits"] = args.qubits
        return 7

    fake = types.ModuleType("fake_bench_cli_for_test")
    fake.COMMAND = types.SimpleNamespace(help="a fake benchmark", add_arguments=add_arguments, run=run)
    monkeypatch.setitem(__import__("sys").modules, "fake_bench_cli_for_test", fake)
    group = cli.COMMAND_GROUP
    points = {"bench": EntryPoint("bench", "fake_bench_cli_for_test:COMMAND", group),
              "energy": EntryPoint("energy", "no_such_pkg_for_test.cli:COMMAND", group)}  # never loaded
    monkeypatch.setattr(cli, "_entry_points", lambda: points)
    assert cli.main(["-v", "bench", "--qubits", "12"]) == 7 and seen == {"qubits": 12}
    with pytest.raises(ModuleNotFoundError):  # --help loads every command
        cli.main(["--help"])
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--qubitz", "1"])
    assert exc.value.code == cli.EXIT_USAGE and "--qubitz" in capsys.readouterr().err


def test_the_qhybrid_script_runs_other_packages_commands_without_importing_them_for_train(tmp_path):
    """``qhybrid energy`` reaches energy.cli through its entry point; ``qhybrid evaluate`` imports neither
    bench.cli nor energy.cli (hybrid.cli imports nothing of theirs)."""
    import shutil
    import subprocess
    import sys

    script = shutil.which("qhybrid")
    argv = [script] if script else [sys.executable, "-m", "hybrid.cli"]
    done = subprocess.run([*argv, "energy", "--list-profiles"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "ionq-forte" in done.stdout, done.stderr
    probe = ("import sys; from hybrid import cli; rc = cli.main(['evaluate', sys.argv[1]]); "
             "sys.exit(90 if {'bench.cli', 'energy.cli'} & set(sys.modules) else rc)")
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "missing")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == cli.EXIT_DATA and "run folder not found" in done.stderr


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for name in ("train", "evaluate", "bench", "energy"):
        assert name in text


def test_evaluate_never_unpickles_a_run_folder(tmp_path, data_args, capsys, monkeypatch):
    """Issue 10 finding 1: a crafted model.pkl in a logreg run folder is not loaded (no code from data);
    the classical head is kept as plain arrays (model.npz) and evaluates to the same accuracy."""
    import pickle

    out = tmp_path / "lr"
    assert cli.main(["train", *data_args, "--baseline", "logreg", "--no-reference", "--out", str(out), "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)["test"]["accuracy"]
    assert (out / "model.npz").is_file() and not (out / "model.pkl").exists()
    (out / "model.pkl").write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load was called"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads was called"))
    assert cli.main(["evaluate", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(trained)
    (out / "model.npz").unlink()
    assert cli.main(["evaluate", str(out)]) == cli.EXIT_DATA
    assert "model.npz is missing" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Issue 10 finding 10: one line and exit 2 instead of a traceback


def test_cuda_config_on_a_cpu_machine_is_one_line(tmp_path, data_args, capsys, monkeypatch):
    """Issue 10 finding 10: a config with "train": {"device": "cuda"} on a machine without CUDA used to train
    until fit() raised a RuntimeError traceback; it is now refused at config validation, before any data is
    loaded: one line naming the device, exit 2."""
    import torch

    import hybrid.experiment

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setattr(hybrid.experiment, "prepare_data", lambda *a, **k: pytest.fail("data loaded"))
    path = tmp_path / "cuda.json"
    path.write_text(json.dumps({"train": {"device": "cuda"}}))
    rc, err = _run(["train", *data_args, "--config", str(path), "--out", str(tmp_path / "run")], capsys)
    assert rc == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1
    assert "TrainConfig.device='cuda' but this machine has no CUDA device" in err
    assert not (tmp_path / "run").exists()


def test_huge_mlp_baseline_is_refused_up_front(tmp_path, capsys):
    """Issue 10 finding 10: --baseline mlp-99999999 used to try to allocate 154 GB after loading the data
    (RuntimeError traceback); the hidden size is now bounded, with the reason, in one line, exit 2."""
    from hybrid.experiment import MAX_MLP_HIDDEN

    rc, err = _run(["train", "--baseline", "mlp-99999999", "--out", str(tmp_path / "run")], capsys)
    assert rc == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1
    assert f"hidden size 99999999 is above the maximum {MAX_MLP_HIDDEN} (memory:" in err
    assert RunConfig(model=f"mlp-{MAX_MLP_HIDDEN}").model == f"mlp-{MAX_MLP_HIDDEN}"


def test_evaluate_with_embeddings_of_another_width_is_one_line(tmp_path, data_args, capsys, mpnet_npz):
    """Issue 10 finding 10: evaluating an MLP run (trained on 384-d MiniLM embeddings) with 768-d mpnet
    embeddings used to end in a torch shape traceback; it is now a ValueError naming both widths (exit 2)."""
    out = tmp_path / "mlp"
    assert cli.main(["train", *data_args, "--baseline", "mlp-4", "--epochs", "1", "--no-reference",
                     "--out", str(out)]) == 0
    capsys.readouterr()
    rc, err = _run(["evaluate", str(out), "--embeddings", str(mpnet_npz)], capsys)
    assert rc == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1
    assert "trained on 384-dimensional embeddings" in err and "has 768 dimensions" in err


def test_broken_run_folders_evaluate_to_one_line(tmp_path, data_args, capsys):
    """Issue 10 finding 10: a quantum run whose config.json lost its head (KeyError traceback) or whose head
    does not fit its checkpoint (a multi-line torch message) now fail in one line, exit 2."""
    out = tmp_path / "q"
    assert cli.main(["train", *data_args, "--epochs", "1", "--encoders", "1", "--encoder-layers", "1",
                     "--no-reference", "--out", str(out)]) == 0
    capsys.readouterr()
    record = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**record, "head": {**record["head"], "n_encoders": 2}}))
    rc, err = _run(["evaluate", str(out)], capsys)
    assert rc == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1 and "do not fit QuantumHead" in err
    (out / "config.json").write_text(json.dumps({"model": "quantum"}))
    rc, err = _run(["evaluate", str(out)], capsys)
    assert rc == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1 and "has no 'head' object" in err


def test_diverging_training_is_one_line(tmp_path, data_args, capsys):
    """Issue 10 finding 10: a learning rate that makes the loss NaN ended in a FloatingPointError traceback
    (exit 1); it is now one line naming the learning rate, exit 2, and no run folder is written."""
    out = tmp_path / "mlp"
    rc, err = _run(["train", *data_args, "--baseline", "mlp-4", "--lr", "1e30", "--epochs", "2", "--no-reference",
                    "--out", str(out)], capsys)
    assert rc == cli.EXIT_USAGE and "Traceback" not in err
    assert "lower the learning rate (lr=1e+30)" in err.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


def test_no_registered_commands_is_one_line(monkeypatch, capsys):
    """Run from a checkout that was never installed: one line saying how to register the commands."""
    import hybrid.cli as cli

    monkeypatch.setattr(cli, "_entry_points", dict)
    assert cli.main(["train", "--help"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install -e ." in err[0]
