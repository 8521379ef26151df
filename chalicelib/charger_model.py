"""The physical side of a simulated charge point: its hardware profile, the cars that come to it, their
charging curves, the energy they draw, and the odd fault. Plain data and arithmetic on a charger's stored
state; what it says about all this over OCPP is simulated_charger.py."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from chalicelib.ocpp_frames import format_timestamp as iso

DEMO_PROFILES: tuple[dict[str, Any], ...] = (
    {
        "location": "Demo Location 1",
        "model": "FastCharge Pro",
        "vendor": "EV Solutions Inc",
        "connectors": 2,
        "maxPower": 50,
    },
    {
        "location": "Demo Location 2",
        "model": "CityCharge AC22",
        "vendor": "EV Solutions Inc",
        "connectors": 2,
        "maxPower": 22,
    },
    {
        "location": "Demo Location 3",
        "model": "HyperCharge 150",
        "vendor": "EV Solutions Inc",
        "connectors": 1,
        "maxPower": 150,
    },
)
# Typical cars: capacity, the most they take, and their charging curve as (SoC %, share of max power).
CARS: tuple[dict[str, Any], ...] = (
    {"model": "City 40", "capacityKwh": 40, "maxKw": 11, "curve": [[0, 1.0], [75, 1.0], [100, 0.3]]},
    {"model": "Family 77", "capacityKwh": 77, "maxKw": 22, "curve": [[0, 1.0], [80, 1.0], [100, 0.4]]},
    {"model": "Tourer 90", "capacityKwh": 90, "maxKw": 150, "curve": [[0, 1.0], [50, 0.85], [80, 0.45], [100, 0.1]]},
)
FAULT_CODES = ("GroundFailure", "HighTemperature", "PowerSwitchFailure", "OverCurrentFailure")
SAMPLE_SECONDS = 60  # MeterValueSampleInterval's factory value (a configuration key): real chargers use 10-300 s
MEAN_IDLE_SECONDS = 15 * 60
MEAN_SECONDS_BETWEEN_FAULTS = 8 * 3600
PAUSE_CHANCE_PER_HOUR = 0.3


def new_charger(charge_point_id: str, number: int, now: datetime, rng: random.Random) -> dict:
    """A charger's state as it leaves the factory: every connector free, a car due in a few seconds."""
    profile = DEMO_PROFILES[(number - 1) % len(DEMO_PROFILES)]
    connectors = {
        str(c): {
            "status": "Available",
            "reported": None,
            "meterWh": rng.randint(100_000, 2_000_000),
            "nextArrival": iso(now + timedelta(seconds=rng.uniform(5, 40))),
            "car": None,
            "tx": None,
            "until": None,
            "faultReturn": None,
            "lastSample": None,
        }
        for c in range(1, profile["connectors"] + 1)
    }
    return {
        "id": charge_point_id,
        "profile": profile,
        "clock": iso(now),
        "wall": iso(now),
        "seq": 0,
        "boot": "new",
        "heartbeatInterval": 60,
        "lastHeartbeat": None,
        "awaiting": {},
        "unfinished": {},
        "connectors": connectors,
    }


def arriving_car(rng: random.Random, moment: datetime) -> dict:
    """A car that pulls up: some charge left, a target, and a time it leaves."""
    car = dict(rng.choice(CARS))
    car.update(
        soc=round(rng.uniform(10, 50), 1),
        targetSoc=rng.choice([80, 90, 100]),
        departure=iso(moment + timedelta(minutes=rng.uniform(20, 180))),
    )
    return car


def plugged_in_car(rng: random.Random, moment: datetime) -> dict:
    """A car already plugged in when a transaction is started on demand: an hour at most."""
    car = dict(rng.choice(CARS))
    car.update(soc=30.0, targetSoc=90, departure=iso(moment + timedelta(minutes=60)))
    return car


def fault(entry: dict, rng: random.Random, moment: datetime) -> None:
    """A free connector goes Faulted for a few minutes, then returns to Available."""
    entry.update(
        status="Faulted",
        faultReturn="Available",
        errorCode=rng.choice(FAULT_CODES),
        until=iso(moment + timedelta(seconds=rng.uniform(120, 900))),
    )


def draw(entry: dict, share_kw: float, seconds: float) -> float:
    """A charging car draws its share of the charger's power for `seconds`: the meter and the car's SoC
    move on. The power in kW."""
    car = entry["car"]
    power_kw = min(share_kw, car["maxKw"] * _curve(car["curve"], car["soc"]))
    energy_wh = power_kw * 1000 * seconds / 3600
    entry["meterWh"] += round(energy_wh)
    car["soc"] = min(100.0, car["soc"] + energy_wh / 10 / car["capacityKwh"])
    return power_kw


def _curve(points: list[list[float]], soc: float) -> float:
    """Linear interpolation of the car's charging curve at this SoC."""
    for (soc_a, share_a), (soc_b, share_b) in pairwise(points):
        if soc <= soc_b:
            return share_a + (share_b - share_a) * (soc - soc_a) / (soc_b - soc_a)
    return points[-1][1]
