"""What a charging session costs: a tariff applied to delivered energy, in exact decimal money."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from chalicelib.settings import Tariff

CENT = Decimal("0.01")


def session_cost(energy_wh: int, tariff: Tariff) -> Decimal:
    """Session fee plus price per kWh, rounded half-up to the cent once, at the end."""
    energy_kwh = Decimal(max(energy_wh, 0)) / 1000
    return (tariff.session_fee + energy_kwh * tariff.price_per_kwh).quantize(CENT, rounding=ROUND_HALF_UP)


def to_minor_units(amount: Decimal) -> int:
    """Money as whole cents, so that sums kept in DynamoDB counters never drift."""
    return int((amount / CENT).to_integral_value(rounding=ROUND_HALF_UP))


def tariff_record(tariff: Tariff) -> dict:
    """The tariff as stored on a session when it starts: later tariff changes do not re-price it."""
    return {
        "pricePerKwh": str(tariff.price_per_kwh),
        "sessionFee": str(tariff.session_fee),
        "currency": tariff.currency,
    }


def tariff_from_record(record: dict) -> Tariff:
    return Tariff(Decimal(record["pricePerKwh"]), Decimal(record["sessionFee"]), record["currency"])
