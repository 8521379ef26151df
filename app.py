"""EV charging central system: the whole app at a glance. Every function hands off to chalicelib.

Every OCPP 1.6J CALL a charger sends is answered by one function, central_system.handle, whatever carries it:
    simulated fleet   simulate_tick (schedule) --CALL on EventBridge--> handle_ocpp_event
                      handle_ocpp_event --answer on EventBridge--> simulator_inbox (the charger reacts at once)
    real chargers     ws://HOST/ocpp/{id}: the WebSocket gateway (chalicelib/ocpp_gateway.py; a container in
                      the cloud, a thread of `chalice local` offline), or POST /ocpp/{id} below
Then: central system -> DynamoDB (chalicelib/storage) -> the REST API below -> the dashboard (static/).
Commands go back the other way: POST /chargepoints/{id}/commands stores the CALL in the outbox of the gateway
holding the charger's socket (Commands table); the gateway sends it and records the charger's answer. To a
simulated charger the CALL goes on EventBridge at once --> simulator_commands, which answers on EventBridge
--> handle_command_answer.
The fleet energy chart: snapshot_fleet_energy (schedule, every 5 minutes) stores the fleet's delivered energy
(Stats table), and GET /stats/energy answers from those snapshots.
The billing export: GET /exports/sessions.csv answers the CSV when it is quick and small; otherwise it records
a job and puts it on EventBridge --> export_worker writes the file, polled at GET /exports/jobs/{jobId}.
"""

import os

from chalice import Chalice, CORSConfig, Cron, Rate, Response
from chalice.app import Request

from chalicelib import (
    central_system,
    commands,
    dashboard,
    diagnostics,
    events,
    export_jobs,
    id_tags,
    local_list,
    openapi,
    rest,
    rest_exports,
    rest_reservations,
    simulator,
    sites,
    telemetry,
)
from chalicelib import fleet_energy as fleet_energy_module
from chalicelib import settings as settings_module

settings = settings_module.get()
# JSON log lines with EMF metrics on stdout for CloudWatch; one short line per event in a local terminal
telemetry.configure(human=settings.stage == "local")
app = Chalice(app_name="ev-charging")
# One CORS configuration for every route: `cors=True` would give a route Chalice's default (origin *).
CORS = CORSConfig(allow_origin=settings.cors_allow_origin)
app.api.cors = CORS
# Every response is text (JSON, HTML, CSS, JS, SVG); only a diagnostics upload's body may be binary.
app.api.binary_types = list(diagnostics.BINARY_TYPES)
# Every route that reads or changes data carries this stage's API key or IAM authorizer (none in local):
# idTags are personal data. Open: the dashboard's files, the API description, the chargers' own route.
OPERATOR = rest.operator_route_options(settings)


def request() -> Request:
    """The request being routed (Chalice types it Optional: it is set only while a route runs)."""
    if app.current_request is None:
        raise RuntimeError("no request is being routed")
    return app.current_request


@app.middleware("http")
def json_unless_said_otherwise(event, get_response):
    return rest.default_content_type(get_response(event))


# --- the simulated charge points ------------------------------------------------------------------


@app.schedule(Rate(settings.schedule_minutes, unit=Rate.MINUTES))
def simulate_tick(event):
    simulator.run_tick()


@app.on_cw_event(events.REPLY_PATTERN)
def simulator_inbox(event):
    simulator.receive_reply(event.detail)


@app.on_cw_event(events.COMMAND_PATTERN)
def simulator_commands(event):
    simulator.receive_command(event.detail)


# --- the central system ---------------------------------------------------------------------------


@app.on_cw_event(events.CALL_PATTERN)
def handle_ocpp_event(event):
    events.answer_call_event(event.to_dict(), central_system.handle_event)


@app.on_cw_event(events.COMMAND_ANSWER_PATTERN)
def handle_command_answer(event):
    commands.record_answer(event.detail["chargePointId"], event.detail["messageId"], event.detail["message"])


# On each interval's boundary (a rate would fire at any phase): the snapshot the fleet energy chart is drawn from.
@app.schedule(Cron(f"0/{fleet_energy_module.INTERVAL_SECONDS // 60}", "*", "*", "*", "?", "*"))
def snapshot_fleet_energy(event):
    fleet_energy_module.take_snapshot()


# An export too big or too slow for the API's answer (GET /exports/sessions.csv answered 202): the file written
# here, with up to 15 minutes (config.json), then polled at GET /exports/jobs/{jobId}.
@app.on_cw_event(events.EXPORT_PATTERN)
def export_worker(event):
    export_jobs.work(event.detail, event.context)


@app.route("/ocpp/{charge_point_id}", methods=["POST"], content_types=["application/json", "text/plain"], cors=CORS)
def ocpp_over_http(charge_point_id):
    status, answer = rest.ocpp(charge_point_id, request().raw_body, request().headers.get("authorization"))
    return Response(body=answer, status_code=status)


# --- the REST API ---------------------------------------------------------------------------------


@app.route("/chargepoints", cors=CORS, **OPERATOR)
def list_charge_points():
    return rest.list_charge_points(request().query_params)


@app.route("/chargepoints/{charge_point_id}", cors=CORS, **OPERATOR)
def get_charge_point(charge_point_id):
    return rest.get_charge_point(charge_point_id)


@app.route(
    "/chargepoints/{charge_point_id}/commands",
    methods=["POST"],
    cors=CORS,
    content_types=["application/json"],
    **OPERATOR,
)
def send_command(charge_point_id):
    return rest.command(commands.submit, charge_point_id, request().raw_body)


@app.route("/chargepoints/{charge_point_id}/commands", cors=CORS, **OPERATOR)
def list_commands(charge_point_id):
    return rest.list_commands(charge_point_id, request().query_params)


@app.route(
    "/chargepoints/{charge_point_id}/password",
    methods=["PUT"],
    cors=CORS,
    content_types=["application/json"],
    **OPERATOR,
)
def set_charge_point_password(charge_point_id):
    return rest.set_password(charge_point_id, request().raw_body)


@app.route("/chargepoints/{charge_point_id}/authorizationKey", methods=["POST"], cors=CORS, **OPERATOR)
def rotate_authorization_key(charge_point_id):
    return rest.rotate_authorization_key(charge_point_id)


@app.route("/chargepoints/{charge_point_id}/chargingProfiles", cors=CORS, **OPERATOR)
def charging_profiles(charge_point_id):
    return rest.charging_profiles(charge_point_id)


@app.route("/chargepoints/{charge_point_id}/commands/{command_id}", cors=CORS, **OPERATOR)
def get_command(charge_point_id, command_id):
    return rest.command(commands.view, charge_point_id, command_id)


@app.route("/chargepoints/{charge_point_id}/diagnostics", cors=CORS, **OPERATOR)
def list_diagnostics(charge_point_id):
    return rest_reservations.list_diagnostics(charge_point_id)


@app.route("/chargepoints/{charge_point_id}/diagnostics/location", cors=CORS, **OPERATOR)
def diagnostics_location(charge_point_id):
    return rest_reservations.diagnostics_location(charge_point_id, request().headers)


@app.route("/reservations", cors=CORS, **OPERATOR)
def list_reservations():
    return rest_reservations.list_reservations(request().query_params)


@app.route("/reservations/{reservation_id}", cors=CORS, **OPERATOR)
def get_reservation(reservation_id):
    return rest_reservations.get_reservation(reservation_id)


@app.route("/chargepoints/{charge_point_id}/localList", cors=CORS, **OPERATOR)
def get_local_list(charge_point_id):
    return rest.command(local_list.status, charge_point_id)


@app.route(
    "/chargepoints/{charge_point_id}/localList",
    methods=["POST"],
    cors=CORS,
    content_types=["application/json"],
    **OPERATOR,
)
def send_local_list(charge_point_id):
    return rest.command(local_list.send, charge_point_id, request().raw_body)


@app.route("/sites", cors=CORS, **OPERATOR)
def list_sites():
    return rest.list_sites(request().query_params)


@app.route("/sites/{site_id}", methods=["PUT"], cors=CORS, content_types=["application/json"], **OPERATOR)
def put_site(site_id):
    return rest.site(sites.put, site_id, rest.json_body(request().raw_body))


@app.route("/sites/{site_id}", cors=CORS, **OPERATOR)
def get_site(site_id):
    return rest.site(sites.view, site_id)


@app.route("/sessions", cors=CORS, **OPERATOR)
def list_sessions():
    return rest.list_sessions(request().query_params)


@app.route("/sessions/{session_id}", cors=CORS, **OPERATOR)
def get_session(session_id):
    return rest.get_session(session_id)


@app.route("/idtags", cors=CORS, **OPERATOR)
def list_id_tags():
    return rest.list_id_tags(request().query_params)


@app.route("/idtags/{id_tag}", cors=CORS, **OPERATOR)
def get_id_tag(id_tag):
    return rest.command(id_tags.get, id_tag)


@app.route("/idtags/{id_tag}", methods=["PUT"], cors=CORS, content_types=["application/json"], **OPERATOR)
def put_id_tag(id_tag):
    return rest.command(id_tags.put, id_tag, request().raw_body)


@app.route("/idtags/{id_tag}", methods=["DELETE"], cors=CORS, **OPERATOR)
def delete_id_tag(id_tag):
    return rest.command(id_tags.delete, id_tag)


@app.route("/exports/sessions.csv", cors=CORS, **OPERATOR)
def export_sessions():
    return rest_exports.export_sessions(request().query_params, request().headers, request().context)


@app.route("/exports/jobs/{job_id}", cors=CORS, **OPERATOR)
def export_job(job_id):
    return rest_exports.export_job(job_id, request().headers)


# Open: an export job's file (local mode), with the signed token of the done job's Location.
@app.route("/exports/files/{export_id}/{file_name}", cors=CORS)
def download_export(export_id, file_name):
    return rest_exports.download_export(export_id, file_name, request().query_params)


@app.route("/sessions/{session_id}/meterValues", cors=CORS, **OPERATOR)
def session_meter_values(session_id):
    return rest.session_meter_values(session_id, request().query_params)


@app.route("/stats", cors=CORS, **OPERATOR)
def stats():
    return rest.stats()


@app.route("/stats/energy", cors=CORS, **OPERATOR)
def fleet_energy():
    return rest.fleet_energy(request().query_params)


@app.route("/simulate", methods=["POST"], cors=CORS, content_types=["application/json"], **OPERATOR)
def simulate():
    return rest.simulate(request().raw_body)


@app.route("/ocpp/schemas/{action}", cors=CORS)
def command_schema(action):
    return rest.command_schema(action)


# Open: a charger uploads its diagnostics here (local mode) with the signed token of its upload location.
@app.route(
    "/diagnostics/{charge_point_id}/{file_name}",
    methods=["PUT", "POST"],
    cors=CORS,
    content_types=list(diagnostics.UPLOAD_TYPES),
)
def upload_diagnostics(charge_point_id, file_name):
    return rest_reservations.upload_diagnostics(charge_point_id, file_name, request().query_params, request().raw_body)


@app.route("/openapi.json", cors=CORS)
def openapi_document():
    return openapi.document()


# --- the dashboard --------------------------------------------------------------------------------


@app.route("/", cors=CORS)
def dashboard_page():
    return dashboard.asset("index.html")


@app.route("/assets/{name}", cors=CORS)
def dashboard_asset(name):
    return dashboard.asset(name)


# Only `chalice local --stage local` starts the offline runtime: config.json's local stage sets LOCAL_RUNTIME=on.
# Importing the app to package, deploy or wire it never starts it (those set a deployed stage, and an unset
# LOCAL_RUNTIME means off).
if (
    settings.stage == "local"
    and os.environ.get("LOCAL_RUNTIME") == "on"
    and "AWS_LAMBDA_FUNCTION_NAME" not in os.environ
):
    from chalicelib import local_runtime

    local_runtime.start(app)  # DynamoDB Local, the in-process bus, the schedule, the OCPP WebSocket gateway
