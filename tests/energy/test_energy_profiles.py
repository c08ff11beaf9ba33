"""Hardware profiles: built-ins load with a source for every constant; bad profiles are rejected."""

import pytest

from energy.profiles import (FIELDS, Kind, EnergyProfileError, Schedule, builtin_profile_names,
                             load_profile, parse_profile)

REQUIRED_BUILTINS = {"cpu", "a100", "h100", "h200", "dgx-h100", "frontier", "ionq-aria",
                     "ionq-forte", "ionq-forte-enterprise", "superconducting", "ideal"}


def _good_simulator() -> dict:
    fields = {
        "memory_per_device": (80, "GB"), "bandwidth_per_device": (3.35, "TB/s"),
        "efficiency": (0.7, "1"),
        "device_power": (700, "W"), "max_devices": (8, "1"), "intra_node_bandwidth": (450, "GB/s"),
        "inter_node_bandwidth": (50, "GB/s"),
    }
    data = {"name": "mine", "kind": "simulator"}
    data.update({k: {"value": v, "unit": u, "source": "test", "tag": "A"}
                 for k, (v, u) in fields.items()})
    return data


def test_all_required_builtins_exist():
    assert REQUIRED_BUILTINS <= set(builtin_profile_names())


@pytest.mark.parametrize("name", sorted(REQUIRED_BUILTINS))
def test_builtin_writes_every_field_with_a_source(name):
    profile = load_profile(name)
    assert set(profile.constants) == set(FIELDS[profile.kind])
    for field, constant in profile.constants.items():
        assert constant.source and constant.source != "schema default (energy.profiles)", field
    assert (profile.schedule is not None) == (profile.kind is Kind.QPU)


def test_ion_traps_are_serial_and_superconducting_layered():
    assert load_profile("ionq-forte").schedule is Schedule.SERIAL
    assert load_profile("superconducting").schedule is Schedule.LAYERED


def test_values_are_converted_to_si():
    h100 = load_profile("h100")
    assert h100["memory_per_device"] == 80e9
    assert h100["bandwidth_per_device"] == pytest.approx(3.35e12)
    assert load_profile("ionq-forte")["t_2q"] == pytest.approx(970e-6)


def test_optional_fields_take_documented_defaults():
    profile = parse_profile(_good_simulator(), "mine.toml")
    assert profile["pue"] == 1.0
    assert profile["usable_memory_fraction"] == 0.9
    assert profile.constants["pue"].source == "schema default (energy.profiles)"


def test_user_profile_file_loads(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\nkind = "qpu"\nschedule = "serial"\n'
                    + "".join(f'[{k}]\nvalue = {v}\nunit = "{u}"\nsource = "s"\n' for k, v, u in [
                        ("max_qubits", 10, "1"), ("t_1q", 10, "us"), ("t_2q", 100, "us"),
                        ("t_readout", 100, "us"), ("t_prep", 0, "s"), ("system_power", 5, "kW")]))
    profile = load_profile(path)
    assert profile.kind is Kind.QPU and profile["system_power"] == 5000.0


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["device_power"].update(value=-3),
         r"profile 'bad.toml' field 'device_power' = -3 W: must be > 0"),
        (lambda d: d["bandwidth_per_device"].update(value=0),
         r"field 'bandwidth_per_device' = 0 TB/s: must be > 0"),
        (lambda d: d["efficiency"].update(value=1.5), r"field 'efficiency' = 1.5: must be <= 1"),
        (lambda d: d["max_devices"].update(value=2.5),
         r"field 'max_devices' = 2.5: must be a whole number"),
        (lambda d: d["device_power"].update(unit="GB"),
         r"'GB' is a bytes unit, expected a power unit"),
        (lambda d: d["device_power"].update(unit="horsepower"), r"unknown unit 'horsepower'"),
        (lambda d: d["device_power"].update(value="700"),
         r"'device_power' = '700': must be a number"),
        (lambda d: d["device_power"].pop("source"), r"field 'device_power': missing 'source'"),
        (lambda d: d["device_power"].update(tag="Z"), r"tag 'Z' is not one of"),
        (lambda d: d.pop("efficiency"), r"missing required field 'efficiency'"),
        (lambda d: d.update(bandwith_per_device=d["bandwidth_per_device"]),
         r"unknown field 'bandwith_per_device'"),
        (lambda d: d.update(kind="gpu"), r"field 'kind' = 'gpu': must be one of"),
        (lambda d: d.update(schedule="serial"), r"'schedule' applies to qpu profiles only"),
        (lambda d: d.update(device_power=700), r"'device_power' = 700: must be a table"),
    ],
)
def test_bad_profiles_are_rejected_with_the_field_named(mutate, message):
    data = _good_simulator()
    mutate(data)
    with pytest.raises(EnergyProfileError, match=message):
        parse_profile(data, "bad.toml")


def test_qpu_needs_a_known_schedule():
    data = {"name": "q", "kind": "qpu", "schedule": "parallel"}
    with pytest.raises(EnergyProfileError, match=r"'schedule' = 'parallel': must be one of"):
        parse_profile(data, "q.toml")


def test_unknown_profile_and_invalid_toml(tmp_path):
    with pytest.raises(EnergyProfileError, match="unknown profile 'h900'"):
        load_profile("h900")
    bad = tmp_path / "broken.toml"
    bad.write_text("name = \n")
    with pytest.raises(EnergyProfileError, match="'broken.toml': invalid TOML"):
        load_profile(bad)


def test_with_constant_validates_and_records_the_source():
    h100 = load_profile("h100")
    changed = h100.with_constant("efficiency", 0.5, source="bench fit", tag="M")
    assert changed["efficiency"] == 0.5 and changed.constants["efficiency"].tag == "M"
    assert h100["efficiency"] == 0.7
    with pytest.raises(EnergyProfileError, match="'efficiency' = 0: must be > 0"):
        h100.with_constant("efficiency", 0.0, source="x")
    with pytest.raises(EnergyProfileError, match="unknown field 't_2q' for a simulator profile"):
        h100.with_constant("t_2q", 1.0, source="x")


def test_old_error_names_are_deprecated_aliases():
    """energy's errors are named apart from qsim's (EnergyProfileError, EnergyCircuitError); the old names
    still work for one release, with a DeprecationWarning."""
    import energy
    import energy.circuits
    import energy.profiles

    for module, old, new in ((energy.profiles, "ProfileError", energy.profiles.EnergyProfileError),
                             (energy.circuits, "CircuitError", energy.circuits.EnergyCircuitError),
                             (energy, "ProfileError", energy.profiles.EnergyProfileError),
                             (energy, "CircuitError", energy.circuits.EnergyCircuitError)):
        with pytest.warns(DeprecationWarning, match=f"renamed {new.__name__}"):
            assert getattr(module, old) is new
    with pytest.raises(AttributeError):
        energy.profiles.NoSuchError  # noqa: B018
    with pytest.raises(EnergyProfileError, match="unknown profile"):
        load_profile("h900")
