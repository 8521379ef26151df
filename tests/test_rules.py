"""The plain-Python parts, without AWS: frames, rules, pricing, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chalicelib import charging_rules as rules
from chalicelib import ocpp_frames, pricing, settings, views
from chalicelib.ocpp_frames import FrameError

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_parse_call_returns_the_parts():
    call = ocpp_frames.parse_call('[2, "42", "Heartbeat", {}]')
    assert (call.unique_id, call.action, call.payload) == ("42", "Heartbeat", {})
    assert call.frame() == [2, "42", "Heartbeat", {}]


def test_an_over_long_unique_id_is_refused_but_echoed_so_that_the_charger_can_match_it():
    with pytest.raises(FrameError) as error:
        ocpp_frames.parse_call('[2, "' + "x" * 37 + '", "Heartbeat", {}]')
    assert error.value.code == "ProtocolError" and error.value.frame()[1] == "x" * 37
    with pytest.raises(FrameError) as error:
        ocpp_frames.parse_call('[2, "", "Heartbeat", {}]')
    assert error.value.frame()[1] == ocpp_frames.NO_ID  # nothing to echo


def test_unknown_and_unsupported_actions_use_the_spec_meanings():
    with pytest.raises(FrameError) as unknown:
        ocpp_frames.parse_call('[2, "1", "Fly", {}]')
    with pytest.raises(FrameError) as unsupported:
        ocpp_frames.parse_call(
            '[2, "1", "SecurityEventNotification", {"type": "x", "timestamp": "2026-01-01T00:00:00Z"}]'
        )
    assert (unknown.value.code, unsupported.value.code) == ("NotImplemented", "NotSupported")


def test_timestamps_are_parsed_and_written_in_utc_with_z():
    assert ocpp_frames.parse_timestamp("2026-11-24T13:00:00+01:00") == NOW
    assert ocpp_frames.parse_timestamp("2026-11-24T12:00:00") == NOW  # no offset: UTC
    assert ocpp_frames.format_timestamp(NOW + timedelta(microseconds=123456)) == "2026-11-24T12:00:00.123Z"


@pytest.mark.parametrize("value", ["1970-01-01T00:00:00Z", "2026-11-24T12:10:00Z", "24/11/2026", "", 5])
def test_absurd_or_malformed_timestamps_are_refused(value):
    with pytest.raises(FrameError):
        ocpp_frames.check_timestamp(value, NOW, 300)


def test_clock_drift_within_tolerance_is_accepted():
    assert ocpp_frames.check_timestamp("2026-11-24T12:04:00Z", NOW, 300) == NOW + timedelta(minutes=4)


@pytest.mark.parametrize(
    "connectors,expected",
    [
        ({}, "Unknown"),
        ({"0": {"status": "Available"}}, "Available"),
        ({"1": {"status": "Charging"}, "2": {"status": "Available"}}, "Charging"),
        ({"1": {"status": "Faulted"}, "2": {"status": "Available"}}, "Available"),
        ({"1": {"status": "Faulted"}, "2": {"status": "Faulted"}}, "Faulted"),
        ({"0": {"status": "Unavailable"}, "1": {"status": "Charging"}}, "Unavailable"),
        ({"1": {"status": "SuspendedEV"}, "2": {"status": "Preparing"}}, "SuspendedEV"),
    ],
)
def test_the_charge_point_status_comes_from_its_connectors(connectors, expected):
    assert rules.charge_point_status(connectors) == expected


def test_transaction_ids_are_deterministic_positive_int32_and_move_on_collision():
    first = rules.transaction_id("CP", 1, "TAG", 100, "2026-11-24T12:00:00.000Z")
    assert first == rules.transaction_id("CP", 1, "TAG", 100, "2026-11-24T12:00:00.000Z")
    assert 0 < first < 2**31
    assert first != rules.transaction_id("CP", 1, "TAG", 100, "2026-11-24T12:00:00.000Z", attempt=1)
    assert rules.session_id("CP", first) == rules.session_id("CP", first) != rules.session_id("CP2", first)


def test_meter_samples_are_normalised_and_sorted():
    samples, anomalies = rules.meter_samples(
        [
            {"timestamp": "2026-11-24T11:59:00Z", "sampledValue": [{"value": "2.5", "unit": "kWh"}]},
            {
                "timestamp": "2026-11-24T11:58:00Z",
                "sampledValue": [
                    {"value": "2000"},
                    {"value": "7", "measurand": "Power.Active.Import", "unit": "kW"},
                    {"value": "40", "measurand": "SoC", "unit": "Percent", "location": "EV"},
                    {"value": "230", "measurand": "Voltage", "unit": "V"},
                    {"value": "999999", "phase": "L1"},
                ],
            },
        ],
        NOW,
        300,
    )
    assert [(s.energy_wh, s.power_w, s.soc) for s in samples] == [(2000, 7000.0, 40.0), (2500, None, None)]
    assert anomalies == []
    assert rules.latest_energy(samples).energy_wh == 2500


@pytest.mark.parametrize(
    "sampled,reason",
    [
        ({"value": "-1"}, "outOfRange"),
        ({"value": "1e12"}, "outOfRange"),
        ({"value": "abc"}, "notANumber"),
        ({"value": "nan"}, "notANumber"),
        ({"value": "5", "unit": "MWh"}, "wrongUnit"),
        ({"value": "101", "measurand": "SoC"}, "outOfRange"),
        ({"value": "-3", "measurand": "Power.Active.Import"}, "negativePower"),
    ],
)
def test_an_absurd_sample_is_left_out_and_reported_and_the_others_kept(sampled, reason):
    samples, anomalies = rules.meter_samples(
        [{"timestamp": "2026-11-24T11:59:00Z", "sampledValue": [sampled, {"value": "12", "measurand": "SoC"}]}],
        NOW,
        300,
    )
    assert [a.reason for a in anomalies] == [reason] and samples[0].soc == 12 and samples[0].energy_wh is None
    assert samples[0].power_w == (0.0 if reason == "negativePower" else None)


@pytest.mark.parametrize("value", ["1970-01-01T00:00:00Z", "2026-11-24T13:00:00Z"])
def test_a_sample_with_an_unusable_clock_takes_the_receive_time(value):
    samples, anomalies = rules.meter_samples([{"timestamp": value, "sampledValue": [{"value": "5"}]}], NOW, 300)
    assert samples[0].timestamp == NOW and [a.reason for a in anomalies] == ["clockUnusable"]


@pytest.mark.parametrize(
    "start,stop,last,energy,reasons",
    [
        (1000, 5000, 4000, 4000, []),  # meterStop - meterStart
        (1000, None, 4000, 3000, []),  # no meterStop: the last register
        (1000, 12, 4000, 3000, ["meterStopUnusable"]),  # kWh-scaled meterStop
        (1000, 3000, 4000, 3000, ["meterStopUnusable"]),  # below a register already reported
        (1000, None, 1000, 0, []),
        (1000, 5000, 10**11, 4000, ["implausibleEnergy"]),  # a wild register does not override a sane meterStop
        (1000, 10**11, 1000, 0, ["implausibleEnergy"]),  # a wild meterStop is not billed
        (1000, 10**11, 10**11, 50_000, ["implausibleEnergy", "implausibleEnergy"]),  # both wild: what is plausible
    ],
)
def test_session_energy_at_stop(start, stop, last, energy, reasons):
    billed, anomalies = rules.stop_energy_wh(start, stop, last, 50_000)
    assert billed == energy and [a.reason for a in anomalies] == reasons


def test_plausible_energy_is_max_power_over_the_elapsed_time_with_margin_and_slack():
    assert rules.plausible_energy_wh("2026-11-24T10:00:00Z", "2026-11-24T11:00:00Z", 11_000) == int(
        11_000 * (3600 + 300) / 3600 * 1.2
    )


def test_charge_point_info_is_checked():
    assert rules.charge_point_info('{"location": "A", "maxPower": 50, "connectors": 2}') == {
        "location": "A",
        "maxPower": 50,
        "connectors": 2,
    }
    for bad in (
        "nope",
        "[]",
        '{"location": "", "maxPower": 50, "connectors": 2}',
        '{"location": "A", "maxPower": 0, "connectors": 2}',
        '{"location": "A", "maxPower": 50, "connectors": true}',
    ):
        with pytest.raises(ValueError):
            rules.charge_point_info(bad)


def test_cost_is_fee_plus_energy_rounded_half_up_once():
    tariff = settings.Tariff(Decimal("0.35"), Decimal("0.50"), "EUR")
    assert pricing.session_cost(10_001, tariff) == Decimal("4.00")  # 0.50 + 10.001 * 0.35 = 4.00035
    assert pricing.session_cost(1_500, tariff) == Decimal("1.03")  # 0.50 + 0.525 -> 1.025 -> 1.03
    assert pricing.to_minor_units(Decimal("4.00")) == 400
    assert pricing.tariff_from_record(pricing.tariff_record(tariff)) == tariff


def test_an_active_session_view_derives_energy_and_cost_from_the_latest_register():
    item = {
        "sessionId": "s",
        "chargePointId": "CP",
        "connectorId": 1,
        "transactionId": 7,
        "idTag": "T",
        "status": "Active",
        "startTime": "2026-11-24T10:00:00Z",
        "lastMeterTime": "2026-11-24T10:30:00Z",
        "meterStart": Decimal(1000),
        "lastRegisterWh": Decimal(3500),
        "powerW": Decimal("7400.5"),
        "soc": Decimal("55.5"),
        "tariff": pricing.tariff_record(settings.Tariff(Decimal("0.40"), Decimal("0"), "EUR")),
    }
    view = views.session_view(item)
    assert (view["currentEnergy"], view["cost"], view["power"], view["soc"]) == (2.5, 1.0, 7.4, 55.5)


@pytest.mark.parametrize(
    "name,value,fragment",
    [
        ("STATS_SHARDS", "0", "STATS_SHARDS must be between 1 and 100"),
        ("TARIFF_PRICE_PER_KWH", "cheap", "TARIFF_PRICE_PER_KWH must be a decimal number"),
        ("TARIFF_SESSION_FEE", "-1", "must be zero or more"),
        ("BOOT_POLICY", "yes", "BOOT_POLICY must be one of"),
        ("SIMULATOR_SPEED", "0", "SIMULATOR_SPEED must be between"),
    ],
)
def test_bad_configuration_fails_loudly_with_the_variables_name(name, value, fragment):
    with pytest.raises(settings.SettingsError, match=fragment):
        settings.load({name: value})


def test_boot_policy_and_id_tags():
    config = settings.load(
        {
            "BOOT_POLICY": "allow-list",
            "KNOWN_CHARGE_POINTS": "CP-*, DEPOT-7",
            "BOOT_UNKNOWN_STATUS": "Pending",
        }
    )
    assert [config.boot_status(cp) for cp in ("CP-1", "DEPOT-7", "X")] == ["Accepted", "Accepted", "Pending"]
    assert config.unknown_id_tags == "invalid", "unset, a tag the registry does not know is Invalid"
    assert settings.load({"BOOT_POLICY": "accept-all"}).boot_status("anyone") == "Accepted"
