"""Calibration of the efficiency eta from synthetic qhybrid.bench/1 data with a known answer."""

import json

import pytest

from energy.calibrate import (MIN_MEMORY_BOUND_STATE_BYTES, CalibrationError, calibrated_profile,
                              fit_efficiency, load_bench)
from energy.measure import PowerReading
from energy.profiles import load_profile

COPY_BW = 6.0e9


def record(n, eta, *, dtype="complex128", bpa=16, batch=4, passes=50, simulator="qhybrid-numba",
           device="cpu", status="ok", bandwidth=COPY_BW, n_passes_field=True):
    """A bench record whose time per pass per sample is exactly 2 b 2^n / (eta BW)."""
    t_pass = 2 * bpa * 2**n / (eta * bandwidth)
    median = t_pass * batch * passes
    return {
        "workload": "W1", "simulator": simulator, "backend": "numba", "device": device,
        "n_qubits": n,
        "batch": batch, "layers": 2, "dtype": dtype, "bytes_per_amplitude": bpa, "threads": 2,
        "n_gates": passes if not n_passes_field else passes * 3,
        "n_passes": passes if n_passes_field else None,
        "time_s": {"min": median * 0.95, "median": median, "max": median * 1.1, "repeats": 5},
        "effective_bandwidth_bytes_per_s": None, "roofline_fraction": None, "status": status,
        "reason": None, "max_abs_error": 1e-12, "load_avg": 0.5,
    }


def bench(records, gpu=None):
    return {"schema": "qhybrid.bench/1", "created": "2026-01-01T00:00:00Z",
            "machine": {"cpu_model": "test", "cores": 16, "memory_bytes": 64 * 2**30,
                        "copy_bandwidth_bytes_per_s": COPY_BW, "gpu": gpu, "packages": {}},
            "records": records}


def synthetic(eta=0.42):
    return bench([
        record(24, eta), record(26, eta), record(25, eta, dtype="complex64", bpa=8),
        record(14, 5.0),  # cache-resident: would claim eta = 5; must be skipped
        record(26, 0.01, status="failed"),
        record(26, 0.9, simulator="qiskit-aer", n_passes_field=False),
    ])


def test_fit_recovers_a_known_efficiency():
    fit = fit_efficiency(synthetic(0.42))
    assert fit.eta == pytest.approx(0.42, rel=1e-12)
    assert fit.eta_min == pytest.approx(0.42) and fit.eta_max == pytest.approx(0.42)
    assert len(fit.records) == 3
    assert fit.device_bandwidth == COPY_BW
    assert sum(fit.skipped.values()) == 3
    assert any("cache-resident" in reason for reason in fit.skipped)


def test_fit_for_a_peer_uses_n_gates_when_n_passes_is_null():
    fit = fit_efficiency(synthetic(), simulator="qiskit-aer")
    assert fit.eta == pytest.approx(0.9)
    assert fit.records[0].passes == 50


def test_median_is_robust_to_one_noisy_record():
    data = bench([record(24, 0.40), record(25, 0.42), record(26, 0.05)])
    assert fit_efficiency(data).eta == pytest.approx(0.40)


def test_gpu_fit_needs_the_profile_bandwidth():
    h100 = load_profile("h100")
    peak = h100["bandwidth_per_device"]
    data = bench([record(28, 0.65, device="gpu", bandwidth=peak)], gpu="NVIDIA H100 80GB HBM3")
    with pytest.raises(CalibrationError, match="pass the device's peak bandwidth"):
        fit_efficiency(data, device="gpu")
    fit = fit_efficiency(data, device="gpu", device_bandwidth=peak)
    assert fit.eta == pytest.approx(0.65)
    reading = PowerReading(450.0, "nvml", "GPU 0")
    calibrated = calibrated_profile(h100, fit, data["machine"], reading)
    assert calibrated["efficiency"] == pytest.approx(0.65)
    assert calibrated["device_power"] == 450.0 and calibrated["power_utilisation"] == 1.0
    # NVML reads the board only: the host share stays
    assert calibrated["host_power_per_device"] == h100["host_power_per_device"]


def test_no_usable_record_explains_why():
    data = bench([record(12, 0.4), record(26, 0.4, status="skipped")])
    reasons = r"largest n seen: 12.*cache-resident.*status 'skipped'"
    with pytest.raises(CalibrationError, match=reasons):
        fit_efficiency(data)


def test_calibrated_cpu_profile_takes_the_machine_and_the_fit():
    data = synthetic(0.42)
    cpu = load_profile("cpu")
    profile = calibrated_profile(cpu, fit_efficiency(data), data["machine"])
    assert profile.name == "cpu (calibrated)"
    assert profile["efficiency"] == pytest.approx(0.42)
    assert profile.constants["efficiency"].tag == "M"
    assert profile["bandwidth_per_device"] == COPY_BW
    assert profile["memory_per_device"] == 64 * 2**30 and profile["cores"] == 16
    assert profile["device_power"] == cpu["device_power"]  # no measured power given


def test_calibrated_profile_counts_sweeps_as_the_bench_simulator_made_them():
    """eta is per sweep as the bench's engine counts them: the Numba plan keeps the profile's block cache,
    the NumPy engine (one sweep per pass, fusion level 0) drops it."""
    numba_rows = synthetic(0.42)
    blocked = calibrated_profile(load_profile("cpu"), fit_efficiency(numba_rows), numba_rows["machine"])
    assert blocked["block_cache"] == load_profile("cpu")["block_cache"] > 0 and blocked["fusion_level"] == 1
    numpy_rows = bench([record(24, 0.3, simulator="qhybrid-numpy"), record(26, 0.3, simulator="qhybrid-numpy")])
    fit = fit_efficiency(numpy_rows, simulator="qhybrid-numpy")
    unblocked = calibrated_profile(load_profile("cpu"), fit, numpy_rows["machine"])
    assert unblocked["block_cache"] == 0 and unblocked["fusion_level"] == 0


def test_efficiency_above_one_moves_into_the_bandwidth():
    data = bench([record(26, 1.6)])
    profile = calibrated_profile(load_profile("cpu"), fit_efficiency(data), data["machine"])
    assert profile["efficiency"] == 1.0
    assert profile["bandwidth_per_device"] == pytest.approx(1.6 * COPY_BW)


def test_only_measured_power_replaces_the_profile_figure():
    data = synthetic()
    with pytest.raises(CalibrationError, match="only measured power"):
        calibrated_profile(load_profile("cpu"), fit_efficiency(data), data["machine"],
                           PowerReading(20.0, "tdp x utilisation", "profile"))


def test_load_bench_checks_the_schema(tmp_path):
    good = tmp_path / "bench.json"
    good.write_text(json.dumps(synthetic()))
    assert load_bench(good)["schema"] == "qhybrid.bench/1"
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"schema": "qhybrid.bench/0", "machine": {}, "records": []}))
    with pytest.raises(CalibrationError, match="schema = 'qhybrid.bench/0'"):
        load_bench(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(CalibrationError, match="invalid JSON"):
        load_bench(broken)


def test_threshold_constant_is_a_memory_bound_state():
    assert MIN_MEMORY_BOUND_STATE_BYTES >= 64 * 2**20


def test_gradient_rows_do_not_leak_into_the_fit():
    """A W3 row of the same simulator sweeps forward and backward: its per-pass time is not a forward pass.

    With the forward rows at eta = 0.5 and W3 rows (same simulator, device, n) whose time per counted pass
    is 3x longer (eta 1/6 if read as forward), the fit must give 0.5 with or without them.
    """
    forward = [record(n, 0.5) for n in (24, 25, 26)]
    gradient = [dict(record(n, 0.5 / 3), workload="W3") for n in (24, 25, 26, 27)]
    alone = fit_efficiency(bench(forward))
    mixed = fit_efficiency(bench(forward + gradient))
    assert alone.eta == pytest.approx(0.5) and mixed.eta == alone.eta
    assert len(mixed.records) == 3
    assert mixed.skipped == {"workload 'W3' is not a forward pass": 4}


def test_a_fit_is_never_moved_across_device_kinds():
    data = synthetic(0.42)  # CPU rows
    fit = fit_efficiency(data)
    with pytest.raises(CalibrationError, match="'h100' is a gpu device but the bench rows are cpu rows"):
        calibrated_profile(load_profile("h100"), fit, data["machine"])
    gpu_data = bench([record(28, 0.65, device="gpu")], gpu="NVIDIA H100")
    gpu_fit = fit_efficiency(gpu_data, device="gpu", device_bandwidth=COPY_BW)
    with pytest.raises(CalibrationError, match="'cpu' is a cpu device but the bench rows are gpu rows"):
        calibrated_profile(load_profile("cpu"), gpu_fit, gpu_data["machine"])


def test_cli_calibrate_profile_of_another_kind_is_one_line_exit_2(tmp_path, capsys):
    from energy.__main__ import main

    path = tmp_path / "bench.json"
    path.write_text(json.dumps(synthetic(0.42)))
    status = main(["--sim", "h100", "--qpu", "ideal", "--calibrate", str(path), "--calibrate-profile", "h100",
                   "--qubits", "10:12"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "never moved across device kinds" in err[0]
