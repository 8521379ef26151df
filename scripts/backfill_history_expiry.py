"""Give meter history written before there was a retention its expiry, so that DynamoDB's TTL removes it.

    .venv/bin/python -m scripts.backfill_history_expiry --stage prod [--dry-run] [--retention-days N]
                                                         [--segments 4] [--segment I ...]

History items written before METER_HISTORY_RETENTION_DAYS existed have no `expiresAt` and are kept forever.
This walks the stage's history table once and gives each of them the expiry its writer gives an item today:
its newest reading's time + the retention (chalicelib.meter_history.expiry), however long ago that was.
The table names and the retention are the stage's in .chalice/config.json (as the deploy scripts read
them, deploy/templates.py stage-env); `--retention-days` overrides the retention. The region is
AWS_REGION / AWS_DEFAULT_REGION, else your profile's.

A parallel Scan: `--segments N` cuts the table into N segments, walked at once (a thread each, 10 at most);
`--segment I` (repeatable) walks only those, e.g. the ones an interrupted run names, or one per process.
Each item is written with a conditional UpdateItem (the item still exists and still has no expiresAt), so
a writer's value wins over this one, a deleted item is not written back, and a rerun writes nothing.
The runbook and its cost: docs/deployment.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import NoRegionError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib import meter_history, ocpp_frames, settings, storage  # noqa: E402
from deploy import templates  # noqa: E402

NO_TIME = "no reading time to count from"
SKIPPED = {"had": "a writer set expiresAt first (its value kept)", "gone": "deleted since read (not written back)"}
# botocore's connection pool holds 10 connections: more threads would only wait for one.
MAX_THREADS = 10
# Items a Scan page reads: 1,000 history items are ~600 KB (a page's read is rounded up to 4 KB: under 1 %
# more than 1 MB pages), and a page's writes take seconds, not minutes, so Ctrl-C stops soon.
PAGE_ITEMS = 1000
PROGRESS_EVERY = 100_000  # items read in a segment between two progress lines

_print_lock = threading.Lock()


def say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


@dataclass
class Counts:
    scanned: int = 0
    had: int = 0
    set: int = 0  # or, in a dry run, to be set
    past: int = 0  # of those set, already past the retention
    skipped: Counter = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0

    def add(self, other: Counts) -> None:
        for name in ("scanned", "had", "set", "past", "read_units", "write_units"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped.update(other.skipped)


@dataclass
class Outcome:
    counts: Counts
    unfinished: list[int]  # segments not walked to their end (stopped or failed)


def backfill_item(item: dict, dry_run: bool, counts: Counts) -> None:
    try:
        newest = meter_history.newest_reading(item)
    except (KeyError, ValueError, ocpp_frames.FrameError):
        counts.skipped[NO_TIME] += 1
        return
    expires_at = meter_history.expiry(newest)[storage.HISTORY_EXPIRES_AT]
    if not dry_run:
        key = {"sessionId": item["sessionId"], "sampleKey": item["sampleKey"]}
        outcome, units = storage.set_expiry_if_missing(key, expires_at)
        counts.write_units += units
        if outcome != "set":
            counts.skipped[SKIPPED[outcome]] += 1
            return
    counts.set += 1
    counts.past += meter_history.past_retention(newest, ocpp_frames.now())


def walk(segment: int, segments: int, dry_run: bool, stop: threading.Event, page_items: int) -> tuple[Counts, bool]:
    """One segment, page after page, until its end, `stop` or an error (the others go on; this one is named
    for a rerun): its counts, and whether it reached its end."""
    counts, start, reported = Counts(), None, 0
    try:
        while not stop.is_set():
            page = storage.scan_without_expiry(segment, segments, start, page_items)
            counts.scanned += page.scanned
            counts.had += page.scanned - len(page.items)
            counts.read_units += page.read_units
            for item in page.items:
                backfill_item(item, dry_run, counts)
            start = page.last_key
            if start is None:
                say(f"segment {segment}/{segments}: done, {counts.scanned:,} items read")
                return counts, True
            if counts.scanned - reported >= PROGRESS_EVERY:
                reported = counts.scanned
                say(f"segment {segment}/{segments}: {counts.scanned:,} items read so far")
    except Exception as error:
        say(f"segment {segment}/{segments} failed: {error!r}")
    return counts, False


def backfill(selected: list[int], segments: int, dry_run: bool, page_items: int = PAGE_ITEMS) -> Outcome:
    """The selected segments of a Scan in `segments`, at once; Ctrl-C stops each after its current page."""
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=min(len(selected), MAX_THREADS)) as pool:
        futures = {segment: pool.submit(walk, segment, segments, dry_run, stop, page_items) for segment in selected}
        try:
            wait(futures.values())
        except KeyboardInterrupt:
            stop.set()
            say("stopping: each segment finishes the page it is on")
            wait(futures.values())
    total, unfinished = Counts(), []
    for segment, future in futures.items():
        counts, done = future.result()
        total.add(counts)
        if not done:
            unfinished.append(segment)
    return Outcome(total, unfinished)


def report(outcome: Outcome, segments: int, dry_run: bool) -> list[str]:
    counts = outcome.counts
    verb = "to be set (dry run: nothing written)" if dry_run else "set"
    refused = sum(counts.skipped[reason] for reason in SKIPPED.values())
    lines = [
        f"{counts.scanned:>12,}  items read",
        f"{counts.had:>12,}  already had expiresAt",
        f"{counts.set:>12,}  expiresAt {verb}",
        f"{counts.past:>12,}    of which already past the retention: set to now, so DynamoDB's TTL deletes them"
        " within days (the API already hides them)",
        f"{counts.skipped.total():>12,}  skipped",
        *(f"{number:>12,}    {reason}" for reason, number in sorted(counts.skipped.items())),
        f"{counts.read_units:>12,.1f}  read units (Scan){_per(counts.read_units, counts.scanned)}",
        f"{counts.write_units:>12,.1f}  write units (UpdateItem){_per(counts.write_units, counts.set)}"
        + (f", and about 1 for each of the {refused:,} refused writes (billed, not reported)" if refused else ""),
    ]
    if outcome.unfinished:
        again = " ".join(f"--segment {segment}" for segment in outcome.unfinished)
        lines.append(f"not finished: rerun with --segments {segments} {again} (what is done reads, writes nothing)")
    return lines


def _per(units: float, items: int) -> str:
    return f", {units / items:.4f} per item" if items else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, help="a stage of .chalice/config.json: dev, prod")
    parser.add_argument("--dry-run", action="store_true", help="count what would be set, write nothing")
    parser.add_argument("--retention-days", type=int, help="instead of the stage's METER_HISTORY_RETENTION_DAYS")
    parser.add_argument("--segments", type=int, default=4, help="the Scan's number of segments (1-1000000)")
    parser.add_argument("--segment", type=int, action="append", help="walk only this segment (repeatable)")
    args = parser.parse_args(argv)
    selected = sorted(set(args.segment or range(args.segments)))
    if not 1 <= args.segments <= 1_000_000 or not all(0 <= segment < args.segments for segment in selected):
        parser.error(f"--segments must be 1-1000000 and each --segment 0-{args.segments - 1}")
    os.environ.update(templates.stage_env(args.stage))
    if args.retention_days is not None:
        os.environ["METER_HISTORY_RETENTION_DAYS"] = str(args.retention_days)
    if os.environ.get("AWS_REGION"):  # the deploy scripts' order: AWS_REGION first (boto3 reads the other)
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"]
    settings.get.cache_clear()
    try:
        days = settings.get().meter_history_retention_days
    except settings.SettingsError as error:
        parser.error(str(error))
    if not days:
        print("METER_HISTORY_RETENTION_DAYS is 0: meter history is kept forever, so there is nothing to set.")
        return 0
    try:
        region = storage.client().meta.region_name
    except NoRegionError:
        print("no AWS region: set AWS_REGION or 'aws configure set region eu-west-1'", file=sys.stderr)
        return 2
    what = "dry run: nothing is written" if args.dry_run else "writing"
    say(
        f"{settings.get().history_table} in {region}: expiresAt = newest reading + {days} days on items without it;"
        f" segments {', '.join(map(str, selected))} of {args.segments} ({what})"
    )
    outcome = backfill(selected, args.segments, args.dry_run)
    for line in report(outcome, args.segments, args.dry_run):
        say(line)
    return 1 if outcome.unfinished else 0


if __name__ == "__main__":
    sys.exit(main())
