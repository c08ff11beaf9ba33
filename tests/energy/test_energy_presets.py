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


def test_ionq_preset_calibrates_the_forte_enterprise_power_file():
    constant = load_profile("ionq-forte-enterprise").constants["system_power"]
    assert constant.tag == "C" and "ionq-34" in constant.source
    assert get_preset("ionq-34").calibrated[:2] == ("qpu", "system_power")


def test_ionq_34_crossover_comes_before_the_dgx_memory_wall():
    result = find_crossover(get_preset("ionq-34").scenario())
    assert result.limit == "cross-over"


def test_unknown_preset_names_the_choices():
    with pytest.raises(KeyError, match="unknown preset 'paper-50'"):
        get_preset("paper-50")
