"""Measurements: copy bandwidth, RAPL counters (fake sysfs), NVML fallback, measured CPU profile."""

import itertools

import pytest

from energy.measure import (measure_copy_bandwidth, measure_rapl_power, measured_cpu_profile,
                            nvml_power, profile_power, rapl_domains)
from energy.profiles import load_profile
from qsim.hostinfo import cache_size


def fake_rapl(root, packages):
    """packages: {name: (energy_uj, max_range, {sub_name: (label, energy_uj)})}."""
    for name, (energy, max_range, subs) in packages.items():
        d = root / name
        d.mkdir()
        (d / "energy_uj").write_text(f"{energy}\n")
        (d / "max_energy_range_uj").write_text(f"{max_range}\n")
        for sub, (label, sub_energy) in subs.items():
            s = d / sub
            s.mkdir()
            (s / "name").write_text(label)
            (s / "energy_uj").write_text(str(sub_energy))
            (s / "max_energy_range_uj").write_text(str(max_range))


def test_copy_bandwidth_is_positive():
    assert measure_copy_bandwidth(4 * 2**20, repeats=3) > 1e8


def test_rapl_power_from_counter_increase_with_wraparound(tmp_path):
    fake_rapl(tmp_path, {
        "intel-rapl:0": (1_000_000, 10_000_000, {"intel-rapl:0:0": ("core", 5),
                                                 "intel-rapl:0:1": ("dram", 100)}),
        "intel-rapl:1": (9_900_000, 10_000_000, {}),
    })
    names = [d.name for d in rapl_domains(tmp_path)]
    assert names == ["intel-rapl:0", "intel-rapl:0:1", "intel-rapl:1"]  # core sub-domain left out

    def workload():  # 2 s of work: +4 J package 0, +3 J dram, and package 1 wraps after +2 J
        (tmp_path / "intel-rapl:0" / "energy_uj").write_text("5000000")
        (tmp_path / "intel-rapl:0" / "intel-rapl:0:1" / "energy_uj").write_text("3000100")
        (tmp_path / "intel-rapl:1" / "energy_uj").write_text("1900000")

    clock = itertools.count(start=10.0, step=2.0).__next__
    reading = measure_rapl_power(workload, tmp_path, clock=clock)
    assert reading.method == "rapl"
    assert reading.watts == pytest.approx((4 + 3 + 2) / 2)


def test_rapl_absent_gives_none(tmp_path):
    assert measure_rapl_power(lambda: None, tmp_path / "missing") is None


def test_nvml_power_is_a_reading_or_none():
    reading = nvml_power()
    assert reading is None or (reading.method == "nvml" and reading.watts > 0)


def test_measured_cpu_profile_without_rapl_scales_power_per_core(tmp_path, monkeypatch):
    import energy.measure as measure

    monkeypatch.setattr(measure, "usable_cores", lambda: 8)
    cpu = load_profile("cpu")
    profile, reading = measured_cpu_profile(cpu, nbytes=2 * 2**20, repeats=2, rapl_root=tmp_path)
    assert profile.name == "cpu (measured)"
    assert profile["cores"] == 8
    assert profile["device_power"] == pytest.approx(cpu["device_power"] / cpu["cores"] * 8)
    assert profile.constants["bandwidth_per_device"].tag == "M"
    assert profile["bandwidth_per_device"] > 0
    assert reading.method == "tdp x utilisation"
    assert reading.watts == pytest.approx(profile_power(profile).watts)
    # the blocked engine's block size follows this machine's L2 share
    assert profile["block_cache"] == cache_size(2) and profile.constants["block_cache"].tag == "M"


def test_measured_cpu_profile_uses_rapl_when_readable(tmp_path, monkeypatch):
    import energy.measure as measure

    fake_rapl(tmp_path, {"intel-rapl:0": (0, 10**12, {})})
    counter = tmp_path / "intel-rapl:0" / "energy_uj"
    original = measure.measure_copy_bandwidth

    def copy_and_count(nbytes, repeats):
        counter.write_text(str(int(counter.read_text()) + 1_000_000))  # +1 J during the measurement
        return original(nbytes, repeats)

    monkeypatch.setattr(measure, "measure_copy_bandwidth", copy_and_count)
    profile, reading = measured_cpu_profile(load_profile("cpu"), nbytes=2 * 2**20, repeats=2,
                                            rapl_root=tmp_path)
    assert reading.method == "rapl" and reading.watts > 0
    assert profile["device_power"] == pytest.approx(reading.watts)
    assert profile["power_utilisation"] == 1.0 and profile["host_power_per_device"] == 0.0
