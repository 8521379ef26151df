"""What a newcomer sees first: on a freshly started server, the dashboard's three demo cards, complete."""

import re

import pytest

from chalicelib.charging_rules import CONNECTOR_STATUSES
from tests.live_server import ServerProcess, chalice_command, free_port, live_env

DEMO_IDS = ["CP-DEMO-001", "CP-DEMO-002", "CP-DEMO-003"]
STATUSES = set(CONNECTOR_STATUSES)
# The cards as rendered: status, location, the meta list, and the connector chips (connector 0 is the charger).
READ_CARDS = """ids => ids.map(id => {
  const card = document.querySelector(`[data-testid=cp-card][data-cp-id='${id}']`);
  if (!card) return null;
  const meta = Object.fromEntries([...card.querySelectorAll('.cp-meta > div')].map(
    d => [d.querySelector('dt').textContent, d.querySelector('dd').textContent]));
  const chips = [...card.querySelectorAll('[data-testid=connector-chip]')].filter(c => c.dataset.connectorId !== '0');
  return {id, status: card.dataset.status, location: card.querySelector('.cp-loc').textContent,
          maxPower: meta['Max power'], connectors: meta['Connectors'], chips: chips.map(c => c.dataset.status)};
})"""
COMPLETE = f"""ids => ({READ_CARDS})(ids).every(c => c && c.status !== 'Unknown' && c.location !== 'Unknown location'
  && c.maxPower !== '—' && c.connectors !== '—' && c.chips.length === Number(c.connectors)
  && c.chips.every(s => s !== 'Unknown'))"""


@pytest.fixture
def one_tick_server(browser_requirements):
    """A fresh server whose simulator ticks once, at start (the next tick is an hour away): whatever makes
    the cards complete is the chargers' reaction to the answers, not a later tick."""
    port = free_port()
    server = ServerProcess(chalice_command(port), port, env=live_env(SIMULATOR_INTERVAL_SECONDS="3600")).start()
    try:
        yield server
    finally:
        server.stop()


def test_a_fresh_start_renders_the_three_demo_cards_complete(new_page, one_tick_server):
    """The server has just answered its first request (as `make run` prints its URLs then): the dashboard,
    refreshing every second, renders all three cards with a status reported over OCPP, a location, a max
    power and every connector's status."""
    page = new_page()
    page.goto(one_tick_server.url + "?refresh=1")
    page.wait_for_function(COMPLETE, arg=DEMO_IDS, timeout=30000)
    cards = page.evaluate(READ_CARDS, DEMO_IDS)
    for card in cards:
        assert card["status"] in STATUSES, card
        assert re.fullmatch(r"Demo Location \d", card["location"]), card
        assert re.fullmatch(r"\d+ kW", card["maxPower"]), card
        assert card["connectors"] in ("1", "2") and len(card["chips"]) == int(card["connectors"]), card
        assert set(card["chips"]) <= STATUSES, card
    assert page.errors == []
