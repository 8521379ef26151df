"""System-generated AuthorizationKeys (OCPP 1.6 security whitepaper, security profile 1).

`rotate` (POST /chargepoints/{id}/authorizationKey) draws a key of 32 letters and digits from `secrets`
(190 bits) and queues `ChangeConfiguration {key: "AuthorizationKey", value: key}` through the commands
machinery. Only when the charger answers Accepted does the key's fast hash (auth.hash_key) become its
credential (`key_changed`, a ChangeConfiguration effect): until then its old password stays valid, and
any other answer (Rejected, NotSupported, and RebootRequired too: the charger would go on with its old
password until a reboot the system cannot see coming), a CALLERROR or a timeout changes nothing. The
charger's open socket is left alone (credentials are checked at the upgrade only); the whitepaper has the
charger reconnect with its new key, and from then on only that key gets in. A charger that took the key
but whose answer was lost is refused at its next login: the operator sets the key it was given as the
charger's password (PUT /chargepoints/{id}/password; a slow hash then, until the next rotation).

The key is returned to the operator once and kept nowhere in clear. The command's stored payload (and so
its views, listings and the configuration snapshot) says SEALED instead; the command item carries the key
sealed, XORed with an HMAC-SHA256 pad of the stage's PAGINATION_SECRET, the charger and a random nonce,
and `opened` restores it only into the CALL as it goes out (commands.call_frame), in whichever process
sends it (which must share the API's PAGINATION_SECRET: the gateway gets the API function's environment).
So a read of the tables, a backup or an export shows no key; someone who also holds the stage's
PAGINATION_SECRET could open a sealed key (the command keeps it until it expires, KEEP_SECONDS). No log line
carries a payload; websockets' DEBUG frame trace would, as for every frame (the gateway logs at WARNING).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from contextvars import ContextVar

from chalicelib import auth, commands, storage
from chalicelib import settings as settings_module

CONFIGURATION_KEY = "AuthorizationKey"
# 32 of 62 symbols: 190 bits; within auth's 16 to 40 characters, and a SHA-256 pad's 32 bytes (_seal).
KEY_LENGTH = 32
ALPHABET = string.ascii_letters + string.digits  # nothing a charger's configuration tool could mangle
SEALED = "(sealed)"  # what the stored payload, so every view and log of the command, has for the key
_NONCE_BYTES = 16
# Set while `rotate` queues its command: the only AuthorizationKey change the commands machinery takes.
_rotating: ContextVar[bool] = ContextVar("rotating", default=False)


def rotate(charge_point_id: str) -> dict:
    """Queue a new key for the charger (commands.queue's refusals: 404 unknown, 409 offline or busy);
    the queued command and the key, which is never shown again."""
    key = "".join(secrets.choice(ALPHABET) for _ in range(KEY_LENGTH))
    extra = {"sealedKey": _seal(charge_point_id, key), "keyHash": auth.hash_key(key)}
    token = _rotating.set(True)
    try:
        queued = commands.queue(
            charge_point_id, "ChangeConfiguration", {"key": CONFIGURATION_KEY, "value": SEALED}, extra
        )
    finally:
        _rotating.reset(token)
    return {**queued, "chargePointId": charge_point_id, "authorizationKey": key}


def before_change(charge_point_id: str, payload: dict) -> dict:
    """BEFORE_SUBMIT of ChangeConfiguration: an AuthorizationKey only through `rotate`. A key sent as a
    plain command would be stored and shown in clear, and the charger would then log in with a key the
    central system does not know."""
    if payload["key"].casefold() == CONFIGURATION_KEY.casefold() and not _rotating.get():
        raise commands.InvalidCommand(
            f"{CONFIGURATION_KEY} is set with POST /chargepoints/{charge_point_id}/authorizationKey, "
            "which generates the key and makes it the charger's credential once the charger accepts it"
        )
    return payload


def key_changed(command: dict, result: dict) -> None:
    """ChangeConfiguration answered: a rotated key accepted becomes the charger's credential (idempotent:
    the same hash and time for a repeated answer)."""
    if result["status"] != "Accepted" or "keyHash" not in command:
        return
    storage.put_password_hash(command["chargePointId"], command["keyHash"], command["answeredAt"])


def withheld(configuration: dict[str, dict]) -> dict[str, dict]:
    """A GetConfiguration snapshot without an AuthorizationKey's value: the whitepaper makes the key
    write-only, but a charger that reports it anyway must not have it stored."""
    return {
        key: {**entry, "value": SEALED}
        if key.casefold() == CONFIGURATION_KEY.casefold() and "value" in entry
        else entry
        for key, entry in configuration.items()
    }


class SealError(RuntimeError):
    """A sealed key that does not open to the key whose hash the command carries."""


def opened(command: dict, payload: dict) -> dict:
    """The payload as the CALL carries it: a sealed key restored. SealError rather than a wrong key: a
    charger that accepted one would then be refused at its next login."""
    if "sealedKey" not in command:
        return payload
    nonce, _, sealed = command["sealedKey"].partition(".")
    pad = _pad(command["chargePointId"], base64.b64decode(nonce))
    key = _mix(base64.b64decode(sealed), pad).decode(errors="replace")
    if not auth.verify_password(key, command["keyHash"]):
        raise SealError(
            f"the AuthorizationKey of command {command['commandId']} does not open here: this process's "
            "PAGINATION_SECRET is not the one of the process that sealed it"
        )
    return {**payload, "value": key}


def _seal(charge_point_id: str, key: str) -> str:
    """`nonce.sealed`, both in base64."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = _mix(key.encode(), _pad(charge_point_id, nonce))
    return base64.b64encode(nonce).decode() + "." + base64.b64encode(sealed).decode()


def _pad(charge_point_id: str, nonce: bytes) -> bytes:
    """One pad per nonce (never reused: 128 random bits each), bound to the charger."""
    secret = settings_module.get().pagination_secret.encode()
    return hmac.new(secret, b"authorization-key\n" + charge_point_id.encode() + b"\n" + nonce, hashlib.sha256).digest()


def _mix(data: bytes, pad: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, pad, strict=True))
