"""Site load management's allocation (chalicelib/site_allocation.py) against its promises, as properties
over any limit and any connectors' caps (whole watts, as on the wire)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chalicelib.site_allocation import allocate

# A site's limit and its connectors' caps: from nothing to a few hundred kW, up to 30 connectors.
LIMITS = st.integers(min_value=0, max_value=500_000)
CAPS = st.dictionaries(st.integers(0, 999).map(lambda n: f"CP-{n}/1"), st.integers(0, 400_000), max_size=30)
BOUNDED = hypothesis_settings(max_examples=200, deadline=None)


@BOUNDED
@given(LIMITS, CAPS)
def test_never_above_the_limit_nor_a_connectors_or_cars_maximum(limit, caps):
    shares = allocate(limit, caps)
    assert set(shares) == set(caps)
    assert sum(shares.values()) <= limit
    assert all(0 <= shares[key] <= caps[key] for key in caps)


@BOUNDED
@given(LIMITS, CAPS)
def test_leftover_is_redistributed_until_the_limit_or_every_cap_is_reached(limit, caps):
    shares = allocate(limit, caps)
    if any(shares[key] < caps[key] for key in caps):
        assert sum(shares.values()) == limit
    else:
        assert sum(shares.values()) == sum(caps.values())


@BOUNDED
@given(LIMITS, CAPS)
def test_no_connector_is_starved_while_another_is_above_its_fair_share(limit, caps):
    """Max-min fairness: one below its cap has at least what any other has (within the 1 W of rounding)."""
    shares = allocate(limit, caps)
    for starved in (key for key in caps if shares[key] < caps[key]):
        assert all(shares[other] <= shares[starved] + 1 for other in caps), (starved, shares)


@BOUNDED
@given(LIMITS, CAPS)
def test_the_order_connectors_are_listed_in_changes_no_share(limit, caps):
    backwards = dict(reversed(list(caps.items())))
    assert allocate(limit, backwards) == allocate(limit, caps)


@BOUNDED
@given(LIMITS, CAPS, st.integers(min_value=0, max_value=100_000))
def test_a_higher_limit_takes_nothing_from_anyone(limit, caps, more):
    lower, higher = allocate(limit, caps), allocate(limit + more, caps)
    assert all(higher[key] >= lower[key] - 1 for key in caps)


def test_a_worked_example_three_demo_chargers_under_60_kw():
    """An 11 kW car, a 22 kW connector and a 150 kW charger under 60 kW: the equal share is 20 kW, the car
    takes 11; of the 49 left the 22 kW connector takes all it can, the 150 kW charger the remaining 27."""
    shares = allocate(60_000, {"car-11": 11_000, "ac-22": 22_000, "dc-150": 150_000})
    assert shares == {"car-11": 11_000, "ac-22": 22_000, "dc-150": 27_000}
    assert allocate(40_000, {"a": 50_000, "b": 50_000, "c": 5_000}) == {"a": 17_500, "b": 17_500, "c": 5_000}
    assert allocate(0, {"a": 1}) == {"a": 0}
    assert allocate(-5, {"a": 1}) == {"a": 0}
    assert allocate(10, {}) == {}
