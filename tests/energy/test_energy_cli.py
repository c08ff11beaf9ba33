"""CLI smoke tests: table, cross-over, JSON and PNG output, presets, calibration, errors."""

import argparse
import json
import subprocess
import sys

from energy import cli
from energy.__main__ import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_json_and_plot_are_written(tmp_path, capsys):
    out_json, out_png = tmp_path / "energy.json", tmp_path / "energy.png"
    status = main(["--sim", "h100", "dgx-h100", "--qpu", "ionq-forte", "--qubits", "10:44",
                   "--json", str(out_json), "--plot", str(out_png)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "h100 vs ionq-forte: n* = " in printed and "memory wall at n = 34" in printed
    data = json.loads(out_json.read_text())
    assert data["schema"] == "qhybrid.energy/1"
    assert {c["profile"] for c in data["curves"]} == {"h100", "dgx-h100", "ionq-forte"}
    assert all(c["n_star"] is not None for c in data["crossovers"])
    assert data["profiles"][0]["constants"]["device_power"]["source"]
    assert out_png.read_bytes().startswith(PNG_SIGNATURE)


def test_preset_prints_assumptions_and_hits_its_target(tmp_path, capsys):
    out_json = tmp_path / "paper.json"
    assert main(["--preset", "paper-46", "--recalibrate", "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert "n* = 46" in printed and "[calibrated]" in printed and "re-solved interval" in printed
    data = json.loads(out_json.read_text())
    assert data["crossovers"][0]["n_star"] == 46
    assert data["preset"]["calibrated"]["constant"] == "shots"


def test_sensitivity_table_is_printed(capsys):
    assert main(["--preset", "ionq-34", "--sensitivity", "--qubits", "20:50"]) == 0
    printed = capsys.readouterr().out
    assert "sensitivity: dgx-h100 vs ionq-forte-enterprise (interpolated n* = " in printed
    assert "efficiency" in printed and "n*(low)" in printed
    assert "un-fitted (sourced constants and their ranges): n* = " in printed
    assert "calibrated: qpu system_power" in printed
    assert "breakdown at n*" in printed and "time-to-solution" in printed and "exchange step(s) moving" in printed
    assert "n* intervals" in printed and "E_sim = PUE" in printed


def test_calibrate_from_bench_file(tmp_path, capsys):
    records = [{"workload": "W1", "simulator": "qhybrid-numba", "device": "cpu", "status": "ok", "n_qubits": n,
                "batch": 1, "bytes_per_amplitude": 16, "dtype": "complex128", "n_passes": 10,
                "n_gates": 30, "time_s": {"median": 10 * 2 * 16 * 2**n / (0.5 * 4e9)}}
               for n in (23, 24, 25)]  # eta = 0.5 of a 4 GB/s copy
    bench = tmp_path / "bench.json"
    machine = {"copy_bandwidth_bytes_per_s": 4e9, "memory_bytes": 8 * 2**30, "cores": 4,
               "gpu": None}
    bench.write_text(json.dumps({"schema": "qhybrid.bench/1", "machine": machine,
                                 "records": records}))
    args = ["--sim", "cpu", "--qpu", "ionq-forte", "--calibrate", str(bench), "--qubits", "10:40"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "cpu (calibrated)" in printed and "eta = 0.5" in printed


def test_user_profile_file_and_bad_input_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nkind = "simulator"\n'
                   '[device_power]\nvalue = -3\nunit = "W"\nsource = "x"\n')
    assert main(["--profile-file", str(bad)]) == 2
    assert "profile 'bad.toml' field 'device_power' = -3 W: must be > 0" in capsys.readouterr().err
    assert main(["--sim", "ionq-forte"]) == 2
    assert "is a qpu profile" in capsys.readouterr().err
    assert main(["--qubits", "40:10"]) == 2
    assert main(["--preset", "ionq-34", "--sim", "h100"]) == 2


def test_subcommand_wiring_and_list_profiles(capsys):
    parser = argparse.ArgumentParser(prog="qhybrid")
    sub = parser.add_subparsers(dest="command")
    cli.add_arguments(sub.add_parser("energy"))
    args = parser.parse_args(["energy", "--list-profiles"])
    assert cli.run(args) == 0
    listed = capsys.readouterr().out
    assert "ionq-forte-enterprise" in listed and "frontier" in listed


def test_python_dash_m_energy_runs():
    done = subprocess.run([sys.executable, "-m", "energy", "--list-profiles"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "superconducting" in done.stdout


# --------------------------------------------------------------------------------------------
# Bad inputs: one line on stderr, exit 2 (issue 14, item 7)


def _one_line_error(capsys, argv):
    status = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, captured
    assert len(lines) == 1 and lines[0].startswith("energy: error: "), lines
    return lines[0]


def test_zero_or_negative_shots_and_precision_are_refused(capsys):
    fast = ["--sim", "h100", "--qpu", "ideal", "--qubits", "10:12"]
    assert "--shots = 0: must be >= 1" in _one_line_error(capsys, fast + ["--shots", "0"])
    assert "--shots = -5" in _one_line_error(capsys, fast + ["--shots", "-5"])
    for eps in ("0", "-0.1", "1.5"):
        assert "--target-precision" in _one_line_error(capsys, fast + ["--target-precision", eps])
    assert "--batch = 0" in _one_line_error(capsys, fast + ["--batch", "0"])


def test_shots_one_is_kept_not_replaced_by_the_default(tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["--sim", "h100", "--qpu", "ideal", "--qubits", "10:12", "--shots", "1",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["scenario"]["shots"] == 1


def test_absurd_qubit_ranges_are_refused(capsys):
    assert "MAX must be <= 100" in _one_line_error(capsys, ["--qubits", "4:2000"])
    assert "need 1 <= MIN <= MAX" in _one_line_error(capsys, ["--qubits", "0:10"])
    assert "expected MIN:MAX" in _one_line_error(capsys, ["--qubits", "ten"])


def test_unwritable_output_paths_are_refused_before_any_work(tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "dir" / "e.json"
    assert "does not exist" in _one_line_error(capsys, ["--json", str(missing)])
    assert "is a directory" in _one_line_error(capsys, ["--plot", str(tmp_path)])
    assert not missing.parent.exists()


def test_duplicate_profile_names_are_refused(tmp_path, capsys):
    assert "given twice" in _one_line_error(capsys, ["--sim", "h100", "h100", "--qpu", "ideal"])
    copy = tmp_path / "copy.toml"
    from energy.profiles import _builtin_dir

    copy.write_text((_builtin_dir() / "ideal.toml").read_text())
    assert "'ideal' given twice" in _one_line_error(capsys, ["--qpu", "ideal", "--profile-file", str(copy)])


def test_non_physical_constants_are_refused(tmp_path, capsys):
    from energy.profiles import _builtin_dir

    text = (_builtin_dir() / "ideal.toml").read_text()
    for table, value, message in (("system_power", "-1", "must be > 0"), ("fidelity_2q", "1.2", "must be <= 1"),
                                  ("t_2q", "nan", "must be a finite number")):
        head = f"[{table}]\nvalue = "
        start = text.index(head) + len(head)
        end = text.index("\n", start)
        bad = tmp_path / "bad.toml"
        bad.write_text(text[:start] + value + text[end:])
        assert message in _one_line_error(capsys, ["--qpu", str(bad)])
