"""Device profiles: built-in files cite every number, user files, errors naming the problem."""

from __future__ import annotations

import tomllib

import pytest

import qsim.noise as qn
from qsim_testutils import channels_of, small_circuit
from qsim.noise.models import PROFILE_DIR
from qsim.noise.profiles import Profile, read_profile


def test_builtin_profiles_exist_and_cite_every_number():
    names = qn.available_profiles()
    assert {"ideal", "ionq-aria-like", "ionq-forte-like"} <= set(names)
    for name in names:
        data = tomllib.loads((PROFILE_DIR / f"{name}.toml").read_text())
        for key, table in data.items():
            if isinstance(table, dict):
                assert len(table.get("source", "")) > 20, f"{name} [{key}] lacks a source"


def test_aria_profile_numbers():
    m = qn.load_profile("ionq-aria-like")
    assert m.name == "ionq-aria-like"
    r1, r2 = m.rules
    assert r1.arity == 1 and r1.channels[0].params[0][1] == pytest.approx(1.5 * (1 - 0.9995))
    assert r2.arity == 2 and r2.channels[0].num_wires == 2
    assert r2.channels[0].params[0][1] == pytest.approx(1.25 * (1 - 0.996))
    assert m.readout.p01 == pytest.approx(0.0039)
    assert qn.load_profile("ideal").is_ideal
    forte = qn.NoiseModel.from_profile("ionq-forte-like")
    assert forte.rules[0].channels[0].params[0][1] == pytest.approx(1.5 * 2.0e-4)


def test_user_profile_file(tmp_path):
    f = tmp_path / "dev.toml"
    f.write_text('name = "dev"\n[one_qubit]\np = 0.01\n[two_qubit]\nerror = 0.02\nchannel = "each"\n'
                 '[readout]\np01 = 0.01\np10 = 0.03\n[timing]\none_qubit_gate = 1e-6\ntwo_qubit_gate = 2e-6\n'
                 '[relaxation]\nt1 = 1e-4\nt2 = 5e-5\napply = true\n'
                 '[[rules]]\nchannel = "amplitude_damping"\ngamma = 0.01\ngates = ["RY"]\nwires = [0]\n')
    m = qn.load_profile(f)
    noisy = m.apply(small_circuit())
    names = channels_of(noisy)
    assert names[0] == ("amplitude_damping", (0,))                     # per-qubit rule overrides
    assert ("thermal_relaxation", (1,)) in names and ("depolarizing", (0,)) in names
    assert noisy.readout[0] == (0.01, 0.03)


@pytest.mark.parametrize("text,match", [
    ("[one_qubit]\nfidelity = 1.5\n", r"fidelity = 1.5 must lie in \[0.0, 1.0\]"),
    ("[one_qubit]\nfidelty = 0.99\n", r"unknown keys \['fidelty'\]"),
    ("bogus = 1\n", "unknown top-level keys"),
    ("[one_qubit\n", "invalid TOML"),
    ("[[rules]]\nchannel = \"nope\"\n", "unknown channel 'nope'"),
    ("[[rules]]\nchannel = \"depolarizing\"\np = 2.0\n", "p = 2.0 must lie in"),
    ("[relaxation]\nt1 = 1.0\nt2 = 5.0\napply = true\n[timing]\none_qubit_gate = 1e-3\ntwo_qubit_gate = 1e-3\n",
     "exceeds 2·t1"),
])
def test_bad_profiles_name_the_problem(tmp_path, text, match):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(qn.ProfileError, match=match):
        qn.load_profile(f)


def test_missing_profiles():
    with pytest.raises(qn.ProfileError, match="unknown noise profile 'ionq-nope'"):
        qn.load_profile("ionq-nope")
    with pytest.raises(qn.ProfileError, match="does not exist"):
        qn.load_profile("/no/such/file.toml")


def test_read_profile_gives_the_rules_in_file_order_and_the_readout():
    prof = read_profile("ionq-aria-like")
    assert isinstance(prof, Profile) and prof.name == "ionq-aria-like" and prof.path.parent == PROFILE_DIR
    assert [r.arity for r in prof.rules] == [1, 2]
    assert "[one_qubit]" in prof.rules[0].where
    m = qn.load_profile("ionq-aria-like")
    assert [(r.channels[0].name, r.channels[0].params) for r in m.rules] == [(r.channel.name, r.channel.params)
                                                                           for r in prof.rules]
    assert (m.readout.p01, m.readout.p10) == (prof.readout.p01, prof.readout.p10)


def test_profile_loader_keeps_its_old_homes():
    from qsim.noise import models, profiles

    assert qn.PROFILE_DIR == models.PROFILE_DIR == profiles.PROFILE_DIR
    assert qn.available_profiles is models.available_profiles is profiles.available_profiles
    assert qn.load_profile is models.load_profile
    assert qn.ProfileError is models.ProfileError


def test_rule_errors_found_when_adding_name_the_rule(tmp_path):
    f = tmp_path / "dev.toml"
    f.write_text('[[rules]]\nchannel = "depolarizing"\np = 0.1\nnum_wires = 2\narity = 3\n')
    with pytest.raises(qn.ProfileError, match=r"\[\[rules\]\] #0: rule for 3-wire gates"):
        qn.load_profile(f)
