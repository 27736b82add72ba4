"""devices/sim physics: temperatures follow the load, the battery drains and charges, and the
energy ground truth equals what the fuel gauge files report, integrated (fake clock)."""

import pytest
from fake_clock import FakeClock

from npubench.devices.sim.physics import Physics
from npubench.devices.sim.profiles import load_profile
from npubench.devices.sim.userland import Userland

BAT = "/sys/class/power_supply/battery"


@pytest.fixture
def clock():
    return FakeClock(500.0)


def physics(clock, name="sm8650", seed=0):
    return Physics(load_profile(name), clock=clock, seed=seed)


def test_temperatures_rise_under_load_and_fall_when_idle(clock):
    ph = physics(clock)
    ph.set_charging(input_suspended=True)
    clock.advance(3000)  # settle without the charging heat
    idle = ph.snapshot().temps_c
    with ph.load(cores=1.0):
        clock.advance(5)
        early = ph.snapshot().temps_c
        clock.advance(115)
        loaded = ph.snapshot().temps_c
    # the prime core's zone is fast (seconds), the skin is slow (minutes)
    assert early["cpu-2-0-0"] - idle["cpu-2-0-0"] > 15
    assert early["skin-msm-therm"] - idle["skin-msm-therm"] < 1
    assert loaded["cpu-2-0-0"] - idle["cpu-2-0-0"] > 30
    assert 2 < loaded["skin-msm-therm"] - idle["skin-msm-therm"] < loaded["cpuss-0"] - idle[
        "cpuss-0"]
    assert loaded["cpu-2-0-0"] - loaded["cpu-0-0-0"] > 15  # the busy core is the hot one
    clock.advance(5)
    assert ph.temperature_c("cpu-2-0-0") < loaded["cpu-2-0-0"] - 15  # cools by itself
    clock.advance(1800)
    cooled = ph.snapshot().temps_c
    assert all(abs(cooled[z] - idle[z]) < 1.0 for z in idle)


def test_a_long_all_core_load_throttles_and_heats_the_skin(clock):
    phone = Userland("sm8650", clock=clock)
    try:
        phone.physics.set_charging(input_suspended=True)
        policy = "/sys/devices/system/cpu/cpufreq/policy7"
        phone.physics.set_load(cores=8)
        clock.advance(1)
        assert phone.fs.read_bytes(f"{policy}/scaling_cur_freq") == b"3302400\n"
        clock.advance(900)
        capped = int(phone.fs.read_bytes(f"{policy}/scaling_max_freq"))
        assert capped < 3302400 and phone.physics.speed_factor() < 0.95
        assert int(phone.fs.read_bytes(f"{policy}/scaling_cur_freq")) == capped
        assert phone.physics.thermal_status() >= 2
        status = phone.run("dumpsys thermalservice")[0].decode()
        assert f"Thermal Status: {phone.physics.thermal_status()}\n" in status
        phone.physics.set_load(cores=0)
        clock.advance(1800)
        assert phone.physics.speed_factor() == 1.0 and phone.physics.thermal_status() == 0
        assert phone.fs.read_bytes(f"{policy}/scaling_cur_freq") == b"480000\n"
    finally:
        phone.close()


def test_the_battery_drains_under_load_and_charges_on_usb(clock):
    ph = physics(clock, "mt6989")
    start = ph.level_percent()
    clock.advance(600)
    assert ph.level_percent() > start + 1  # plugged: about 1.6 A into the cell
    ph.set_charging(input_suspended=True)
    charged = ph.level_percent()
    with ph.load(cores=8, gpu=1.0):
        clock.advance(600)
    assert ph.level_percent() < charged - 4
    snap = ph.snapshot()
    assert snap.current_a > 0 and snap.voltage_v < ph.profile.battery.ocv[-1][1]


def test_energy_ground_truth_is_the_integral_of_the_gauge_files(clock):
    for name, to_watts in (("sm8650", lambda i, v: -i * 1e-6 * v * 1e-6),
                           ("mt6989", lambda i, v: i * 1e-3 * v * 1e-6)):
        phone = Userland(name, clock=clock, seed=3)
        try:
            assert phone.run("dumpsys battery suspend_input")[2] == 0
            clock.advance(5)
            t0 = phone.physics.now()
            measured, dt = 0.0, 0.05
            schedule = [(10, 0), (20, 4), (10, 0), (15, 1.5), (15, 8), (10, 0)]
            for seconds, cores in schedule:
                phone.physics.set_load(cores=cores)
                for _ in range(round(seconds / dt)):
                    current = int(phone.fs.read_bytes(f"{BAT}/current_now"))
                    voltage = int(phone.fs.read_bytes(f"{BAT}/voltage_now"))
                    measured += to_watts(current, voltage) * dt
                    clock.advance(dt)
            truth = phone.physics.energy_between(t0, phone.physics.now())
            assert truth == pytest.approx(phone.physics.energy_j() - _energy_at(phone, t0),
                                          rel=1e-9)
            assert truth > 100  # joules: several watts for tens of seconds
            assert measured == pytest.approx(truth, rel=0.02), name
        finally:
            phone.close()


def _energy_at(phone, uptime):
    return phone.physics.energy_between(phone.physics.now() - 10_000, uptime)


def test_the_same_seed_gives_the_same_readings(clock):
    def readings(seed):
        ph = physics(FakeClock(), seed=seed)
        out = []
        for step in range(20):
            ph._clock.advance(0.3)
            if step == 5:
                ph.set_load(cores=2)
            out.append((ph.gauge(), ph.temperature_c("cpuss-0")))
        return out

    assert readings(7) == readings(7)
    assert readings(7) != readings(8)


def test_idle_steady_state_and_gauge_noise_are_plausible(clock):
    ph = physics(clock)
    snap = ph.snapshot()
    assert snap.current_a < -1.0  # charging at idle over USB
    assert 3.9 < snap.voltage_v < 4.4
    ph.set_charging(input_suspended=True)
    clock.advance(2)
    currents = []
    for _ in range(200):
        clock.advance(0.25)
        currents.append(ph.gauge().current_a)
    mean = sum(currents) / len(currents)
    spread = (sum((c - mean) ** 2 for c in currents) / len(currents)) ** 0.5
    assert mean == pytest.approx(0.75 / snap.voltage_v, rel=0.1)  # 0.75 W idle from the cell
    assert 0.002 < spread < 0.008  # the profile's 4 mA noise
