"""Who may call what, per stage.

- Operators (every route that reads or changes data: idTags are personal data): OPERATOR_AUTH picks
  API Gateway's API key (`api-key`), an IAM authorizer (`iam`) or nothing (`none`, the local stage).
  API Gateway enforces both before the Lambda runs; this module only says which one a route carries.
- Chargers (POST /ocpp/{id}, and the WebSocket upgrade): OCPP 1.6 security profile 1, HTTP Basic with
  the charge point's id as user name and a password of its own, enforced when OCPP_AUTH=basic. The
  password is stored only as a salted hash (storage.get_password_hash), whose tag says how it was made:
  `pbkdf2_sha256$...` (slow) for a password an operator chose, which may be guessable, and `hmac_sha256$...`
  (one HMAC-SHA256) for an AuthorizationKey the system generated (authorization_key.py): 190 random bits
  cannot be guessed however fast a guess is, so the slow hash would buy nothing there but CPU at every login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from collections import OrderedDict
from functools import lru_cache

from chalicelib import ocpp_frames, storage
from chalicelib import settings as settings_module

# OWASP's 2023 figure for PBKDF2-HMAC-SHA256. The stored hash names its own iteration count, so it
# can be raised later without invalidating stored passwords.
ITERATIONS = 600_000
SCHEME = "pbkdf2_sha256"
KEY_SCHEME = "hmac_sha256"
# The OCPP security whitepaper's AuthorizationKey: 16 to 40 characters.
MIN_PASSWORD, MAX_PASSWORD = 16, 40

# A verified (slow stored hash -> SHA-256 of the password) pair, so that a warm Lambda does not pay the
# slow hash on every message of a charger that already proved itself, nor a gateway on every reconnect.
# Keyed by the stored hash, so a password change invalidates it by itself. Bounded by forgetting the
# least recently verified: clearing it when full made a gateway with more chargers than the bound hash
# again on every reconnect. About 270 bytes an entry (the stored hash's string 139, the fingerprint 65,
# the ordered dict's slot 66): 2.7 MB at the bound.
_verified: OrderedDict[str, bytes] = OrderedDict()
_verified_lock = threading.Lock()
_MAX_VERIFIED = 10_000


class PasswordError(ValueError):
    """A password the system will not store."""


def check_password_rules(password: object) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise PasswordError(f"password must be a string of {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if not password.isascii() or not password.isprintable():
        raise PasswordError("password must be printable ASCII characters")
    return password


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """`pbkdf2_sha256$iterations$salt$hash`, salt and hash in base64."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return "$".join((SCHEME, str(iterations), base64.b64encode(salt).decode(), base64.b64encode(digest).decode()))


def hash_key(key: str, salt: bytes | None = None) -> str:
    """`hmac_sha256$salt$hash`, salt and hash in base64: for a system-generated key only (see above)."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hmac.new(salt, key.encode(), hashlib.sha256).digest()
    return "$".join((KEY_SCHEME, base64.b64encode(salt).decode(), base64.b64encode(digest).decode()))


def is_fast(stored: str) -> bool:
    return stored.startswith(KEY_SCHEME + "$")


def verify_password(password: str, stored: str) -> bool:
    """Whether the password is the one whose hash is stored, by the stored hash's own scheme."""
    if is_fast(stored):
        # Not cached: the check is as cheap as the cache's own fingerprint, and it would take the place
        # of a slow hash's entry.
        return _verify_key(password, stored)
    fingerprint = hashlib.sha256(password.encode()).digest()
    with _verified_lock:
        if hmac.compare_digest(_verified.get(stored, b""), fingerprint):
            _verified.move_to_end(stored)
            return True
    try:
        scheme, iterations, salt, expected = stored.split("$")
        if scheme != SCHEME:
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    except (ValueError, binascii.Error):
        return False
    if not hmac.compare_digest(digest, base64.b64decode(expected)):
        return False
    with _verified_lock:
        _verified[stored] = fingerprint
        _verified.move_to_end(stored)
        while len(_verified) > _MAX_VERIFIED:
            _verified.popitem(last=False)
    return True


def _verify_key(key: str, stored: str) -> bool:
    try:
        _, salt, expected = stored.split("$")
        digest = hmac.new(base64.b64decode(salt, validate=True), key.encode(), hashlib.sha256).digest()
        return hmac.compare_digest(digest, base64.b64decode(expected, validate=True))
    except (ValueError, binascii.Error):
        return False


def basic_credentials(charge_point_id: str, authorization_header: str | None) -> str | None:
    """The password in an HTTP Basic header whose user name is this charge point's id, else None.
    The id may itself contain ':' (OCPP allows it), so the split is after the expected user name."""
    if not authorization_header:
        return None
    scheme, _, encoded = authorization_header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII (a non-ASCII header), not UTF-8 once decoded
        return None
    user_prefix = f"{charge_point_id}:"
    return decoded[len(user_prefix) :] if decoded.startswith(user_prefix) else None


@lru_cache(maxsize=1)
def hash_of_nobody() -> str:
    """A hash no password matches, checked for a charger without a password so that an unknown charger
    takes as long to refuse as a wrong password: the refusal's time tells nothing about which ids exist."""
    return hash_password(base64.b64encode(os.urandom(30)).decode())


def check_basic_auth(charge_point_id: str, authorization_header: str | None) -> bool:
    """True when the header carries this charge point's id and its password (1 GetItem). A refusal costs
    one slow hash whatever the charger (none, a password, a key), so that its time tells nothing about which
    ids exist or how they log in; only a charger's own key gets in fast. For the WebSocket upgrade as much
    as for POST /ocpp/{id}."""
    if not ocpp_frames.is_valid_charge_point_id(charge_point_id):
        return False
    password = basic_credentials(charge_point_id, authorization_header)
    if password is None:
        return False
    stored = storage.get_password_hash(charge_point_id)
    if stored is not None and is_fast(stored):
        if verify_password(password, stored):
            return True
        stored = None
    matches = verify_password(password, stored or hash_of_nobody())
    return stored is not None and matches


def charger_may_send(charge_point_id: str, authorization_header: str | None) -> bool:
    """Whether a charger's request passes this stage's OCPP_AUTH."""
    if settings_module.get().ocpp_auth == "none":
        return True
    return check_basic_auth(charge_point_id, authorization_header)


def set_password(charge_point_id: str, password: object) -> str:
    """Store a charger's new password, hashed; returns when it was set. A charger may be given its
    password before its first boot: the hash lives in an item of its own (see storage)."""
    hashed = hash_password(check_password_rules(password))
    set_at = ocpp_frames.format_timestamp(ocpp_frames.now())
    storage.put_password_hash(charge_point_id, hashed, set_at)
    return set_at
