"""Issue 14 in the browser against the real app: the demo fleet is reachable (over the bus), so its cards'
buttons are enabled; the command dialog builds each form from GET /ocpp/schemas/{action} and follows the
command to its answer; the idTags and reservations views list, change and cancel."""

import json

from tests.browser.test_dashboard import DEMO_IDS, open_dashboard, wait_for_demo_grid

QUICK_BUTTONS = ("cp-start", "cp-stop", "cp-reset", "cp-commands")
ENABLED = "sel => { const b = document.querySelector(sel); return Boolean(b) && !b.disabled; }"


def card(cp_id):
    return f"[data-testid=cp-card][data-cp-id='{cp_id}']"


def open_dialog(page, url, cp_id):
    """The dashboard, then cp_id's command dialog, opened from the keyboard."""
    open_dashboard(page, url, "?refresh=2")
    wait_for_demo_grid(page)
    button = f"{card(cp_id)} [data-testid=cp-commands]"
    page.wait_for_function(ENABLED, arg=button, timeout=30000)
    page.focus(button)
    page.keyboard.press("Enter")
    page.locator("[data-testid=cmd-dialog]").wait_for()
    return page


def choose(page, action, field):
    page.select_option("[data-testid=cmd-action]", action)
    page.locator(f"[data-testid=cmd-fields] [data-field='{field}']").wait_for()


def labels(page):
    return page.eval_on_selector_all("[data-testid=cmd-fields] label", "els => els.map(e => e.textContent)")


def wait_final(page, label):
    """The dialog's status line once the command is answered, failed or timed out."""
    page.wait_for_function(
        "label => { const t = document.querySelector('[data-testid=cmd-status]').textContent;"
        " return t.startsWith(label + ': ') && !/sending|waiting/.test(t) || t.startsWith(label + ' failed'); }",
        arg=label,
        timeout=20000,
    )
    return page.locator("[data-testid=cmd-status]").inner_text()


def test_demo_chargers_are_online_with_their_buttons_enabled(page, live_server):
    open_dashboard(page, live_server, "?refresh=2")
    wait_for_demo_grid(page)
    for cp_id in DEMO_IDS:
        for testid in QUICK_BUTTONS:
            page.wait_for_function(ENABLED, arg=f"{card(cp_id)} [data-testid={testid}]", timeout=30000)
        assert "Online" in page.locator(card(cp_id)).inner_text()
    assert page.errors == []


def test_command_form_is_built_from_the_schema_and_followed_to_the_answer(new_page, live_server):
    page = open_dialog(new_page(), live_server, DEMO_IDS[0])
    assert page.evaluate("document.activeElement.dataset.testid") == "cmd-action"
    assert page.eval_on_selector_all("[data-testid=cmd-action] option", "els => els.length") == 19

    # ReserveNow: its required fields marked, a random 31-bit reservationId and an expiry prefilled.
    choose(page, "ReserveNow", "reservationId")
    assert labels(page) == ["connectorId *", "expiryDate *", "idTag *", "parentIdTag", "reservationId *"]
    assert 1 <= int(page.input_value("[data-field=reservationId]")) < 2**31
    assert page.get_attribute("[data-field=expiryDate]", "type") == "datetime-local"
    assert page.input_value("[data-field=expiryDate]")
    posted = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    page.click("[data-testid=cmd-send]")
    msgs = page.eval_on_selector_all("[data-testid=cmd-fields] .field-msg", "els => els.map(e => e.textContent)")
    assert msgs == ["required", "", "required", "", ""] and posted == []
    assert page.evaluate("document.activeElement.dataset.field") == "connectorId"

    # A deep object is a JSON textarea holding the schema's required parts; an enum a select.
    choose(page, "SetChargingProfile", "csChargingProfiles")
    profile = json.loads(page.input_value("textarea[data-field=csChargingProfiles]"))
    assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 0}]
    choose(page, "TriggerMessage", "requestedMessage")
    assert "Heartbeat" in page.eval_on_selector_all(
        "[data-field=requestedMessage] option", "els => els.map(e => e.value)"
    )

    # GetConfiguration: a list field; the charger's answer is shown and listed among the recent commands.
    choose(page, "GetConfiguration", "key")
    page.fill("[data-field=key]", "HeartbeatInterval")
    page.keyboard.press("Enter")
    assert wait_final(page, "GetConfiguration") == "GetConfiguration: answered"
    result = json.loads(page.locator("[data-testid=cmd-result]").inner_text())
    assert "configurationKey" in result or "unknownKey" in result
    assert posted and posted[-1].endswith(f"/chargepoints/{DEMO_IDS[0]}/commands")
    page.locator("[data-testid=cmd-recent-item][data-action=GetConfiguration][data-status=answered]").first.wait_for()

    # The local list: its state beside the registry's, and a SendLocalList the server builds from the registry.
    page.select_option("[data-testid=cmd-action]", "SendLocalList")
    local_list = page.locator("[data-testid=cmd-local-list]")
    page.wait_for_function(
        "() => /^Registry version/.test(document.querySelector('[data-testid=cmd-local-list]').textContent)"
    )
    page.click("[data-testid=cmd-local-list-Full]")
    assert wait_final(page, "SendLocalList (Full, from the registry)").endswith(": Accepted")
    page.wait_for_function(
        "() => /in sync\\./.test(document.querySelector('[data-testid=cmd-local-list]').textContent)"
    )
    assert "out of sync" not in local_list.inner_text()
    page.keyboard.press("Escape")
    page.locator("[data-testid=cmd-dialog]").wait_for(state="hidden")
    assert page.errors == []


def test_local_list_in_parts_is_followed_until_a_part_is_not_accepted(new_page, live_server):
    """Every part of a local list queued in parts (the POST's `commands`, docs/api.md) is followed, not only the
    first: each part's state is listed, the next one polled once the one before is Accepted, and none after one
    that is not. The page's routes play the API's answers (the first part Accepted, the second Failed): a real
    list past a demo charger's 50 entries a message would take 51 PUTs, and its part cannot be made to fail."""
    cp_id, label = DEMO_IDS[0], "SendLocalList (Full, from the registry)"
    parts = [("Full", 2, 3, "Accepted"), ("Differential", 2, 5, "Failed"), ("Differential", 1, 6, "Accepted")]
    queued = [
        {
            "commandId": f"part-{n}",
            "status": "waiting" if n > 1 else "pending",
            "updateType": kind,
            "entries": entries,
            "listVersion": version,
        }
        for n, (kind, entries, version, _) in enumerate(parts, 1)
    ]
    polled = []

    def local_list(route):
        if route.request.method != "POST":
            return route.continue_()
        return route.fulfill(json={**queued[0], "commands": queued, "chargerLimits": {"SendLocalListMaxLength": 2}})

    def command_view(route):
        n = int(route.request.url.rsplit("-", 1)[1])
        polled.append(n)
        status = parts[n - 1][3]
        route.fulfill(
            json={
                "commandId": f"part-{n}",
                "status": "answered",
                "part": n,
                "parts": 3,
                "action": "SendLocalList",
                "result": {"status": status},
            }
        )

    page = new_page()
    page.route(f"**/chargepoints/{cp_id}/localList", local_list)
    page.route(f"**/chargepoints/{cp_id}/commands/part-*", command_view)
    open_dialog(page, live_server, cp_id)
    page.select_option("[data-testid=cmd-action]", "SendLocalList")
    page.click("[data-testid=cmd-local-list-Full]")
    items = page.locator("[data-testid=cmd-part]")
    items.filter(has_text="waiting for the part before").first.wait_for()
    assert items.all_inner_texts() == [
        "Part 1 of 3: Full, 2 entries, version 3 waiting for the charger",
        "Part 2 of 3: Differential, 2 entries, version 5 waiting for the part before",
        "Part 3 of 3: Differential, 1 entry, version 6 waiting for the part before",
    ]
    assert (
        page.locator("[data-testid=cmd-status]").inner_text() == f"{label}: part 1 of 3 sent, waiting for the charger…"
    )

    assert wait_final(page, label) == f"{label}: part 2 of 3 Failed"
    assert items.all_inner_texts() == [
        "Part 1 of 3: Full, 2 entries, version 3 Accepted",
        "Part 2 of 3: Differential, 2 entries, version 5 Failed",
        "Part 3 of 3: Differential, 1 entry, version 6 not sent",
    ]
    assert polled == [1, 2]  # the third part was not followed: the server never sends it
    assert page.locator(f"{card(cp_id)} [data-testid=cp-command-status]").inner_text() == f"{label}: part 2 of 3 Failed"
    assert page.errors == []


def test_reservation_made_in_the_dialog_is_listed_and_cancelled(new_page, live_server):
    cp_id = DEMO_IDS[2]
    page = open_dialog(new_page(), live_server, cp_id)
    free = page.eval_on_selector_all(
        f"{card(cp_id)} [data-testid=connector-chip][data-status=Available]",
        "els => els.map(e => e.dataset.connectorId)",
    )
    choose(page, "ReserveNow", "reservationId")
    reservation_id = page.input_value("[data-field=reservationId]")
    page.fill("[data-field=connectorId]", next((c for c in free if c != "0"), "1"))
    page.fill("[data-field=idTag]", "BROWSER-RSV")
    page.click("[data-testid=cmd-send]")
    answer = wait_final(page, "ReserveNow")
    page.keyboard.press("Escape")

    page.click("[data-testid=reservations-view] summary")
    row = page.locator(f"[data-testid=resv-row][data-reservation-id='{reservation_id}']")
    row.wait_for()
    assert cp_id in row.inner_text() and "BROWSER-RSV" in row.inner_text()
    if answer == "ReserveNow: Accepted":
        row.locator("[data-testid=resv-cancel]").click()
        page.wait_for_selector(
            f"[data-testid=resv-row][data-reservation-id='{reservation_id}'][data-status=Cancelled]", timeout=20000
        )
    assert page.errors == []


def test_idtags_view_adds_edits_and_deletes_a_tag(page, live_server):
    open_dashboard(page, live_server)
    page.click("[data-testid=idtags-view] summary")
    form = page.locator("[data-testid=idtag-form]")
    form.locator("[data-field=idTag]").fill("BROWSER-TAG")
    form.locator("[data-field=status]").select_option("Blocked")
    form.locator("[data-field=maxActiveTransactions]").fill("2")
    page.click("[data-testid=idtag-save]")
    row = page.locator("[data-testid=idtag-row][data-id-tag=BROWSER-TAG]")
    row.wait_for()
    assert row.get_attribute("data-status") == "Blocked"

    row.locator("[data-testid=idtag-edit]").click()
    assert form.locator("[data-field=idTag]").input_value() == "BROWSER-TAG"
    assert form.locator("[data-field=maxActiveTransactions]").input_value() == "2"
    form.locator("[data-field=status]").select_option("Accepted")
    page.click("[data-testid=idtag-save]")
    page.locator("[data-testid=idtag-row][data-id-tag=BROWSER-TAG][data-status=Accepted]").wait_for()

    delete = page.locator("[data-testid=idtag-row][data-id-tag=BROWSER-TAG] [data-testid=idtag-delete]")
    delete.click()
    assert delete.inner_text() == "Confirm delete"
    delete.click()
    row.wait_for(state="detached")
    assert page.locator("[data-testid=idtags-msg]").inner_text() == "Deleted BROWSER-TAG."
    assert page.errors == []


def test_idtags_view_pages_through_the_whole_registry_and_edits_on_a_later_page(page, live_server):
    """More tags than a page: every one is reached by Next page (?pageSize=5, 12 tags: 3 pages at least, the
    registry may hold other tests' tags too), an edit on page 3 stays on page 3, First page goes back. Few tags:
    each PUT and DELETE is a request to the server, and the paging is the same for 5,000."""
    tags = [f"PAGED-{n:02d}" for n in range(1, 13)]
    for tag in tags:
        assert page.request.put(f"{live_server}idtags/{tag}", data={"status": "Accepted"}).ok
    try:
        open_dashboard(page, live_server, "?pageSize=5")
        page.click("[data-testid=idtags-view] summary")
        info = page.locator("[data-testid=idtags-info]")
        seen: list[str] = []
        for number in range(1, 100):
            page.wait_for_function(
                "no => /^Page (\\d+):/.exec(document.querySelector('[data-testid=idtags-info]')?.textContent)?.[1]"
                " === String(no)",
                arg=number,
            )
            on_page = page.eval_on_selector_all("[data-testid=idtag-row]", "els => els.map(e => e.dataset.idTag)")
            more = page.locator("[data-testid=idtags-next]").is_enabled()
            # A full last page still has a nextToken (DynamoDB cannot tell): the page after it is empty.
            assert len(on_page) <= 5 and (on_page or not more)
            plural = "" if len(on_page) == 1 else "s"
            assert info.inner_text() == f"Page {number}: {len(on_page)} idTag{plural}" + (", more on the next" * more)
            seen += on_page
            if "PAGED-12" in on_page:
                assert number >= 3
                row = page.locator("[data-testid=idtag-row][data-id-tag=PAGED-12]")
                row.locator("[data-testid=idtag-edit]").click()
                page.locator("[data-testid=idtag-form] [data-field=status]").select_option("Blocked")
                page.click("[data-testid=idtag-save]")
                page.locator("[data-testid=idtag-row][data-id-tag=PAGED-12][data-status=Blocked]").wait_for()
                assert info.inner_text().startswith(f"Page {number}:")
            if not more:
                break
            page.click("[data-testid=idtags-next]")
        else:
            raise AssertionError("Next page never ran out")
        assert sorted(set(tags) & set(seen)) == tags and len(seen) == len(set(seen))
        page.click("[data-testid=idtags-first]")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=idtags-info]').textContent.startsWith('Page 1:')"
        )
        assert page.locator("[data-testid=idtags-first]").is_disabled()
        assert page.errors == []
    finally:
        for tag in tags:
            page.request.delete(f"{live_server}idtags/{tag}")


def test_idtags_view_finds_a_tag_by_its_id_and_says_when_there_is_none(page, live_server):
    """The find box asks GET /idtags/{idTag}: the whole idTag in any case; the tag found stays shown through a
    refresh; one not in the registry is said, and the page comes back."""
    assert page.request.put(f"{live_server}idtags/FIND-ME-7", data={"status": "Blocked"}).ok
    try:
        open_dashboard(page, live_server, "?pageSize=1")
        page.click("[data-testid=idtags-view] summary")
        page.locator("[data-testid=idtags-info]").filter(has_text="Page 1:").wait_for()
        page.fill("[data-testid=idtag-q]", "find-me-7")
        page.keyboard.press("Enter")
        info = page.locator("[data-testid=idtags-info]")
        info.filter(has_text="Found FIND-ME-7").wait_for()
        rows = page.locator("[data-testid=idtag-row]")
        assert rows.count() == 1 and rows.first.get_attribute("data-status") == "Blocked"
        assert page.locator("[data-testid=idtags-next]").is_disabled()
        # A refresh asks for the tag found again, not for a page.
        with page.expect_response(lambda r: "/idtags" in r.url) as asked:
            page.click("[data-testid=refresh-button]")
        assert asked.value.url == f"{live_server}idtags/find-me-7" and asked.value.ok
        assert info.inner_text().startswith("Found FIND-ME-7") and rows.count() == 1

        page.fill("[data-testid=idtag-q]", "FIND-ME")
        page.click("[data-testid=idtag-find-go]")
        message = page.locator("[data-testid=idtags-msg]")
        message.filter(has_text="No idTag FIND-ME in the registry").wait_for()
        assert message.inner_text() == "No idTag FIND-ME in the registry (a find matches the whole idTag, in any case)."
        info.filter(has_text="Page 1:").wait_for()
        # Chromium logs every refused request; the find's 404 is the only one.
        assert page.errors == [
            "console.error: Failed to load resource: the server responded with a status of 404 (Not Found)"
        ]
    finally:
        page.request.delete(f"{live_server}idtags/FIND-ME-7")
