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
    assert "sensitivity: dgx-h100 vs ionq-forte-enterprise (base n* = 34" in printed
    assert "system_power" in printed and "no effect on n* or the wall" in printed


def test_calibrate_from_bench_file(tmp_path, capsys):
    records = [{"simulator": "qhybrid-numba", "device": "cpu", "status": "ok", "n_qubits": n,
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
