"""What an outside charger simulator found (docs/ocpp.md, "Tested against an outside simulator"): each test
replays the raw OCPP-J frames SAP's e-mobility-charging-stations-simulator sent, as it sent them, against the
real gateway (plain `websockets`), and checks what the REST API then shows."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from chalicelib import charging_rules, commands
from tests.ocpp_builders import get_json, registered
from tests.support import exchange, wait_for
from tests.test_gateway_edge import post_ocpp
from tests.test_ocpp_gateway import rest

ABB = "CS-ABB-00001"
ABB_BOOT = [
    2,
    "fded3e55-dba4-42ed-98d8-1dbb3627ce7a",
    "BootNotification",
    {"chargePointModel": "MD_TERRA_53", "chargePointVendor": "ABB", "firmwareVersion": "4.0.4.22"},
]
ABB_STARTS = [
    [
        2,
        "23ab80d6-db53-43a9-9785-0a0d623dc887",
        "StartTransaction",
        {"idTag": "UNDEFINED", "meterStart": 0, "timestamp": "2026-12-03T15:39:52.979Z", "connectorId": 1},
    ],
    [
        2,
        "c39aa211-3b96-4573-8daf-0d6bdc0ead0f",
        "StartTransaction",
        {"idTag": "BB2TBR09", "meterStart": 0, "timestamp": "2026-12-03T15:39:57.988Z", "connectorId": 2},
    ],
]
# Its Hard reset: both stops sent back to back, then the socket closed before either was answered.
ABB_STOPS = [
    [
        2,
        "a638e1b3-0557-4d37-95a8-27898f471cf8",
        "StopTransaction",
        {
            "idTag": "UNDEFINED",
            "meterStop": 858,
            "timestamp": "2026-12-03T15:43:28.922Z",
            "transactionId": 1354774228,
            "reason": "Local",
        },
    ],
    [
        2,
        "793d8281-f623-42bc-9903-841db1580dd9",
        "StopTransaction",
        {
            "idTag": "BB2TBR09",
            "meterStop": 1130,
            "timestamp": "2026-12-03T15:43:28.968Z",
            "transactionId": 1379698503,
            "reason": "Local",
        },
    ],
]


def test_calls_received_before_the_charger_closes_are_all_applied_though_no_answer_can_go_back(gateway, client):
    async def scenario():
        async with connect(gateway.url + ABB, subprotocols=["ocpp1.6"]) as ws:
            await exchange(ws, ABB_BOOT)
            transactions = [(await exchange(ws, start))[2]["transactionId"] for start in ABB_STARTS]
            assert transactions == [stop[3]["transactionId"] for stop in ABB_STOPS]
            for stop in ABB_STOPS:
                await ws.send(json.dumps(stop))

        async def both_completed():
            sessions = [
                (await rest(client, "GET", f"/sessions/{charging_rules.session_id(ABB, tx)}"))[1] for tx in transactions
            ]
            return sessions if all(s["status"] == "Completed" for s in sessions) else None

        sessions = await wait_for(both_completed, 5)
        assert [(s["meterStop"], s["stopTime"]) for s in sessions] == [
            (858, "2026-12-03T15:43:28.922Z"),
            (1130, "2026-12-03T15:43:28.968Z"),
        ]

    asyncio.run(scenario())


KEBA = "CS-KEBA-00001"
# Its answers to GetConfiguration without keys, then naming keys (the uniqueId is the command's).
KEBA_CONFIGURATION = [
    (
        {},
        '[3,"5750049c-7d21-48a5-ba0d-aa55c6e86154",{"configurationKey":[{"key":"MeterValuesSampledData","readonly":false,'
        '"value":"Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"},{"key":"MeterValueSampleInt'
        'erval","readonly":false,"value":"30"},{"key":"SupportedFeatureProfiles","readonly":true,"value":"Core,FirmwareM'
        'anagement,LocalAuthListManagement,SmartCharging,RemoteTrigger,Reservation"},{"key":"LocalAuthListEnabled","rea'
        'donly":false,"value":"false"},{"key":"AuthorizeRemoteTxRequests","readonly":false,"value":"false"},{"key":"WebS'
        'ocketPingInterval","readonly":false,"value":"60"},{"key":"ReserveConnectorZeroSupported","readonly":false,"valu'
        'e":"false"},{"key":"HeartbeatInterval","readonly":false,"value":"60"},{"key":"CentralSystemAddress","readonly":'
        'false,"value":"ws://127.0.0.1:9141/ocpp"},{"key":"SampledDataSignReadings","readonly":false,"value":"false"},{"'
        'key":"AlignedDataSignReadings","readonly":false,"value":"false"},{"key":"SampledDataSignStartedReadings","reado'
        'nly":false,"value":"false"},{"key":"SampledDataSignUpdatedReadings","readonly":false,"value":"false"},{"key":"A'
        'lignedDataSignUpdatedReadings","readonly":false,"value":"false"},{"key":"PublicKeyWithSignedMeterValue","readon'
        'ly":false,"value":"Never"},{"key":"StartTxnSampledData","readonly":false,"value":""},{"key":"MaxAvailableCurren'
        't","readonly":false,"value":"32000"},{"key":"NumberOfConnectors","readonly":true,"value":"1"},{"key":"Connector'
        'PhaseRotation","readonly":false,"value":"0.RST,1.RST"},{"key":"ConnectionTimeOut","readonly":false,"value":"180'
        '"}],"unknownKey":[]}]',
    ),
    (
        {"key": ["HeartbeatInterval", "NoSuchKey"]},
        '[3,"16368bf5-838c-49a4-8518-903e045663dc",{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,'
        '"value":"60"}],"unknownKey":["NoSuchKey"]}]',
    ),
    (
        {"key": ["LocalAuthListMaxLength", "SendLocalListMaxLength"]},
        '[3,"e75e2e51-3a0d-4ea8-9441-e9acc367d65c",{"configurationKey":[],"unknownKey":["LocalAuthListMaxLength",'
        '"SendLocalListMaxLength"]}]',
    ),
]


def test_a_get_configuration_naming_keys_updates_those_keys_and_keeps_what_the_charger_said_of_the_others(client):
    registered(client, KEBA)
    for payload, raw in KEBA_CONFIGURATION:
        queued = commands.queue(KEBA, "GetConfiguration", payload)
        frame = raw.replace(json.loads(raw)[1], queued["commandId"])
        assert commands.record_answer(KEBA, queued["commandId"], frame) == "answered"
    shown = get_json(client, f"/chargepoints/{KEBA}")[1]
    assert len(shown["configuration"]) == 20
    assert shown["configuration"]["MeterValueSampleInterval"] == {"readonly": False, "value": "30"}
    assert shown["unknownKeys"] == ["LocalAuthListMaxLength", "SendLocalListMaxLength", "NoSuchKey"]


# A RemoteStartTransaction for a Blocked idTag: the Keba starts, is answered Blocked, and goes back to Available
# without the StopTransaction OCPP 1.6 asks for; the session the start opened stays Active.
KEBA_BLOCKED_START = [
    '[2,"37258a97-1d0d-4334-aa04-4a5fa0b643df","BootNotification",{"chargePointModel":"KC-P30-ESS400C2-E0R",'
    '"chargePointVendor":"Keba AG","firmwareVersion":"1.10.1"}]',
    '[2,"38b72a55-75a4-4f2a-84c2-82b0db6e19af","StartTransaction",{"idTag":"BLOCKED-1","meterStart":0,'
    '"timestamp":"2026-12-03T15:55:10.241Z","connectorId":1}]',
    '[2,"320a093c-0868-40fb-8db3-d109bc8363e8","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
    '"status":"Available"}]',
]


def test_a_start_refused_for_a_blocked_tag_shows_its_refusal_on_the_session(client):
    put = client.http.put(
        "/idtags/BLOCKED-1", headers={"Content-Type": "application/json"}, body=json.dumps({"status": "Blocked"})
    )
    assert put.status_code == 200
    answers = [post_ocpp(client, KEBA, frame)[1] for frame in KEBA_BLOCKED_START]
    assert answers[1][2]["idTagInfo"] == {"status": "Blocked"}
    [session] = get_json(client, f"/sessions?chargePointId={KEBA}")[1]["sessions"]
    assert (session["status"], session["idTagStatus"]) == ("Active", "Blocked")
