"""Energy measured during the benchmark run: fake RAPL tree, fake NVML, record fields, schema."""

from __future__ import annotations

import copy
import dataclasses
import logging
import sys
import time
import types

import pytest

from bench.adapters.qhybrid import QHybrid
from bench.harness import log_energy_counters
from bench.measure import energy_fields, time_repeats_with_energy
from bench.schema import SchemaError, new_record, validate_record
from bench.worker import Job, run_config
from energy.measure import (MIN_WINDOW_RESOLUTIONS, RAPL_ROOT_ENV, EnergyReading, NvmlCounter, RaplCounter,
                            measure_energy, open_energy_counter)

MAX_RANGE = 262_143_328_850   # a real package's max_energy_range_uj (2^38 uJ scale)


def fake_rapl(root, start_uj=0, dram_uj=None):
    """One package domain (and optionally its dram sub-domain) under ``root``; returns the counter files."""
    pkg = root / "intel-rapl:0"
    pkg.mkdir(parents=True)
    (pkg / "name").write_text("package-0\n")
    (pkg / "energy_uj").write_text(f"{start_uj}\n")
    (pkg / "max_energy_range_uj").write_text(f"{MAX_RANGE}\n")
    files = [pkg / "energy_uj"]
    if dram_uj is not None:
        dram = pkg / "intel-rapl:0:0"
        dram.mkdir()
        (dram / "name").write_text("dram\n")
        (dram / "energy_uj").write_text(f"{dram_uj}\n")
        (dram / "max_energy_range_uj").write_text(f"{MAX_RANGE}\n")
        files.append(dram / "energy_uj")
    return files


def bump(path, microjoules):
    """Advance a fake counter, wrapping at the domain's range as the hardware does."""
    path.write_text(str((int(path.read_text()) + microjoules) % MAX_RANGE))


def test_rapl_counter_sums_domains_and_wraps(tmp_path):
    pkg, dram = fake_rapl(tmp_path, start_uj=MAX_RANGE - 1_000_000, dram_uj=5)
    counter, why = open_energy_counter("cpu", tmp_path)
    assert why == "" and isinstance(counter, RaplCounter)
    assert counter.detail == "RAPL intel-rapl:0, intel-rapl:0:0"
    before = counter.read()
    bump(pkg, 3_000_000)          # wraps: the file now reads 2,000,000
    bump(dram, 1_500_000)
    assert int(pkg.read_text()) < before[0]
    assert counter.joules(before, counter.read()) == pytest.approx(4.5)


def test_rapl_root_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(RAPL_ROOT_ENV, str(tmp_path / "missing"))
    counter, why = open_energy_counter("cpu")
    assert counter is None and str(tmp_path / "missing") in why and RAPL_ROOT_ENV in why
    fake_rapl(tmp_path / "tree")
    monkeypatch.setenv(RAPL_ROOT_ENV, str(tmp_path / "tree"))
    counter, why = open_energy_counter("cpu")
    assert counter is not None and why == ""


def test_unreadable_domain_is_explained(tmp_path):
    (tmp_path / "intel-rapl:0").mkdir()          # no energy_uj: like a root-only file
    counter, why = open_energy_counter("cpu", tmp_path)
    assert counter is None and "no readable RAPL domain" in why


def test_measure_energy_needs_a_long_enough_window(tmp_path):
    (pkg,) = fake_rapl(tmp_path)
    counter, _ = open_energy_counter("cpu", tmp_path)
    ticks = iter([0.0, 2.0])
    result, reading = measure_energy(lambda: bump(pkg, 6_000_000) or "done", counter, clock=lambda: next(ticks))
    assert result == "done" and reading == EnergyReading(6.0, 2.0, "rapl", counter.detail)
    assert reading.watts == pytest.approx(3.0)
    short = MIN_WINDOW_RESOLUTIONS * counter.resolution_s / 2
    ticks = iter([0.0, short])
    _, reading = measure_energy(lambda: bump(pkg, 1_000), counter, clock=lambda: next(ticks))
    assert reading is None


class FakeNvml(types.ModuleType):
    """The few pynvml calls the counter makes; 250 J per read, in millijoules."""

    def __init__(self):
        super().__init__("pynvml")
        self.energy_mj, self.shut = 10_000, False

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        self.shut = True

    def nvmlDeviceGetHandleByIndex(self, index):
        if index != 0:
            raise RuntimeError("NVML_ERROR_INVALID_ARGUMENT")
        return "handle0"

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        self.energy_mj += 250_000
        return self.energy_mj


def test_nvml_total_energy_counter(monkeypatch):
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    counter, why = open_energy_counter("gpu")
    assert isinstance(counter, NvmlCounter) and why == ""
    assert counter.detail == "NVML GPU 0 (NVIDIA H100 80GB HBM3)"
    before = counter.read()
    assert counter.joules(before, counter.read()) == pytest.approx(250.0)
    counter.close()
    assert fake.shut
    counter, why = open_energy_counter("gpu", gpu_index=3)
    assert counter is None and "GPU 3" in why


def test_nvml_missing_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)      # import fails
    counter, why = open_energy_counter("gpu")
    assert counter is None and "pynvml is not installed" in why


def test_energy_fields_are_per_run():
    reading = EnergyReading(joules=12.0, seconds=3.0, method="rapl", detail="RAPL intel-rapl:0")
    assert energy_fields(reading, 4) == {"energy_j": 3.0, "power_w": 4.0, "energy_counter": "rapl"}
    assert energy_fields(None, 4) == {"energy_j": None, "power_w": None, "energy_counter": None}


def test_time_repeats_with_energy_reads_around_all_repeats(tmp_path):
    (pkg,) = fake_rapl(tmp_path)
    counter, _ = open_energy_counter("cpu", tmp_path)

    def run():
        time.sleep(0.006)
        bump(pkg, 500_000)        # 0.5 J per run

    times, reading = time_repeats_with_energy(run, 60.0, counter, min_repeats=3, max_repeats=3)
    assert len(times) == 3 and reading.joules == pytest.approx(1.5)
    assert energy_fields(reading, len(times))["energy_j"] == pytest.approx(0.5)
    times, reading = time_repeats_with_energy(run, 60.0, None, min_repeats=2, max_repeats=2)
    assert len(times) == 2 and reading is None


class _Metered(QHybrid):
    """The numba backend, with each timed run adding 0.25 J to a fake RAPL counter."""

    def __init__(self, counter_file):
        super().__init__("numba")
        self.counter_file = counter_file

    def prepare(self, problem, dtype, threads):
        prepared = super().prepare(problem, dtype, threads)

        def run():
            time.sleep(0.006)
            bump(self.counter_file, 250_000)
            return prepared.run()

        return dataclasses.replace(prepared, run=run)


def _records(adapter, tmp_path):
    events = []
    job = Job(workload="W1", simulator=adapter.name, dtype="complex128", threads=1, sizes=[(3, 1)], budget=60.0,
              reference=True, ref_dir=str(tmp_path), min_repeats=3, max_repeats=3)
    run_config(job, adapter, events.append)
    return [e["record"] for e in events if e["event"] == "record"]


def test_bench_rows_carry_the_energy_of_one_run(tmp_path, monkeypatch):
    (pkg,) = fake_rapl(tmp_path / "rapl", start_uj=MAX_RANGE - 300_000)    # wraps during the run
    monkeypatch.setenv(RAPL_ROOT_ENV, str(tmp_path / "rapl"))
    (rec,) = _records(_Metered(pkg), tmp_path)
    assert rec["status"] == "ok" and rec["time_s"]["repeats"] == 3
    assert rec["energy_counter"] == "rapl"
    assert rec["energy_j"] == pytest.approx(0.25)
    assert 0 < rec["power_w"] <= 0.25 / 0.006
    validate_record(rec)


def test_bench_rows_store_null_without_counters(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(RAPL_ROOT_ENV, str(tmp_path / "none"))
    (rec,) = _records(QHybrid("numba"), tmp_path)
    assert rec["status"] == "ok"
    assert (rec["energy_j"], rec["power_w"], rec["energy_counter"]) == (None, None, None)
    job = Job(workload="W1", simulator="qhybrid-numba", dtype="complex128", threads=1, sizes=[(3, 1)])
    with caplog.at_level(logging.WARNING, logger="bench.harness"):
        missing = log_energy_counters([job, dataclasses.replace(job, dtype="complex64")])
    assert list(missing) == ["cpu"]
    said = [r.getMessage() for r in caplog.records if "energy not measured" in r.getMessage()]
    assert len(said) == 1 and str(tmp_path / "none") in said[0]     # once, with the reason


def _ok(**energy):
    return new_record(workload="W1", simulator="qhybrid-numba", backend="numba", n_qubits=20, layers=4,
                      dtype="complex128", threads=2, n_gates=240, n_passes=80, times=[0.2, 0.25, 0.3], **energy)


def test_schema_energy_fields():
    rec = _ok(energy_j=2.5, power_w=10.0, energy_counter="rapl")
    assert (rec["energy_j"], rec["power_w"], rec["energy_counter"]) == (2.5, 10.0, "rapl")
    old = copy.deepcopy(rec)
    for key in ("energy_j", "power_w", "energy_counter"):
        del old[key]
    validate_record(old)                          # files written before the fields existed stay valid
    for change, message in [({"energy_j": None}, "all null or all set"),
                            ({"energy_j": -1.0}, "must be > 0"),
                            ({"energy_counter": "wattmeter"}, "energy_counter"),
                            ({"power_w": "10"}, "wrong type")]:
        bad = {**rec, **change}
        with pytest.raises(SchemaError, match=message):
            validate_record(bad)
    skipped = new_record(workload="W1", simulator="qulacs", backend="x", n_qubits=26, dtype="complex128",
                         threads=2, status="skipped", reason="over the budget")
    with pytest.raises(SchemaError, match="must not carry energy"):
        validate_record({**skipped, "energy_j": 1.0, "power_w": 1.0, "energy_counter": "rapl"})
