"""The presets reproduce the published cross-overs: 46 (paper) and about 34 (IonQ measurement)."""

import pytest

from energy.crossover import find_crossover
from energy.presets import PRESETS, get_preset, recalibrate
from energy.profiles import load_profile


@pytest.mark.parametrize(("name", "target"), [("paper-46", 46), ("ionq-34", 34)])
def test_preset_reproduces_the_published_crossover(name, target):
    preset = get_preset(name)
    assert preset.target == target
    result = find_crossover(preset.scenario())
    assert abs(result.n_star - target) <= 1


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_stored_calibrated_value_lies_in_the_re_solved_interval(name):
    preset = get_preset(name)
    low, high = recalibrate(preset)
    assert low <= preset.calibrated_value() < high


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_exactly_one_constant_is_calibrated_and_documented(name):
    preset = get_preset(name)
    statuses = [a.status for a in preset.assumptions]
    assert statuses.count("calibrated") == 1
    assert set(statuses) <= {"sourced", "assumed", "calibrated"}
    assert all(a.why or a.status == "assumed" for a in preset.assumptions)


def test_fitted_values_never_flow_into_profiles():
    """No profile file holds a calibrated (tag C) constant; the fitted power is applied to the preset only."""
    from energy.profiles import builtin_profile_names

    for name in builtin_profile_names():
        profile = load_profile(name)
        assert all(c.tag != "C" for c in profile.constants.values()), name
    preset = get_preset("ionq-34")
    assert preset.calibrated[:2] == ("qpu", "system_power")
    fitted = preset.scenario().qpu.constants["system_power"]
    assert fitted.tag == "C" and fitted.value == preset.fitted_value
    for qpu in ("ionq-aria", "ionq-forte", "ionq-forte-enterprise"):
        assert load_profile(qpu)["system_power"] != preset.fitted_value
    unfitted = preset.scenario(calibrated=False).qpu["system_power"]
    assert unfitted == load_profile("ionq-forte-enterprise")["system_power"]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_unfitted_interval_is_reported_beside_the_calibrated_answer(name):
    """The un-fitted interval either contains the target or the preset's note says, with numbers, what is missing."""
    from energy.uncertainty import n_star_interval

    preset = get_preset(name)
    interval = n_star_interval(preset.scenario(calibrated=False), 20, 60)
    assert interval.low <= interval.nominal <= interval.high
    if not interval.low <= preset.target <= interval.high:
        assert "Missing published constant" in preset.note and any(ch.isdigit() for ch in preset.note)


def test_ionq_34_crossover_comes_before_the_dgx_memory_wall():
    result = find_crossover(get_preset("ionq-34").scenario())
    assert result.limit == "cross-over"


def test_unknown_preset_names_the_choices():
    with pytest.raises(KeyError, match="unknown preset 'paper-50'"):
        get_preset("paper-50")
