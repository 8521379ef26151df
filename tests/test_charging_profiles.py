"""OCPP 1.6 Smart Charging (3.13) as pure functions: SetChargingProfile's install and replacement rules,
ClearChargingProfile's matching, and the composite schedule against worked examples (stacking, combined
purposes, recurring with a midnight wrap, validity windows, relative schedules, A and W), then hypothesis
properties of the composite against a small independent oracle."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chalicelib import ocpp_frames
from chalicelib.charging_profiles import (
    MAX_PROFILE,
    TX,
    TX_DEFAULT,
    ProfileRejected,
    clear,
    composite_schedule,
    end_transaction,
    install,
    limit_w_at,
)
from tests.ocpp_builders import charging_profile
from tests.support import T0

HOUR = 3600


def on(connector_id: int, profile: dict) -> dict:
    """A profile as stored: the csChargingProfiles object plus the connector it was set on."""
    return {**profile, "connectorId": connector_id}


def periods(composite: dict) -> list[tuple[int, float | None]]:
    return [(p["startPeriod"], p["limit"]) for p in composite["chargingSchedulePeriod"]]


# --- the composite schedule: worked examples ---


def test_a_higher_stack_level_prevails_while_its_schedule_runs_then_the_lower_one_shows_through() -> None:
    # Shaped like the compliancy test of stacking (TC_072_CS): two Absolute TxDefaultProfiles, stack
    # levels 0 and 1, the upper one shorter.
    lower = on(1, charging_profile(1, TX_DEFAULT, [(0, 6), (100, 8), (200, 10)], duration=400))
    upper = on(1, charging_profile(2, TX_DEFAULT, [(0, 10), (100, 7)], stack_level=1, duration=150))
    composite = composite_schedule([lower, upper], 1, T0, 500, "A")
    assert periods(composite) == [(0, 10), (100, 7), (150, 8), (200, 10), (400, None)]
    assert composite["duration"] == 500
    assert composite["startSchedule"] == "2026-11-24T12:00:00.000Z"
    assert composite["chargingRateUnit"] == "A"
    assert periods(composite_schedule([lower, upper], 1, T0, 500, "A", max_rate=32)) == [
        (0, 10),
        (100, 7),
        (150, 8),
        (200, 10),
        (400, 32),
    ]


def test_the_charge_point_maximum_caps_the_tx_profile_which_overrides_the_default() -> None:
    cap = on(0, charging_profile(1, MAX_PROFILE, [(0, 11000)], unit="W"))
    default = on(0, charging_profile(2, TX_DEFAULT, [(0, 16)], stack_level=5))
    tx = on(1, charging_profile(3, TX, [(0, 32), (HOUR, 10)], transactionId=7))
    profiles = [cap, default, tx]
    # 11 kW is 15.9 A on three phases at 230 V (rounded down: never above the cap).
    assert periods(composite_schedule(profiles, 1, T0, 2 * HOUR, "A", transaction_id=7)) == [(0, 15.9), (HOUR, 10)]
    assert periods(composite_schedule(profiles, 1, T0, 2 * HOUR, "W", transaction_id=7)) == [(0, 11000), (HOUR, 6900)]
    # Another transaction, or a connector without one, gets the default (connector 0's applies to all).
    assert periods(composite_schedule(profiles, 1, T0, 2 * HOUR, "A", transaction_id=8)) == [(0, 15.9)]
    assert periods(composite_schedule(profiles, 2, T0, 2 * HOUR, "W")) == [(0, 11000)]
    # A TxProfile overrides the default even when it allows more.
    assert periods(composite_schedule([default, tx], 1, T0, HOUR, "A", transaction_id=7)) == [(0, 32)]


def test_a_default_on_the_connector_beats_the_one_on_connector_0_at_the_same_stack_level() -> None:
    everywhere = on(0, charging_profile(1, TX_DEFAULT, [(0, 16)]))
    here = on(2, charging_profile(2, TX_DEFAULT, [(0, 6)]))
    assert periods(composite_schedule([everywhere, here], 2, T0, HOUR, "A")) == [(0, 6)]
    assert periods(composite_schedule([here, everywhere], 1, T0, HOUR, "A")) == [(0, 16)]


def test_a_daily_profile_wraps_past_midnight_and_does_not_repeat_before_its_start() -> None:
    night = on(
        0,
        charging_profile(
            1,
            TX_DEFAULT,
            [(0, 10), (4 * HOUR, 20)],
            kind="Recurring",
            recurrencyKind="Daily",
            start=datetime.fromisoformat("2026-11-24T22:00:00+00:00"),
            duration=8 * HOUR,
        ),
    )
    evening = datetime.fromisoformat("2026-11-25T20:00:00+00:00")
    composite = composite_schedule([night], 1, evening, 12 * HOUR, "A")
    # 22:00 -> 10 A, 02:00 -> 20 A, 06:00 free until 22:00 again.
    assert periods(composite) == [(0, None), (2 * HOUR, 10), (6 * HOUR, 20), (10 * HOUR, None)]
    assert limit_w_at([night], 1, datetime.fromisoformat("2026-11-27T01:00:00+00:00")) == 10 * 230 * 3
    assert limit_w_at([night], 1, datetime.fromisoformat("2026-11-24T01:00:00+00:00")) is None


def test_a_weekly_profile_comes_back_on_the_same_weekday() -> None:
    monday_mornings = on(
        0,
        charging_profile(
            1,
            TX_DEFAULT,
            [(0, 16)],
            kind="Recurring",
            recurrencyKind="Weekly",
            start=datetime.fromisoformat("2026-11-23T08:00:00+00:00"),
            duration=4 * HOUR,
        ),
    )
    assert limit_w_at([monday_mornings], 1, datetime.fromisoformat("2026-11-30T09:00:00+00:00")) == 16 * 690
    assert limit_w_at([monday_mornings], 1, datetime.fromisoformat("2026-12-01T09:00:00+00:00")) is None


def test_a_profile_counts_only_inside_its_validity_window() -> None:
    base = on(0, charging_profile(1, TX_DEFAULT, [(0, 16)]))
    window = on(
        0,
        charging_profile(
            2,
            TX_DEFAULT,
            [(0, 6)],
            stack_level=1,
            start=T0 - timedelta(days=1),
            validFrom=(T0 + timedelta(hours=1)).isoformat(),
            validTo=(T0 + timedelta(hours=2)).isoformat(),
        ),
    )
    assert periods(composite_schedule([base, window], 1, T0, 3 * HOUR, "A")) == [(0, 16), (HOUR, 6), (2 * HOUR, 16)]


def test_a_relative_profile_runs_from_the_start_of_the_transaction() -> None:
    tx = on(1, charging_profile(1, TX, [(0, 6), (1800, 16)], kind="Relative", transactionId=3))
    started = T0 - timedelta(minutes=10)
    composite = composite_schedule([tx], 1, T0, HOUR, "A", transaction_id=3, tx_start=started)
    assert periods(composite) == [(0, 6), (1200, 16)]
    # A relative default without a transaction: what a session starting now would get.
    default = on(0, charging_profile(2, TX_DEFAULT, [(0, 8), (600, 12)], kind="Relative", duration=1200))
    assert periods(composite_schedule([default], 1, T0, HOUR, "A")) == [(0, 8), (600, 12), (1200, None)]
    assert limit_w_at([default], 1, T0 + timedelta(minutes=15), tx_start=T0) == 12 * 690
    # An Absolute schedule without startSchedule is "relative to start of charging" (the spec's words).
    absolute = on(1, charging_profile(3, TX, [(0, 6), (1800, 16)], start=None, transactionId=3))
    composite = composite_schedule([absolute], 1, T0, HOUR, "A", transaction_id=3, tx_start=started)
    assert periods(composite) == [(0, 6), (1200, 16)]


def test_amperes_and_watts_convert_with_the_phases_in_use_and_min_charging_rate_is_kept() -> None:
    watts = on(0, charging_profile(1, TX_DEFAULT, [(0, 7360)], unit="W"))
    assert periods(composite_schedule([watts], 1, T0, HOUR, "A", phases=1)) == [(0, 32)]
    assert periods(composite_schedule([watts], 1, T0, HOUR, "A")) == [(0, 10.6)]
    one_phase = on(0, charging_profile(2, TX_DEFAULT, [(0, 16)]))
    one_phase["chargingSchedule"]["chargingSchedulePeriod"][0]["numberPhases"] = 1
    one_phase["chargingSchedule"]["minChargingRate"] = 6
    composite = composite_schedule([one_phase], 1, T0, HOUR, "W")
    assert composite["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 3680, "numberPhases": 1}]
    assert composite["minChargingRate"] == 6 * 230
    assert limit_w_at([one_phase], 1, T0, voltage_v=240) == 16 * 240


def test_with_the_chargers_maximum_the_composite_is_a_valid_get_composite_schedule_answer() -> None:
    profiles = [
        on(0, charging_profile(1, MAX_PROFILE, [(0, 7360)], unit="W", duration=HOUR)),
        on(1, charging_profile(2, TX, [(0, 10.6), (600, 12.3)], kind="Relative", transactionId=4)),
    ]
    composite = composite_schedule(profiles, 1, T0, 2 * HOUR, "A", transaction_id=4, max_rate=16)
    # 10.6 A from the TxProfile, then from 600 s the cap (7360 W is 10.6 A on three phases): one period.
    assert periods(composite) == [(0, 10.6), (HOUR, 12.3)]
    answer = {"status": "Accepted", "connectorId": 1, "scheduleStart": composite["startSchedule"]}
    ocpp_frames.validate(ocpp_frames.CALLRESULT, "GetCompositeSchedule", {**answer, "chargingSchedule": composite})


def test_no_profile_no_limit() -> None:
    assert limit_w_at([], 1, T0) is None
    assert periods(composite_schedule([], 1, T0, HOUR, "W", max_rate=22000)) == [(0, 22000)]
    expired = on(0, charging_profile(1, TX_DEFAULT, [(0, 6)], duration=60))
    assert limit_w_at([expired], 1, T0 + timedelta(minutes=5)) is None


# --- SetChargingProfile and ClearChargingProfile ---


def test_install_replaces_by_id_and_by_stack_level_and_purpose_on_the_same_connector() -> None:
    profiles = install([], charging_profile(1, TX_DEFAULT, [(0, 16)]), 1)
    profiles = install(profiles, charging_profile(2, TX_DEFAULT, [(0, 10)]), 2)
    assert [(p["chargingProfileId"], p["connectorId"]) for p in profiles] == [(1, 1), (2, 2)]
    profiles = install(profiles, charging_profile(3, TX_DEFAULT, [(0, 8)]), 1)
    assert sorted(p["chargingProfileId"] for p in profiles) == [2, 3]
    profiles = install(profiles, charging_profile(2, TX_DEFAULT, [(0, 12)], stack_level=4), 1)
    assert [(p["chargingProfileId"], p["connectorId"], p["stackLevel"]) for p in profiles] == [(3, 1, 0), (2, 1, 4)]


def test_install_keeps_a_tx_profile_to_the_transaction_on_its_connector() -> None:
    tx = charging_profile(1, TX, [(0, 16)])
    with pytest.raises(ProfileRejected, match="no transaction"):
        install([], tx, 1)
    with pytest.raises(ProfileRejected, match="connector 0"):
        install([], tx, 0, transaction_id=5)
    with pytest.raises(ProfileRejected, match="transactionId 4"):
        install([], {**tx, "transactionId": 4}, 1, transaction_id=5)
    (stored,) = install([], tx, 1, transaction_id=5)
    assert stored["transactionId"] == 5
    assert end_transaction([stored, on(0, charging_profile(2, TX_DEFAULT, [(0, 6)]))], 1) == [
        on(0, charging_profile(2, TX_DEFAULT, [(0, 6)]))
    ]


@pytest.mark.parametrize(
    ("profile", "connector_id", "reason"),
    [
        (charging_profile(1, MAX_PROFILE, [(0, 32)]), 1, "connector 0"),
        (charging_profile(1, TX_DEFAULT, [(0, 32)], transactionId=3), 1, "only a TxProfile"),
        (
            charging_profile(1, TX_DEFAULT, [(0, 32)], kind="Recurring", start=None, recurrencyKind="Daily"),
            1,
            "startSchedule",
        ),
        (charging_profile(1, TX_DEFAULT, [(0, 32)], kind="Recurring"), 1, "recurrencyKind"),
        (charging_profile(1, TX_DEFAULT, [(60, 32)]), 1, "start at 0"),
        (charging_profile(1, TX_DEFAULT, [(0, 32), (0, 16)]), 1, "increase"),
        (charging_profile(1, TX_DEFAULT, [(0, -1)]), 1, "negative"),
        (charging_profile(1, TX_DEFAULT, [(0, 32)], stack_level=-1), 1, "stackLevel"),
        (
            charging_profile(
                1, TX_DEFAULT, [(0, 32)], validFrom="2026-11-24T12:00:00Z", validTo="2026-11-24T11:00:00Z"
            ),
            1,
            "validTo",
        ),
        (charging_profile(1, TX_DEFAULT, [(0, 32)], validFrom="yesterday"), 1, "ISO 8601"),
    ],
)
def test_install_refuses_what_the_rules_forbid(profile: dict, connector_id: int, reason: str) -> None:
    with pytest.raises(ProfileRejected, match=reason):
        install([], profile, connector_id)


def test_install_refuses_beyond_the_bound_but_still_replaces_at_it() -> None:
    profiles: list[dict] = []
    for n in range(20):
        profiles = install(profiles, charging_profile(n, TX_DEFAULT, [(0, 16)], stack_level=n), 1)
    with pytest.raises(ProfileRejected, match="20 charging profiles"):
        install(profiles, charging_profile(99, TX_DEFAULT, [(0, 16)], stack_level=99), 1)
    assert len(install(profiles, charging_profile(5, TX_DEFAULT, [(0, 6)], stack_level=5), 1)) == 20


def test_clear_by_id_or_by_every_criterion_given() -> None:
    profiles = [
        on(0, charging_profile(1, MAX_PROFILE, [(0, 32)])),
        on(1, charging_profile(2, TX_DEFAULT, [(0, 16)])),
        on(2, charging_profile(3, TX_DEFAULT, [(0, 16)], stack_level=1)),
    ]
    left, removed = clear(profiles, id=2, connector_id=2)
    assert removed and [p["chargingProfileId"] for p in left] == [1, 3]
    assert clear(profiles, id=9) == (profiles, False)
    left, removed = clear(profiles, purpose=TX_DEFAULT, stack_level=1)
    assert removed and [p["chargingProfileId"] for p in left] == [1, 2]
    left, removed = clear(profiles, connector_id=0)
    assert removed and [p["chargingProfileId"] for p in left] == [2, 3]
    assert clear(profiles, connector_id=1, purpose=TX) == (profiles, False)
    assert clear(profiles) == ([], True)
    assert clear([]) == ([], False)


# --- properties ---

WINDOW = 2 * HOUR
TX_START = T0 - timedelta(minutes=20)
PURPOSES = (MAX_PROFILE, TX_DEFAULT, TX)


@st.composite
def stored_profiles(draw: st.DrawFn) -> list[dict]:
    found: list[dict] = []
    for n in range(draw(st.integers(0, 6))):
        purpose = draw(st.sampled_from(PURPOSES))
        starts = sorted(draw(st.sets(st.integers(1, WINDOW), max_size=3)))
        limits = draw(st.lists(st.integers(0, 640), min_size=len(starts) + 1, max_size=len(starts) + 1))
        unit = draw(st.sampled_from(("A", "W")))
        scale = 0.1 if unit == "A" else 50.0
        kind = draw(st.sampled_from(("Absolute", "Recurring", "Relative")))
        # A daily profile that started yesterday repeats inside the window; duration stays within a day.
        days_back = draw(st.integers(0, 1)) if kind == "Recurring" else 0
        profile = charging_profile(
            n,
            purpose,
            [(s, round(limit * scale, 1)) for s, limit in zip([0, *starts], limits, strict=True)],
            stack_level=draw(st.integers(0, 2)),
            unit=unit,
            kind=kind,
            start=T0 + timedelta(days=-days_back, seconds=draw(st.integers(-HOUR, HOUR))),
            duration=draw(st.none() | st.integers(1, 2 * WINDOW)),
            **({"recurrencyKind": "Daily"} if kind == "Recurring" else {}),
        )
        if draw(st.booleans()):
            profile["validTo"] = (T0 + timedelta(seconds=draw(st.integers(0, WINDOW)))).isoformat()
        connector = 0 if purpose == MAX_PROFILE else draw(st.sampled_from((0, 1))) if purpose == TX_DEFAULT else 1
        found.append({**profile, "connectorId": connector, **({"transactionId": 1} if purpose == TX else {})})
    # As install leaves them: one profile per purpose, connector and stack level.
    unique = {(p["chargingProfilePurpose"], p["connectorId"], p["stackLevel"]): p for p in found}
    return list(unique.values())


def oracle_w(profiles: list[dict], at: datetime, phases: int) -> tuple[float | None, float | None]:
    """(prevailing ChargePointMaxProfile, expected composite) in W at `at`, for connector 1 in transaction 1
    (started at TX_START), straight from the spec's words."""

    def in_force(profile: dict) -> float | None:
        schedule = profile["chargingSchedule"]
        if profile["chargingProfileKind"] == "Relative":
            offset = (at - TX_START).total_seconds()
        else:
            offset = (at - datetime.fromisoformat(schedule["startSchedule"].replace("Z", "+00:00"))).total_seconds()
            if profile["chargingProfileKind"] == "Recurring" and offset >= 0:
                offset %= 86400
        valid_to = profile.get("validTo")
        if offset < 0 or offset >= schedule.get("duration", float("inf")):
            return None
        if valid_to and at >= datetime.fromisoformat(valid_to):
            return None
        limit = [p["limit"] for p in schedule["chargingSchedulePeriod"] if p["startPeriod"] <= offset][-1]
        return limit if schedule["chargingRateUnit"] == "W" else limit * 230 * phases

    def prevailing(purpose: str) -> float | None:
        ranked = sorted(
            (p for p in profiles if p["chargingProfilePurpose"] == purpose),
            key=lambda p: (p["stackLevel"], p["connectorId"]),
            reverse=True,
        )
        return next((w for w in map(in_force, ranked) if w is not None), None)

    cap = prevailing(MAX_PROFILE)
    tx = prevailing(TX)
    tx = prevailing(TX_DEFAULT) if tx is None else tx
    applicable = [w for w in (cap, tx) if w is not None]
    return cap, min(applicable) if applicable else None


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    profiles=stored_profiles(),
    unit=st.sampled_from(("A", "W")),
    phases=st.sampled_from((1, 3)),
    probes=st.lists(st.integers(0, WINDOW - 1), min_size=1, max_size=8),
)
def test_the_composite_is_the_minimum_of_what_prevails_at_every_instant(
    profiles: list[dict], unit: str, phases: int, probes: list[int]
) -> None:
    composite = composite_schedule(profiles, 1, T0, WINDOW, unit, phases=phases, transaction_id=1, tx_start=TX_START)
    starts = [p["startPeriod"] for p in composite["chargingSchedulePeriod"]]
    assert starts[0] == 0 and starts == sorted(set(starts)) and starts[-1] < WINDOW
    rounding_w = 0.1 * 230 * phases if unit == "A" else 0.1
    for offset in probes:
        at = T0 + timedelta(seconds=offset)
        cap, expected = oracle_w(profiles, at, phases)
        assert limit_w_at(profiles, 1, at, phases=phases, transaction_id=1, tx_start=TX_START) == pytest.approx(
            expected
        )
        limit = [p["limit"] for p in composite["chargingSchedulePeriod"] if p["startPeriod"] <= offset][-1]
        if expected is None:
            assert limit is None
            continue
        watts = limit if unit == "W" else limit * 230 * phases
        assert expected - rounding_w - 1e-6 <= watts <= expected + 1e-6
        if cap is not None:
            assert watts <= cap + 1e-6


# --- the specification's own examples: OCPP 1.6 edition 2, section 3.13 ---
# Read in a Markdown rendering of the 1.6 edition 2 specification (3.13.2, 3.13.3 and 3.13.7). Only 3.13.7
# gives figures; 3.13.2 and 3.13.3 describe their examples in prose (their figures are drawings without
# numbers), so the numbers of those tests are ours, marked as such, and the behaviour is the prose's.

DAY = 24 * HOUR


def _spec_daily_default() -> dict:
    """The example data structure of 3.13.7, figure for figure: chargingProfileId 100, stackLevel 0,
    TxDefaultProfile, Recurring Daily; its schedule 86400 s from 2013-01-01T00:00Z in W, with periods
    0 (00:00) 11000 W, 28800 (08:00) 6000 W, 72000 (20:00) 11000 W, each on 3 phases."""
    profile = charging_profile(
        100,
        TX_DEFAULT,
        [(0, 11000), (28800, 6000), (72000, 11000)],
        unit="W",
        kind="Recurring",
        start=datetime.fromisoformat("2013-01-01T00:00:00+00:00"),
        duration=86400,
        recurrencyKind="Daily",
    )
    for period in profile["chargingSchedule"]["chargingSchedulePeriod"]:
        period["numberPhases"] = 3
    return on(0, profile)


def test_spec_3_13_7_the_daily_default_profile_limits_to_6_kw_from_08_00_to_20_00() -> None:
    """OCPP 1.6 edition 2, 3.13.7 "Example data structure for smart charging": "a daily default profile that
    limits the power to 6 kW between 08:00h and 20:00h" (11 kW otherwise), set years before it is used."""
    daily = _spec_daily_default()
    midnight = datetime.fromisoformat("2026-12-03T00:00:00+00:00")
    day = composite_schedule([daily], 1, midnight, DAY, "W")
    assert periods(day) == [(0, 11000), (28800, 6000), (72000, 11000)]
    assert all(p["numberPhases"] == 3 for p in day["chargingSchedulePeriod"])
    # Asked at 06:00 for a day: 08:00 is 2 h in, 20:00 14 h in, and midnight changes nothing (11 kW on both sides).
    morning = composite_schedule([daily], 1, midnight + timedelta(hours=6), DAY, "W")
    assert periods(morning) == [(0, 11000), (2 * HOUR, 6000), (14 * HOUR, 11000)]
    for hour, watts in ((7, 11000), (8, 6000), (12, 6000), (19, 6000), (20, 11000), (23, 11000)):
        assert limit_w_at([daily], 2, midnight + timedelta(hours=hour, minutes=59 if hour == 7 else 0)) == watts
    # In amperes at 230 V on the 3 phases it names: rounded down, never above the watts.
    assert periods(composite_schedule([daily], 1, midnight, DAY, "A")) == [(0, 15.9), (28800, 8.6), (72000, 15.9)]


def test_spec_3_13_2_a_weekly_calendar_with_a_holiday_on_top() -> None:
    """OCPP 1.6 edition 2, 3.13.2 "Stacking charging profiles", its example in prose (the figures are ours):
    a TxDefaultProfile recurring weekly that allows full power on weekdays from 23:00 to 06:00 and all day
    at weekends, reduced at other times; on top of it another TxDefaultProfile, a stack level higher, as the
    exception for a holiday. The prevailing profile is the highest stack level valid at that time."""
    full, reduced = 32, 10
    monday = datetime.fromisoformat("2026-11-30T00:00:00+00:00")
    week = [(0, full)]
    for weekday in range(5):  # Monday to Friday: reduced from 06:00, full again from 23:00
        week += [(weekday * DAY + 6 * HOUR, reduced), (weekday * DAY + 23 * HOUR, full)]
    calendar = on(
        0,
        charging_profile(
            1, TX_DEFAULT, week, kind="Recurring", start=monday, duration=7 * DAY, recurrencyKind="Weekly"
        ),
    )
    christmas = datetime.fromisoformat("2026-12-25T00:00:00+00:00")  # a Friday
    holiday = on(
        0,
        charging_profile(
            2,
            TX_DEFAULT,
            [(0, full)],
            stack_level=1,
            start=christmas,
            validFrom=ocpp_frames.format_timestamp(christmas),
            validTo=ocpp_frames.format_timestamp(christmas + timedelta(days=1)),
        ),
    )
    profiles = [calendar, holiday]
    workday = [(0, full), (6 * HOUR, reduced), (23 * HOUR, full)]
    assert periods(composite_schedule(profiles, 1, christmas - timedelta(days=7), DAY, "A")) == workday
    assert periods(composite_schedule(profiles, 1, christmas - timedelta(days=1), DAY, "A")) == workday
    assert periods(composite_schedule(profiles, 1, christmas, DAY, "A")) == [(0, full)]
    # Thursday to Monday night: the holiday joins the weekend; Monday is a workday again.
    assert periods(composite_schedule(profiles, 1, christmas - timedelta(days=1), 4 * DAY + 7 * HOUR, "A")) == [
        (0, full),
        (6 * HOUR, reduced),
        (23 * HOUR, full),
        (4 * DAY + 6 * HOUR, reduced),
    ]
    # "If you use Stacking without a duration, on the highest stack level, the Charge Point will never fall
    # back to a lower stack level profile": the holiday without its validTo never ends.
    del holiday["validTo"]
    assert limit_w_at(profiles, 1, christmas + timedelta(days=11, hours=12)) == full * 690


def test_spec_3_13_2_an_update_valid_from_the_future_replaces_at_once_and_leaves_a_gap() -> None:
    """OCPP 1.6 edition 2, 3.13.2, in prose (the figures are ours): a profile of the same stackLevel and
    purpose sent with validFrom in the future replaces the installed one at once, and the Charge Point
    reverts to default behaviour (here: no limit) until validFrom is reached."""
    installed = install([], charging_profile(1, TX_DEFAULT, [(0, 16)]), 0)
    later = T0 + timedelta(hours=2)
    update = charging_profile(2, TX_DEFAULT, [(0, 8)], validFrom=ocpp_frames.format_timestamp(later))
    profiles = install(installed, update, 0)
    assert [p["chargingProfileId"] for p in profiles] == [2]
    assert periods(composite_schedule(profiles, 1, T0, 3 * HOUR, "A")) == [(0, None), (2 * HOUR, 8)]


def test_spec_3_13_3_purposes_combine_as_the_minimum_over_intervals_of_different_lengths() -> None:
    """OCPP 1.6 edition 2, 3.13.1 and 3.13.3 "Combining charging profile purposes", in prose (the figures
    are ours): the composite is the minimum, for each time interval, of the prevailing ChargePointMaxProfile
    and the prevailing TxProfile, or TxDefaultProfile when no TxProfile is provided; the intervals need not
    be of one length nor the same in each purpose. A TxProfile overrules the default for its transaction
    only, and is deleted when the transaction stops."""
    cap = on(0, charging_profile(1, MAX_PROFILE, [(0, 22000), (2 * HOUR, 11000)], unit="W"))
    default = on(0, charging_profile(2, TX_DEFAULT, [(0, 16), (1800, 32), (3 * HOUR, 10)]))  # 690 W an ampere
    tx = on(1, charging_profile(3, TX, [(0, 6)], duration=HOUR, transactionId=7))
    profiles = [cap, default, tx]
    # 16 A (11040 W) under the cap; then the cap (22 kW < 32 A); from 2 h the lower cap; from 3 h 10 A.
    without = [(0, 11040), (1800, 22000), (2 * HOUR, 11000), (3 * HOUR, 6900)]
    assert periods(composite_schedule(profiles, 1, T0, 4 * HOUR, "W")) == without
    assert periods(composite_schedule(profiles, 1, T0, 4 * HOUR, "W", transaction_id=8)) == without
    # Transaction 7: its TxProfile for its hour (6 A), then the default again under the cap.
    assert periods(composite_schedule(profiles, 1, T0, 4 * HOUR, "W", transaction_id=7)) == [
        (0, 4140),
        (HOUR, 22000),
        *without[2:],
    ]
    assert periods(composite_schedule(end_transaction(profiles, 1), 1, T0, 4 * HOUR, "W", transaction_id=7)) == without
