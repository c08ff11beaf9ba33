"""The measured best-classical cost: an exact Qiskit Aer MPS run (skipped with one line without Aer)."""

import builtins
import json

import numpy as np
import pytest

import energy.mps as mps
from energy.__main__ import main
from energy.circuits import PaperHead
from energy.classical import CORE_POWER_W


def _reference_z0(spec):
    """<Z_0> of the same circuit (RY angles of energy.mps, CX, CCX) on a NumPy state tensor, axis w = qubit w."""
    n = spec.n_qubits
    state = np.zeros((2,) * n)
    state[(0,) * n] = 1.0
    angles = np.random.default_rng(mps.ANGLE_SEED).uniform(0.0, np.pi, len(spec.gates))
    for angle, wires in zip(angles, spec.gates):
        if len(wires) == 1:
            c, s = np.cos(angle / 2), np.sin(angle / 2)
            state = np.moveaxis(np.tensordot(np.array([[c, -s], [s, c]]), state, axes=([1], [wires[0]])), 0, wires[0])
        else:  # X on the target where every control is 1
            index = [slice(None)] * n
            for w in wires[:-1]:
                index[w] = 1
            sub = state[tuple(index)].copy()
            target = wires[-1] - sum(w < wires[-1] for w in wires[:-1])
            state[tuple(index)] = np.flip(sub, axis=target)
    probs = state**2
    return float(probs[0].sum() - probs[1].sum())


def test_mps_expectation_is_exact_and_timed():
    pytest.importorskip("qiskit_aer")
    spec = PaperHead(connectivity=2)(8)
    result, why = mps.measure_mps(spec, repeats=2)
    assert why == "" and result.n_qubits == 8 and result.repeats == 2
    assert result.time_s > 0 and result.energy_j == pytest.approx(result.time_s * CORE_POWER_W)
    assert result.expectation == pytest.approx(_reference_z0(spec), abs=1e-9)
    assert abs(result.expectation) < 1 - 1e-3        # a non-trivial value, not |0> untouched


def test_high_bond_circuits_are_not_run():
    pytest.importorskip("qiskit_aer")
    spec = PaperHead(connectivity=4, layers=3)(24)
    result, why = mps.measure_mps(spec)
    assert result is None and f"> {mps.MAX_MEASURED_BOND}" in why


def test_missing_aer_is_one_line(monkeypatch, capsys, tmp_path):
    real_import = builtins.__import__

    def no_aer(name, *args, **kwargs):
        if name.startswith("qiskit_aer"):
            raise ImportError("No module named 'qiskit_aer'", name="qiskit_aer")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_aer)
    out = tmp_path / "e.json"
    assert main(["--sim", "h100", "dgx-h100", "--qpu", "ionq-forte", "--qubits", "20:50", "--draws", "20",
                 "--no-sweep", "--measure-mps", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("measured MPS: skipped (qiskit-aer is not installed") == 1
    assert all(entry["mps_measured"] is None for entry in json.loads(out.read_text())["classical"])


def test_cli_measures_at_each_n_star(tmp_path, capsys):
    pytest.importorskip("qiskit_aer")
    out = tmp_path / "e.json"
    assert main(["--sim", "h100", "--qpu", "ionq-forte", "--qubits", "20:50", "--draws", "20", "--no-sweep",
                 "--measure-mps", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    (entry,) = json.loads(out.read_text())["classical"]
    assert f"measured at n = {entry['n_qubits']}: exact <Z_0> = " in printed
    assert entry["mps_measured"]["n_qubits"] == entry["n_qubits"] and entry["mps_measured"]["time_s"] > 0
