"""Timing rules and machine measurements."""

from __future__ import annotations

import time

from bench.measure import (
    available_memory, copy_bandwidth, cpu_model, load_average, package_versions, time_repeats, total_memory,
)


def _sleeper(seconds):
    calls = []

    def fn():
        calls.append(1)
        time.sleep(seconds)

    return fn, calls


def test_repeats_fill_the_budget_up_to_the_cap():
    fn, calls = _sleeper(0.001)
    times = time_repeats(fn, budget=5.0, min_repeats=3, max_repeats=6, first_run=0.001)
    assert len(times) == len(calls) == 6 and all(t >= 0.001 for t in times)


def test_long_runs_get_fewer_repeats():
    fn, _ = _sleeper(0.03)
    assert len(time_repeats(fn, budget=0.07, min_repeats=3, max_repeats=10, first_run=0.03)) == 2
    assert len(time_repeats(fn, budget=0.01, min_repeats=3, max_repeats=10, first_run=0.03)) == 1


def test_machine_measurements():
    assert copy_bandwidth(1 << 20, repeats=2) > 1e6
    assert 0 < available_memory() <= total_memory()
    assert cpu_model()
    assert "numpy" in package_versions() and "python" in package_versions()
    la = load_average()
    assert la is None or la >= 0
