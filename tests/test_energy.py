"""npubench.energy: worked examples with literal numbers."""

import pytest

from npubench.energy import (
    energy_mj_per_inference,
    integrate_power_mw,
    mean_power_from_energy_counter,
    mean_power_from_samples,
)


def test_energy_per_inference_subtracts_idle():
    # 2500 mW active, 1000 mW idle, 10 s, 500 inferences: 1500 mW * 10 s / 500 = 30 mJ
    assert energy_mj_per_inference(2500.0, 1000.0, 10.0, 500) == pytest.approx(30.0)


def test_energy_per_inference_without_idle_is_gross():
    # no baseline: the whole 2500 mW counts: 2500 * 10 / 500 = 50 mJ
    assert energy_mj_per_inference(2500.0, None, 10.0, 500) == pytest.approx(50.0)


def test_energy_per_inference_refuses_active_below_idle():
    with pytest.raises(ValueError, match="active power below idle baseline"):
        energy_mj_per_inference(900.0, 1000.0, 10.0, 500)


@pytest.mark.parametrize("measured_s, iterations", [(10.0, 0), (0.0, 10), (-1.0, 10)])
def test_energy_per_inference_rejects_nonsense(measured_s, iterations):
    with pytest.raises(ValueError):
        energy_mj_per_inference(2000.0, 1000.0, measured_s, iterations)


def test_energy_counter_mean_power():
    # 0 -> 3,000,000 µJ in 2 s = 1.5 W = 1500 mW
    assert mean_power_from_energy_counter([0.0, 1.0, 2.0], [0, 1_000_000, 3_000_000]) == (
        pytest.approx(1500.0)
    )


def test_energy_counter_wrap():
    # the counter wraps at 1,000,000 µJ: 900,000 -> 100,000 is a step of 200,000 µJ.
    # steps: 200,000 + 200,000 (wrap) + 200,000 = 600,000 µJ over 0.3 s = 2 W = 2000 mW
    t_s = [10.0, 10.1, 10.2, 10.3]
    energy_uj = [700_000, 900_000, 100_000, 300_000]
    assert mean_power_from_energy_counter(t_s, energy_uj, wrap_uj=1_000_000) == pytest.approx(
        2000.0
    )


def test_energy_counter_backwards_without_wrap_is_an_error():
    with pytest.raises(ValueError, match="backwards"):
        mean_power_from_energy_counter([0.0, 1.0], [5_000, 1_000])


@pytest.mark.parametrize(
    "t_s, energy_uj",
    [([0.0], [1.0]), ([1.0, 1.0], [0.0, 5.0]), ([0.0, 1.0], [0.0])],
)
def test_energy_counter_needs_a_window(t_s, energy_uj):
    with pytest.raises(ValueError):
        mean_power_from_energy_counter(t_s, energy_uj)


def test_trapezoid_known_area():
    # a ramp from 0 to 1000 mW over 2 s, then flat for 1 s: 1000 + 1000 = 2000 mJ
    assert integrate_power_mw([0.0, 2.0, 3.0], [0.0, 1000.0, 1000.0]) == pytest.approx(2000.0)
    # a triangle of base 4 s and height 500 mW: 1000 mJ
    assert integrate_power_mw([0, 1, 2, 3, 4], [0, 250, 500, 250, 0]) == pytest.approx(1000.0)


def test_mean_power_is_weighted_by_time():
    # 100 mW for 1 s then 400 mW for 3 s, sampled unevenly: (1*100 + 3*400) / 4 = 325 mW
    t_s = [0.0, 1.0, 1.0, 4.0]
    power_mw = [100.0, 100.0, 400.0, 400.0]
    assert mean_power_from_samples(t_s, power_mw) == pytest.approx(325.0)
    assert mean_power_from_samples([5.0], [42.0]) == 42.0
