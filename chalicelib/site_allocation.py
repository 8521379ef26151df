"""A site's power shared among its charging connectors: max-min fairness by water-filling. Pure Python.

Each connector brings a cap, the most it can use (its charger's power, and the car's demand when known);
the site brings its limit. Everyone gets an equal share of the limit; a connector that cannot use its share
keeps only its cap, and what it leaves is shared again among the others, until the limit is used up or
every connector has its cap. The result is the unique max-min fair allocation:

- the sum never exceeds the limit, and no connector gets more than its cap (nor less than 0);
- nothing is left over while a connector is below its cap (leftover is redistributed);
- a connector below its cap gets at least as much as any other: no connector is starved while another is
  above its fair share.

Whole watts: a charger's limit in W is the unit on the wire, and integers keep "never above the limit"
exact. The shares of connectors below their cap differ by at most 1 W (the rounding down); the last to be
served, with the largest cap, takes what the rounding left, so nothing is lost to it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def allocate(limit_w: float, caps_w: Mapping[K, float]) -> dict[K, int]:
    """Each connector's share (W) of `limit_w` under its cap: fill the smallest caps first, so that each
    later connector's equal share of what remains is known when it is its turn."""
    remaining = max(int(limit_w), 0)
    # Ties broken by name: the same connectors get the same shares however they are listed.
    order = sorted(caps_w, key=lambda key: (caps_w[key], str(key)))
    shares: dict[K, int] = {}
    for position, key in enumerate(order):
        equal_share = remaining // (len(order) - position)
        shares[key] = min(max(int(caps_w[key]), 0), equal_share)
        remaining -= shares[key]
    return {key: shares[key] for key in caps_w}
