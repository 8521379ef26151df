"""A simulated charge point's firmware and diagnostics (OCPP 1.6 5.8, 5.19): an UpdateFirmware runs its
FirmwareStatusNotification sequence from the retrieve date and reboots into the new version; a
GetDiagnostics writes a small report and really uploads it with an HTTP PUT to the location given."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib import charger_messages
from chalicelib.ocpp_frames import format_timestamp as iso
from chalicelib.ocpp_frames import parse_timestamp as at

if TYPE_CHECKING:
    from chalicelib.simulated_charger import Charger

# Each firmware step takes this long (wall-clock seconds) before the next; Installing waits for the
# charger's transactions to end, as a charger does not cut a charge short to install.
FIRMWARE_STEP_SECONDS = 10
FIRMWARE_NEXT = {
    None: "Downloading",
    "Downloading": "Downloaded",
    "Downloaded": "Installing",
    "Installing": "Installed",
}
UPLOAD_TIMEOUT_SECONDS = 5
_VERSION = re.compile(r"\d+(?:\.\d+)+")


def firmware_status(state: dict) -> str:
    """What a triggered FirmwareStatusNotification says: the update under way, or Idle."""
    return (state.get("firmware") or {}).get("status") or "Idle"


def update_firmware(charger: Charger, payload: dict) -> dict:
    """Accepted by an empty answer; a later update replaces one not yet begun or under way."""
    charger.state["firmware"] = {"location": payload["location"], "status": None, "next": payload["retrieveDate"]}
    return {}


def new_version(location: str, current: str) -> str:
    """The version in the firmware file's name (…/fw-1.7.0.bin), else the current one's last number + 1."""
    found = _VERSION.findall(location.rsplit("/", 1)[-1])
    if found:
        return found[-1]
    head, _, last = current.rpartition(".")
    return f"{head}.{int(last) + 1}" if last.isdigit() else f"{current}.1"


def due(charger: Charger, moment: datetime) -> None:
    """The firmware update's next steps, as far as their time has come."""
    state = charger.state
    firmware = state.get("firmware")
    wall = charger.wall(moment)
    while firmware and at(firmware["next"]) <= wall:
        status = FIRMWARE_NEXT[firmware["status"]]
        if status == "Installing" and any(entry["tx"] for entry in state["connectors"].values()):
            return
        firmware.update(status=status, next=iso(wall + timedelta(seconds=FIRMWARE_STEP_SECONDS)))
        charger.send("FirmwareStatusNotification", {"status": status})
        if status == "Installed":
            current = state.get("firmwareVersion", charger_messages.FACTORY_FIRMWARE)
            state["firmwareVersion"] = new_version(firmware["location"], current)
            state["firmware"] = firmware = None
            charger.boot(moment)  # the reboot into the new firmware


def get_diagnostics(charger: Charger, payload: dict) -> dict:
    """The file's name is the answer; Uploading follows, then the upload and its outcome."""
    state, now = charger.state, charger.wall(charger.moment)
    file_name = f"{state['id']}-diagnostics-{now.strftime('%Y%m%dT%H%M%SZ')}.txt"
    charger.send("DiagnosticsStatusNotification", {"status": "Uploading"})
    uploaded = _upload(_target(payload["location"], file_name), _report(state, payload, now).encode())
    charger.send("DiagnosticsStatusNotification", {"status": "Uploaded" if uploaded else "UploadFailed"})
    return {"fileName": file_name}


def _target(location: str, file_name: str) -> str:
    """A directory (ending in /) gets the file by its name; any other URL (a pre-signed one) is the file."""
    return location + file_name if location.endswith("/") else location


def _report(state: dict, payload: dict, now: datetime) -> str:
    lines = [
        f"charge point: {state['id']}",
        f"model: {state['profile']['vendor']} {state['profile']['model']}",
        f"firmware: {state.get('firmwareVersion', charger_messages.FACTORY_FIRMWARE)}",
        f"written: {iso(now)}",
        f"period: {payload.get('startTime', 'start')} .. {payload.get('stopTime', 'now')}",
    ]
    for connector, entry in state["connectors"].items():
        lines.append(f"connector {connector}: {entry['status']}, meter {entry['meterWh']} Wh")
    return "\n".join(lines) + "\n"


def _upload(url: str, body: bytes) -> bool:
    """One HTTP PUT with a short timeout: a charger gives up on a location it cannot reach."""
    if not url.startswith(("http://", "https://")):
        return False
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=UPLOAD_TIMEOUT_SECONDS) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


HANDLERS: dict[str, Callable[[Charger, dict], dict]] = {
    "UpdateFirmware": update_firmware,
    "GetDiagnostics": get_diagnostics,
}
