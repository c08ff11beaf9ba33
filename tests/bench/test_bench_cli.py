"""The command line: argument errors, --list, planning, and a tiny run end to end."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from bench import cli
from bench.harness import QUICK, Options, _run_job, plan
from bench.report import JSON_NAME, MARKDOWN_NAME, PLOT_NAMES
from bench.schema import load
from bench.worker import Job


def _parse(argv):
    parser = argparse.ArgumentParser(prog="qhybrid bench")
    cli.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("argv,message", [
    (["--qubits", "20-x"], "invalid qubit list '20-x'"),
    (["--qubits", "26-20"], "invalid qubit list '26-20'"),
    (["--qubits", "0-3"], "0 is outside 1..36"),
    (["--qubits", "8,,9"], "empty item"),
    (["--batch", "0"], "invalid batch list '0'"),
    (["--threads", "two"], "invalid thread list 'two'"),
    (["--workloads", "W1,W9"], "unknown workload 'W9'"),
    (["--peers", "qulax"], "unknown peer 'qulax'"),
    (["--backends", "jax"], "unknown backend 'jax'"),
    (["--precision", "half"], "unknown precision 'half'"),
    (["--budget", "0"], "invalid budget '0'"),
    (["--budget", "soon"], "invalid budget 'soon'"),
    (["--layers", "0"], "invalid layer count '0'"),
    (["--max-repeats", "0"], "invalid repeat count '0'"),
])
def test_bad_arguments_are_named(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        _parse(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_good_arguments():
    a = _parse(["-w", "w1,W3", "-n", "8-12:2,20", "--peers", "lightning,aer", "--precision", "single",
                "--threads", "1,2", "--budget", "2.5"])
    o = cli.options_from_args(a)
    assert o.workloads == ("W1", "W3") and o.qubits == (8, 10, 12, 20)
    assert o.peers == ("pennylane-lightning", "qiskit-aer") and o.precisions == ("single",)
    assert o.threads == (1, 2) and o.budget == 2.5
    assert cli.options_from_args(_parse(["--peers", "none"])).peers == ()
    assert cli.options_from_args(_parse(["--peers", "all"])).peers is None


def test_list(capsys):
    assert cli.run(_parse(["--list"])) == 0
    out = capsys.readouterr().out
    assert "W1" in out and "qhybrid-numba" in out and "W4" in out


def test_plan_reference_first_and_quick_defaults():
    p = plan(Options(workloads=("W1", "W3"), qubits=(4,), precisions=("single",), backends=("numba",), peers=(),
                     threads=(1,)))
    assert [(j.workload, j.simulator, j.dtype, j.reference) for j in p.jobs] == [
        ("W1", "qhybrid-numba", "complex128", True), ("W1", "qhybrid-numba", "complex64", False),
        ("W3", "qhybrid-numba", "complex128", True), ("W3", "qhybrid-numba", "complex64", False),
        ("W3", "qhybrid-numba-forward", "complex64", False)]
    q = plan(Options(quick=True, workloads=("W1", "W2")))
    assert all(j.budget == QUICK.budget for j in q.jobs)
    assert {j.simulator for j in q.jobs if j.workload == "W2"} <= {"qhybrid-numba", "qulacs", "pennylane-default"}
    assert all(j.dtype == "complex128" for j in q.jobs)



def test_unavailable_workload_gives_skipped_rows(monkeypatch):
    from bench.workloads import WORKLOADS

    monkeypatch.setitem(WORKLOADS, "W4", dataclasses.replace(WORKLOADS["W4"],
                                                             check=lambda: "qsim.noise not available"))
    w4 = plan(Options(workloads=("W4",), qubits=(4, 6)))
    assert not w4.jobs and len(w4.records) == 2
    assert all(r["status"] == "skipped" and r["reason"] == "qsim.noise not available" for r in w4.records)


def test_missing_explicit_peer_gets_skipped_rows(monkeypatch):
    from bench.adapters.qulacs_adapter import Qulacs

    monkeypatch.setattr(Qulacs, "unavailable_reason", lambda self: "qulacs not installed")
    p = plan(Options(workloads=("W1",), qubits=(3, 4), peers=("qulacs",), backends=("numba",), precisions=("double",)))
    rows = [r for r in p.records if r["simulator"] == "qulacs"]
    assert len(rows) == 2 and all(r["reason"] == "qulacs not installed" for r in rows)


def test_worker_timeout_is_reported(tmp_path):
    recs = []
    job = Job(workload="W1", simulator="qhybrid-numba", dtype="complex128", threads=1, sizes=[(3, 1), (4, 1)])
    import bench.harness as harness

    old = harness.STARTUP_ALLOWANCE
    harness.STARTUP_ALLOWANCE = 0.0
    try:
        _run_job(job, str(tmp_path), recs.append, lambda *a: None, timeout=0.05)
    finally:
        harness.STARTUP_ALLOWANCE = old
    assert len(recs) == 2 and recs[0]["status"] == "failed" and "timed out" in recs[0]["reason"]


def test_tiny_run_end_to_end(tmp_path, capsys, monkeypatch):
    # two workers: W3's reference row, then its forward row, checked against the stored reference
    # (peers take the same path through the harness; their circuits are checked in test_bench_peers)
    import bench.harness as harness
    from bench.measure import machine_info

    monkeypatch.setattr(harness, "machine_info", lambda: machine_info(16 << 20))
    out = tmp_path / "res"
    rc = cli.main(["-w", "W3", "-n", "3-4", "--precision", "double", "--backends", "numba", "--peers", "none",
                   "--threads", "1", "--budget", "30", "--max-repeats", "2", "--out", str(out), "--no-progress",
                   "--no-plots"])
    assert rc == 0
    doc = load(out / JSON_NAME)
    assert not any((out / name).exists() for name in PLOT_NAMES)      # plots: test_bench_report
    md = (out / MARKDOWN_NAME).read_text()
    assert "## W3" in md and "grad / fwd" in md
    assert {r["simulator"] for r in doc["records"]} == {"qhybrid-numba", "qhybrid-numba-forward"}
    assert [r["status"] for r in doc["records"]] == ["ok"] * 4, [r["reason"] for r in doc["records"]]
    assert all(r["threads"] == 1 and r["max_abs_error"] < 1e-12 and r["time_s"]["repeats"] >= 1
               for r in doc["records"])
    assert doc["machine"]["copy_bandwidth_bytes_per_s"] > 0 and doc["machine"]["packages"]["numpy"]
    assert "4 ok, 0 failed, 0 skipped" in capsys.readouterr().out


_FAKE_WORKER = r'''
import json, os, signal, sys, time
from bench.schema import new_record
from bench.worker import Job

marker = sys.argv[1]
job = Job.from_json(sys.stdin.read())
(n, b), rest = job.sizes[0], job.sizes[1:]

def emit(event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()

def on_term(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(marker, "a") as f:
        f.write("SIGTERM\n")
    sys.exit(0)

signal.signal(signal.SIGTERM, on_term)
emit({"event": "start", "n_qubits": n, "batch": b})
emit({"event": "record", "record": new_record(workload=job.workload, simulator=job.simulator, backend="numba",
      n_qubits=n, batch=b, dtype=job.dtype, threads=job.threads, times=[0.001, 0.002])})
emit({"event": "start", "n_qubits": rest[0][0], "batch": rest[0][1]})
with open(marker, "a") as f:
    f.write(f"{os.getpid()}\n")
time.sleep(120)
'''

_BENCH_WITH_FAKE_WORKER = r'''
import sys
import bench.harness as harness
from bench import cli
from bench.measure import machine_info

harness.WORKER_COMMAND = (sys.executable, sys.argv[1], sys.argv[2])
harness.machine_info = lambda: machine_info(16 << 20)
sys.exit(cli.main(sys.argv[3:]))
'''


def test_sigterm_is_forwarded_to_the_worker_and_the_rows_so_far_are_written(tmp_path):
    """Issue 10 finding 6: `bench` on SIGTERM used to write nothing and leave its worker running; now it sends
    SIGTERM on to the worker, writes bench.json / bench.md with the rows measured so far, and exits 143."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    worker, driver, marker = tmp_path / "worker.py", tmp_path / "driver.py", tmp_path / "marker"
    worker.write_text(_FAKE_WORKER)
    driver.write_text(_BENCH_WITH_FAKE_WORKER)
    out = tmp_path / "res"
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(driver), str(worker), str(marker), "-w", "W1", "-n", "3-4",
                             "--precision", "double", "--backends", "numba", "--peers", "none", "--threads", "1",
                             "--out", str(out), "--no-progress", "--no-plots"],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (marker.is_file() and marker.read_text().strip()) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        worker_pid = int(marker.read_text().split()[0])        # the worker has measured n=3, now runs n=4
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert "interrupted: writing the rows measured so far" in stderr
    assert marker.read_text().split() == [str(worker_pid), "SIGTERM"]   # forwarded, not killed
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)
    doc = load(out / JSON_NAME)
    assert [(r["n_qubits"], r["status"]) for r in doc["records"]] == [(3, "ok")]
    assert "## W1" in (out / MARKDOWN_NAME).read_text() and "1 ok, 0 failed, 0 skipped" in stdout
