"""The log explorer and an event's detail in a real browser: filters and full text through HTMX with the query in
the address bar, Load more appending rows, the back button restoring the previous query, and the detail's
highlighted before/after diff."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import requests
from playwright.sync_api import expect

from conftest import event_body
from tenants.models import Role


@pytest.fixture
def post_bulk(live_server_url, world, marker):
    """post_bulk([fields, ...]) -> ids: one bulk POST through the live server's API (source: this test's marker)."""

    def post(items: list[dict]) -> list[str]:
        response = requests.post(
            f"{live_server_url}/api/v1/logs/bulk",
            json={"events": [event_body(**{"source": marker, **fields}) for fields in items]},
            headers={"Authorization": f"Bearer {world.acme.keys['ingest']}"},
            timeout=20,
        )
        assert response.status_code == 201, response.text
        return response.json()["ids"]

    return post


def rows(page):
    return page.locator("#log-rows tr:not(.load-more)")


def search(page, **fields):
    """Fill the explorer's fields (opening More filters when needed) and submit."""
    for name, value in fields.items():
        field = page.locator(f"#log-search [name='{name}']")
        if not field.is_visible():
            page.locator("#log-search summary").click()
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.get_by_role("button", name="Search").click()


def test_filter_full_text_load_more_and_back(page, sign_in, live_server_url, post_bulk, marker):
    sign_in(page, Role.USER)
    start = datetime.now(UTC) - timedelta(minutes=20)
    post_bulk(
        [
            {
                "action": "LOGIN",
                "message": f"alpha login {i}",
                "occurred_at": (start + timedelta(seconds=i)).isoformat(),
            }
            for i in range(55)
        ]
        + [{"action": "DELETE", "message": "beta removal", "occurred_at": start.isoformat()}]
    )
    page.goto(f"/app/logs?source={marker}")
    expect(rows(page)).to_have_count(50)

    # Load more appends the next rows without reloading the page.
    page.evaluate("window.notReloaded = true")
    page.get_by_role("link", name="Load more").click()
    expect(rows(page)).to_have_count(56)
    expect(page.get_by_role("link", name="Load more")).to_have_count(0)
    expect(page.locator("#results-status")).to_have_text("56 events shown.")
    expect(rows(page).nth(50).get_by_role("link")).to_be_focused()  # the first row it added
    assert page.evaluate("window.notReloaded") is True

    # Full text: the query is in the address bar (empty fields left out), and the results match it.
    search(page, q="alpha", range="24h")
    expect(page).to_have_url(re.compile(r"/app/logs\?range=24h&source=test-[0-9a-f]+&q=alpha$"))
    expect(rows(page)).to_have_count(50)
    expect(rows(page).first).to_contain_text("alpha login 54")

    # A filter of More filters, with the full text cleared.
    search(page, q="", action="delete")
    expect(page).to_have_url(re.compile(r"action=DELETE"))
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("beta removal")
    assert page.evaluate("window.notReloaded") is True

    # Back: the previous query, its form and its results.
    page.go_back()
    expect(page).to_have_url(re.compile(r"q=alpha$"))
    expect(page.locator("#log-search [name='q']")).to_have_value("alpha")
    expect(rows(page).first).to_contain_text("alpha login 54")
    page.go_forward()
    expect(page).to_have_url(re.compile(r"action=DELETE"))
    expect(rows(page)).to_have_count(1)


def test_a_bad_filter_is_a_form_error(page, sign_in, marker):
    sign_in(page, Role.USER)
    page.goto(f"/app/logs?source={marker}")
    search(page, ip="not-an-address")
    expect(page.locator("#log-search .errorlist")).to_contain_text("is not an IP address or network")
    expect(page.get_by_role("button", name="Search")).to_be_visible()


def test_the_detail_highlights_the_changed_fields(page, sign_in, post_event, marker):
    sign_in(page, Role.AUDITOR)
    event = post_event(
        action="UPDATE",
        changes={
            "before": {"plan": "free", "address": {"city": "Oslo"}, "seats": 3},
            "after": {"plan": "pro", "address": {"city": "Oslo"}, "trial": False},
        },
        context={"correlation_id": f"corr-{marker}"},
    )
    related = post_event(action="LOGIN", context={"correlation_id": f"corr-{marker}"})
    page.goto(f"/app/logs?source={marker}&action=UPDATE")
    rows(page).first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/app/logs/{event['id']}$"))
    changed = page.locator("table.diff tr.diff-changed")
    expect(changed).to_have_count(1)
    expect(changed.locator("th")).to_have_text("plan")
    expect(changed.locator(".diff-before")).to_have_text("free")
    expect(changed.locator(".diff-after")).to_have_text("pro")
    expect(page.locator("tr.diff-added th")).to_have_text("trial")
    expect(page.locator("tr.diff-removed th")).to_have_text("seats")
    expect(page.locator("tr.diff-unchanged th")).to_have_text("address.city")
    # Highlighted: the changed row has a background of its own, the unchanged one has none.
    background = changed.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    plain = page.locator("tr.diff-unchanged").evaluate("e => getComputedStyle(e).backgroundColor")
    assert plain != background
    page.locator(f"a[href='/app/logs/{related['id']}']").click()
    expect(page.locator("h1")).to_contain_text("LOGIN")


def test_a_user_sees_encrypted_changes_as_encrypted(page, sign_in, post_event):
    sign_in(page, Role.USER)
    event = post_event(changes={"before": {"plan": "free"}, "after": {"plan": "pro"}})
    page.goto(f"/app/logs/{event['id']}")
    row = page.locator("table.diff tr.diff-hidden")
    expect(row).to_have_count(1)
    expect(row.locator(".diff-after")).to_have_text("[ENCRYPTED]")
    expect(page.locator("table.diff")).not_to_contain_text("free")


def test_the_explorer_works_at_phone_width(phone_page, sign_in, post_event, marker):
    sign_in(phone_page, Role.USER)
    post_event(message="on a small screen")
    phone_page.goto(f"/app/logs?source={marker}")
    expect(rows(phone_page)).to_have_count(1)
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways: {width}px"
