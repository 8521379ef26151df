"""Signed meter values (of MeterValues and of StopTransaction.transactionData): kept beside their session,
within a bound per message."""

from __future__ import annotations

from chalicelib import charging_rules as rules
from chalicelib import storage
from chalicelib.central_message import Message

# Signed values kept from one message (a frame of several MiB could carry thousands): the rest are counted.
MAX_SIGNED_PER_MESSAGE = 50


def bounded_signed(samples: list[rules.MeterSample], anomalies: list[rules.Anomaly]) -> list[dict]:
    """The message's signed values to keep; beyond the bound they are counted as anomalies."""
    signed = [value for sample in samples for value in sample.signed]
    if len(signed) > MAX_SIGNED_PER_MESSAGE:
        anomalies.append(
            rules.Anomaly(
                "signedValuesNotKept",
                f"{len(signed) - MAX_SIGNED_PER_MESSAGE} signed values beyond {MAX_SIGNED_PER_MESSAGE} in one message",
            )
        )
    return signed[:MAX_SIGNED_PER_MESSAGE]


def keep_signed(msg: Message, session_id: str, signed: list[dict]) -> None:
    if signed:
        storage.keep_signed_values(session_id, [{**value, "chargePointId": msg.charge_point_id} for value in signed])
