"""Export jobs: a billing export the API handed to the export worker, from `running` to `done` or `failed`.

Kept in the Commands table, under a partition of their own: that table has a string key and a TTL
(`expiresAt`), which a job needs (its URL names it; it is forgotten after a day, like its file), and no
charge point id can start with `#` (ocpp_frames.CHARGE_POINT_ID_PATTERN), so no charger's commands meet the
jobs. (The Stats table's key is a number and it has no TTL.) A job has no `createdAt` or `outbox`: the
Commands table's sparse indexes never list it."""

from __future__ import annotations

from chalicelib.storage.dynamo import Expression, client, from_item, tables, to_item
from chalicelib.storage.operations import conditional_update, get_item, update_if, updated_if

PARTITION = "#export-jobs"


def _key(job_id: str) -> dict:
    return {"chargePointId": PARTITION, "commandId": job_id}


def create_job(job_id: str, job: dict) -> None:
    """A new job (status running, not yet claimed by a worker): 1 PutItem."""
    client().put_item(
        TableName=tables().commands,
        Item=to_item({**_key(job_id), **job}),
        ConditionExpression="attribute_not_exists(commandId)",
    )


def get_job(job_id: str) -> dict | None:
    """1 GetItem (strongly consistent: the dashboard polls it as the worker goes)."""
    item = get_item(tables().commands, _key(job_id), consistent=True)
    if item is None:
        return None
    del item["chargePointId"], item["commandId"]
    return item


def claim_job(job_id: str, step: int, sets: dict) -> dict | None:
    """A worker's claim of a step of a running job: `sets` (its start) written only if no worker has claimed
    that step, 1 conditional UpdateItem; the job as claimed, or None (no such job, or a redelivered event).
    Step 1 is the job's first (no `startedAt` yet); step n follows the hand-over of step n - 1."""
    expr = Expression()
    condition = f"{expr.name('status')} = {expr.value('running')} AND "
    if step == 1:
        condition += f"attribute_not_exists({expr.name('startedAt')})"
    else:
        condition += f"{expr.name('step')} = {expr.value(step)} AND {expr.name('claimedStep')} = {expr.value(step - 1)}"
    update = expr.update({**sets, "claimedStep": step})
    args = conditional_update(tables().commands, _key(job_id), expr, update, condition, ReturnValues="ALL_NEW")
    claimed = updated_if(args)
    return None if claimed is None else from_item(claimed)


def hand_over_job(job_id: str, step: int, sets: dict) -> bool:
    """The end of a step that leaves the rest to step + 1: `sets` (the cursor) written while the job runs
    that step, 1 conditional UpdateItem; False when it does not."""
    expr = Expression()
    condition = f"{expr.name('status')} = {expr.value('running')} AND {expr.name('claimedStep')} = {expr.value(step)}"
    update = expr.update({**sets, "step": step + 1})
    return update_if(conditional_update(tables().commands, _key(job_id), expr, update, condition))


def update_job(job_id: str, sets: dict) -> bool:
    """Progress or the end of a running job: 1 conditional UpdateItem; False when it is no longer running."""
    expr = Expression()
    condition = f"{expr.name('status')} = {expr.value('running')}"
    return update_if(conditional_update(tables().commands, _key(job_id), expr, expr.update(sets), condition))
