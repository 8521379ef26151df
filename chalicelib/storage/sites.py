"""Sites: a grid connection's limit shared by its chargers, and the allocation last computed for it.

A charger belongs to at most one site: its charge point item carries `siteId`, written in the same
transaction as the site, so the messages that already read the charge point know its site for free."""

from __future__ import annotations

from chalicelib.storage.dynamo import Expression, client, from_item, tables, to_item
from chalicelib.storage.operations import Page, batch_get, conditional_update, get_item, query_page, transact, update_if

SITE_FLEET = "site"  # every site's partition in the fleet index (a handful of items per operator)


def get_site(site_id: str, consistent: bool = False) -> dict | None:
    """1 GetItem."""
    return get_item(tables().sites, {"siteId": site_id}, consistent=consistent)


def list_sites(limit: int, start: dict | None) -> Page:
    """A page of sites by id: 1 Query on the fleet index + 1 BatchGetItem; never a Scan."""
    return query_page(tables().sites, "fleet-index", ("fleet", SITE_FLEET), "siteId", limit, start, newest_first=False)


def site_of(charge_point_id: str) -> str | None:
    """The site a charger belongs to: 1 GetItem of its charge point's siteId (eventually consistent)."""
    expr = Expression()
    response = client().get_item(
        TableName=tables().charge_points,
        Key=to_item({"chargePointId": charge_point_id}),
        ProjectionExpression=expr.name("siteId"),
        ExpressionAttributeNames=expr.names,
    )
    site = from_item(response["Item"]).get("siteId") if "Item" in response else None
    return site if isinstance(site, str) else None


def put_site(site: dict, version: int | None, added: list[str], removed: list[str]) -> bool:
    """Create or replace a site, claiming its added chargers and letting go of its removed ones, in 1
    TransactWriteItems (at most 100 items). False when the site changed since `version` (None: it must
    not exist), or an added charger is unknown or on another site."""
    names = tables()
    site_id = site["siteId"]
    if version is None:
        site_condition: dict = {"ConditionExpression": "attribute_not_exists(siteId)"}
    else:
        expr = Expression()
        site_condition = {"ConditionExpression": f"{expr.name('version')} = {expr.value(version)}", **expr.args()}
    item = to_item({**site, "fleet": SITE_FLEET})
    items: list[dict] = [{"Put": {"TableName": names.sites, "Item": item, **site_condition}}]
    for charge_point_id in added:
        expr = Expression()
        mine, owner = expr.value(site_id), expr.name("siteId")
        condition = (
            f"attribute_exists({expr.name('chargePointId')}) AND (attribute_not_exists({owner}) OR {owner} = {mine})"
        )
        items.append(
            {
                "Update": conditional_update(
                    names.charge_points, {"chargePointId": charge_point_id}, expr, f"SET {owner} = {mine}", condition
                )
            }
        )
    for charge_point_id in removed:
        expr = Expression()
        owner = expr.name("siteId")
        condition = f"{owner} = {expr.value(site_id)}"
        items.append(
            {
                "Update": conditional_update(
                    names.charge_points, {"chargePointId": charge_point_id}, expr, f"REMOVE {owner}", condition
                )
            }
        )
    return transact(items)


def charge_points_by_id(charge_point_ids: list[str]) -> dict[str, dict]:
    """The known chargers' items by id (an unknown one is left out), strongly consistent: 1 BatchGetItem
    per 100."""
    keys = [to_item({"chargePointId": cp}) for cp in charge_point_ids]
    return {item["chargePointId"]: item for item in batch_get(tables().charge_points, keys, consistent=True)}


def sessions_by_id(session_ids: list[str]) -> list[dict]:
    """Sessions by id, strongly consistent: 1 BatchGetItem per 100 (none for no id)."""
    keys = [to_item({"sessionId": session_id}) for session_id in session_ids]
    return batch_get(tables().sessions, keys, consistent=True) if keys else []


def note_site_default(charge_point_id: str, default: dict) -> None:
    """What site default profile was last sent to a charger, and at which of its boots: 1 UpdateItem."""
    expr = Expression()
    update = f"SET {expr.name('siteDefault')} = {expr.value(default)}"
    update_if(
        conditional_update(
            tables().charge_points, {"chargePointId": charge_point_id}, expr, update, "attribute_exists(chargePointId)"
        )
    )


def save_allocation(site_id: str, allocation: dict, computed: int) -> bool:
    """The allocation computed from the site as it was at `computed` (its allocationVersion): 1 UpdateItem,
    False when another computation saved one since (the caller computes again)."""
    expr = Expression()
    version = expr.name("allocationVersion")
    condition = f"attribute_exists(siteId) AND ({version} = {expr.value(computed)}" + (
        f" OR attribute_not_exists({version}))" if computed == 0 else ")"
    )
    update = f"SET {expr.name('allocation')} = {expr.value(allocation)}, {version} = {expr.value(computed + 1)}"
    return update_if(conditional_update(tables().sites, {"siteId": site_id}, expr, update, condition))
