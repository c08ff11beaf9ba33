"""Device numbers live once: the energy model's QPU profiles and qsim's noise profiles agree on the
numbers they share, and the energy model's paper-head gate counts are those of the circuit the
hybrid head really runs.

Pairs (energy profile -> the noise profile of the same device; ``ionq-forte-enterprise`` takes its
timings and fidelities from Forte, as its file says):

=====================  ================================  ===============================
energy (SI units)      qsim noise profile                 relation
=====================  ================================  ===============================
``max_qubits``         ``n_qubits``                       equal
``t_1q``, ``t_2q``     ``timing.one_qubit_gate``, ...     equal (seconds)
``t_readout``          ``timing.readout`` (when given)    equal (seconds)
``fidelity_1q/2q``     ``fidelity``, or ``1 - error``     equal
``fidelity_spam``      ``1 - readout.error``              equal
=====================  ================================  ===============================
"""

from __future__ import annotations

import tomllib
from importlib.resources import files

import pytest

from energy.circuits import PaperHead, spec_from_circuit
from energy.profiles import load_profile

#: energy profile -> qsim noise profile of the same device.
PAIRS = {"ionq-aria": "ionq-aria-like", "ionq-forte": "ionq-forte-like", "ionq-forte-enterprise": "ionq-forte-like"}
#: Published numbers are given to 4-5 significant digits; both files copy them, so they agree to rounding.
REL = 1e-9


def _noise_profile(name: str) -> dict:
    """The raw TOML of a qsim noise profile, read from the package (as qsim ships it)."""
    return tomllib.loads((files("qsim.noise") / "profiles" / f"{name}.toml").read_text(encoding="utf-8"))


def _fidelity(table: dict) -> float:
    return float(table["fidelity"]) if "fidelity" in table else 1.0 - float(table["error"])


def _shared_numbers(energy_name: str) -> list[tuple[str, float, float]]:
    """``(what, energy value, noise value)`` for every number the two profiles share."""
    e, q = load_profile(energy_name), _noise_profile(PAIRS[energy_name])
    timing = q["timing"]
    rows = [("qubits", e["max_qubits"], q["n_qubits"]),
            ("1q gate time", e["t_1q"], timing["one_qubit_gate"]),
            ("2q gate time", e["t_2q"], timing["two_qubit_gate"]),
            ("1q fidelity", e["fidelity_1q"], _fidelity(q["one_qubit"])),
            ("2q fidelity", e["fidelity_2q"], _fidelity(q["two_qubit"])),
            ("SPAM fidelity", e["fidelity_spam"], 1.0 - float(q["readout"]["error"]))]
    if "readout" in timing:
        rows.append(("readout time", e["t_readout"], timing["readout"]))
    return rows


#: Numbers two sources give differently: the energy Forte profiles take the 2q fidelity 0.9941 from
#: the Braket Forte-1 properties, the noise profile 1 - 46.4e-4 = 0.99536 from arXiv:2308.05071.
#: The energy constant's range spans both (its source cites both), so the noise profile's value
#: must lie inside that range: one number, its uncertainty stated once.
TWO_SOURCES = {("ionq-forte", "2q fidelity"): "fidelity_2q", ("ionq-forte-enterprise", "2q fidelity"): "fidelity_2q"}

CASES = [(name, what) for name in PAIRS for what, _, _ in _shared_numbers(name)]


@pytest.mark.parametrize("energy_name,what", CASES)
def test_energy_and_noise_profiles_agree_on_shared_numbers(energy_name, what):
    row = {w: (a, b) for w, a, b in _shared_numbers(energy_name)}
    energy_value, noise_value = row[what]
    if (energy_name, what) in TWO_SOURCES:
        c = load_profile(energy_name).constants[TWO_SOURCES[energy_name, what]]
        assert c.low <= noise_value <= c.high and c.low <= energy_value <= c.high, (
            f"{what}: qsim/noise/profiles/{PAIRS[energy_name]}.toml's {noise_value} lies outside "
            f"energy/profiles/{energy_name}.toml's range [{c.low}, {c.high}]")
        assert "2308.05071" in c.source and "Braket" in c.source
        return
    assert energy_value == pytest.approx(noise_value, rel=REL), (
        f"{what}: energy/profiles/{energy_name}.toml says {energy_value}, "
        f"qsim/noise/profiles/{PAIRS[energy_name]}.toml says {noise_value}")


def test_every_ionq_energy_profile_has_a_noise_profile():
    from energy.profiles import builtin_profile_names

    assert {n for n in builtin_profile_names() if n.startswith("ionq-")} == set(PAIRS)


# --------------------------------------------------------------------------------------------
# PaperHead against the circuit the hybrid head builds


@pytest.mark.parametrize("n_qubits,layers,connectivity,reuploads,final_layers", [
    (2, 1, 1, 1, 1), (4, 1, 1, 1, 1), (5, 2, 2, 3, 2), (8, 1, 3, 2, 0), (14, 1, 7, 3, 2),
])
def test_paper_head_counts_are_the_hybrid_qpu_circuit(n_qubits, layers, connectivity, reuploads, final_layers):
    """energy.circuits.PaperHead counts gates by formula; hybrid.layers.QPUConfig builds the circuit that
    trains.  Both must give the same gates by arity (and the same depth)."""
    pytest.importorskip("torch")
    from hybrid.layers import QPUConfig

    qpu = QPUConfig(reuploads=reuploads, block_layers=layers, connectivity=connectivity, layers=final_layers)
    built = qpu.circuit(n_qubits)
    counted = PaperHead(layers, connectivity, reuploads, final_layers)(n_qubits)
    assert dict(counted.counts) == built.count_by_arity()
    assert counted.depth == spec_from_circuit(built).depth == built.depth()
