"""The energy fit (joules per byte + static power) from bench rows measured with energy counters.

Synthetic bench files are built to known constants: each row's ``energy_j`` is exactly
``E_BYTE * bytes + P_STATIC * t`` (or that times a known error), so the fit must recover them.
"""

import json

import pytest

from bench.schema import validate
from energy.__main__ import main
from energy.calibrate import (MIN_BANDWIDTH_SPREAD, CalibrationError, calibrated_profile, fit_efficiency,
                              fit_energy)
from energy.profiles import load_profile

COPY_BW = 6.0e9
E_BYTE = 0.35e-9       # J per byte moved
P_STATIC = 18.0        # W


def row(n, threads, *, bandwidth, workload="W1", dtype="complex128", bpa=16, passes=40, batch=1, energy=True,
        error=0.0, status="ok"):
    """A forward row moving ``2 b 2^n batch passes`` bytes at ``bandwidth``, energy from the known constants."""
    moved = 2 * bpa * 2**n * batch * passes
    median = moved / bandwidth
    e = (E_BYTE * moved + P_STATIC * median) * (1.0 + error)
    if status != "ok":    # as the bench writes them: no times, no energy
        return {**row(n, threads, bandwidth=bandwidth, workload=workload, energy=False),
                "status": status, "reason": "disagrees", "effective_bandwidth_bytes_per_s": None,
                "time_s": {"min": None, "median": None, "max": None, "repeats": 0}}
    return {
        "workload": workload, "simulator": "qhybrid-numba", "backend": "numba", "device": "cpu",
        "n_qubits": n, "batch": batch, "layers": 2, "dtype": dtype, "bytes_per_amplitude": bpa,
        "threads": threads, "n_gates": passes * 3, "n_passes": passes,
        "time_s": {"min": median, "median": median, "max": median, "repeats": 3},
        "effective_bandwidth_bytes_per_s": bandwidth, "roofline_fraction": bandwidth / COPY_BW,
        "status": "ok", "reason": None, "max_abs_error": 1e-12, "load_avg": 0.1,
        "energy_j": e if energy else None, "power_w": e / median if energy else None,
        "energy_counter": "rapl" if energy else None,
    }


def bench(rows):
    doc = {"schema": "qhybrid.bench/1", "created": "2026-01-01T00:00:00+00:00",
           "machine": {"cpu_model": "test", "cores": 8, "memory_bytes": 64 * 2**30,
                       "copy_bandwidth_bytes_per_s": COPY_BW, "gpu": None, "packages": {}},
           "records": rows}
    validate(doc)        # the synthetic files are valid bench documents
    return doc


def grid(ns=(23, 24, 25, 26), **kw):
    """Rows at 1, 2 and 4 threads (3, 5, 6 GB/s): bandwidth varies, so e_byte and P_static separate."""
    return [row(n, t, bandwidth=bw, **kw) for n in ns for t, bw in ((1, 3e9), (2, 5e9), (4, 6e9))]


def test_fit_recovers_known_constants_and_predicts_held_out_n():
    fit = fit_energy(bench(grid()))
    assert fit.joules_per_byte == pytest.approx(E_BYTE, rel=1e-9)
    assert fit.static_power_w == pytest.approx(P_STATIC, rel=1e-9)
    assert fit.holdout_n == (26,) and len(fit.held_out) == 3 and len(fit.rows) == 9
    assert {r.n_qubits for r in fit.rows} == {23, 24, 25}     # the held-out rows were not fitted
    assert fit.max_holdout_error == pytest.approx(0.0, abs=1e-9)
    assert fit.rms_residual == pytest.approx(0.0, abs=1e-9)
    assert fit.counter == "rapl" and not fit.constrained


def test_held_out_error_is_the_relative_error_of_the_prediction():
    rows = grid(ns=(23, 24, 25)) + [row(26, t, bandwidth=bw, error=0.10) for t, bw in ((1, 3e9), (4, 6e9))]
    fit = fit_energy(bench(rows), holdout=1)
    assert fit.joules_per_byte == pytest.approx(E_BYTE, rel=1e-9)     # the fit never saw the 10 % rows
    assert [round(r.relative_error, 9) for r in fit.held_out] == [round(1 / 1.1 - 1, 9)] * 2
    assert fit.max_holdout_error == pytest.approx(1 - 1 / 1.1)
    fit_two = fit_energy(bench(rows), holdout=2)
    assert fit_two.holdout_n == (25, 26) and len(fit_two.held_out) == 5
    all_rows = fit_energy(bench(rows), holdout=0)
    assert all_rows.held_out == () and all_rows.rms_residual > 0.01


def test_fit_uses_forward_rows_with_energy_only():
    noise = [row(24, 2, bandwidth=1e9, workload="W3"),              # gradient row: not a forward pass
             row(24, 2, bandwidth=1e9, status="failed"),
             row(12, 1, bandwidth=50e9),                           # cache-resident state
             row(25, 8, bandwidth=9e9, energy=False)]              # no counter when it ran
    fit = fit_energy(bench(grid() + noise))
    assert fit.joules_per_byte == pytest.approx(E_BYTE, rel=1e-9)
    assert fit.static_power_w == pytest.approx(P_STATIC, rel=1e-9)
    assert fit.skipped["workload 'W3' is not a forward pass"] == 1
    assert any("no energy_j" in k for k in fit.skipped)


def test_rows_without_energy_or_at_one_bandwidth_are_refused():
    with pytest.raises(CalibrationError, match="carries energy_j"):
        fit_energy(bench(grid(energy=False)))
    one_bw = [row(n, 2, bandwidth=5e9) for n in (23, 24, 25, 26)]
    with pytest.raises(CalibrationError, match="cannot be told apart"):
        fit_energy(bench(one_bw))
    with pytest.raises(CalibrationError, match="leaves 0 row"):
        fit_energy(bench(grid(ns=(24,))))
    with pytest.raises(CalibrationError, match="hold-out = -1"):
        fit_energy(bench(grid()), holdout=-1)
    assert MIN_BANDWIDTH_SPREAD > 1


def test_negative_static_power_is_held_at_zero():
    rows = [row(n, t, bandwidth=bw) for n in (23, 24, 25) for t, bw in ((1, 3e9), (4, 6e9))]
    for r in rows:   # pure per-byte energy minus a little: unconstrained P_static would come out negative
        r["energy_j"] = E_BYTE * r["effective_bandwidth_bytes_per_s"] * r["time_s"]["median"] - 0.5 * r["time_s"][
            "median"]
        r["power_w"] = r["energy_j"] / r["time_s"]["median"]
    fit = fit_energy(bench(rows), holdout=0)
    assert fit.static_power_w == 0.0 and fit.joules_per_byte > 0
    assert "static power came out" in fit.constrained


def test_calibrated_profile_takes_the_energy_fit():
    data = bench(grid())
    eta_fit, energy = fit_efficiency(data), fit_energy(data)
    profile = calibrated_profile(load_profile("cpu"), eta_fit, data["machine"], energy=energy)
    sustained = eta_fit.eta * COPY_BW
    assert profile["device_power"] == pytest.approx(E_BYTE * sustained)
    assert profile["host_power_per_device"] == pytest.approx(P_STATIC)
    assert profile["power_utilisation"] == 1.0
    assert profile.constants["device_power"].tag == "M" and "energy fit" in profile.constants["device_power"].source
    # energy of one pass at the sustained bandwidth = e_byte * bytes + P_static * t
    moved = 2 * 16 * 2**24
    t = moved / sustained
    assert (profile["device_power"] + profile["host_power_per_device"]) * t == pytest.approx(
        E_BYTE * moved + P_STATIC * t)


def test_cli_prints_the_fit_and_the_validation(tmp_path, capsys):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(bench(grid())))
    out = tmp_path / "out.json"
    assert main(["--sim", "cpu", "--qpu", "ionq-forte", "--calibrate", str(path), "--qubits", "10:40",
                 "--draws", "50", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "e_byte = 3.5e-10 J/B" in printed and "P_static = 18 W" in printed
    assert "validation on held-out n = 26 (3 rows, fit without them): relative error median 0.0%" in printed
    assert "[power: bench energy fit (rapl)" in printed
    saved = json.loads(out.read_text())["energy_calibration"]
    assert saved["joules_per_byte"] == pytest.approx(E_BYTE) and saved["holdout_n"] == [26]


def test_cli_without_energy_rows_says_why_and_bad_holdout_exits_2(tmp_path, capsys):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(bench(grid(energy=False))))
    assert main(["--sim", "cpu", "--qpu", "ionq-forte", "--calibrate", str(path), "--qubits", "10:30",
                 "--draws", "20"]) == 0
    assert "energy fit: not used (no usable bench row" in capsys.readouterr().out
    assert main(["--calibrate", str(path), "--calibrate-holdout", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["energy: error: --calibrate-holdout = -1: must be >= 0"]
