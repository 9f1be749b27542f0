"""The live tail in a real browser: an event posted through the API shows within seconds; pause holds new events
back and resume shows them; after the connection drops, the page reconnects from its last event (`since`) and
misses nothing that was posted meanwhile."""

import pytest
import requests
from playwright.sync_api import expect

from conftest import event_body
from tenants.models import Role

SHOWN_WITHIN_MS = 5_000


def item(page, event: dict):
    return page.locator(f"#live-events li[data-event-id='{event['id']}']")


@pytest.fixture
def live(page, sign_in, marker):
    """The live tail of this test's events, connected."""
    sign_in(page, Role.USER)
    page.goto(f"/app/live?source={marker}")
    expect(page.locator("#live-status")).to_have_text("Live")
    return page


def test_an_event_posted_through_the_api_shows_within_seconds(live, post_event):
    event = post_event(action="LOGIN", message='hello <b>"live"</b>')
    expect(item(live, event)).to_be_visible(timeout=SHOWN_WITHIN_MS)
    expect(item(live, event)).to_contain_text('hello <b>"live"</b>')  # shown as text, not markup
    expect(item(live, event).locator("b")).to_have_count(0)
    expect(item(live, event).get_by_role("link")).to_have_attribute("href", f"/app/logs/{event['id']}")
    expect(live.locator("#live-rate")).to_have_text("0.2")  # one event in the last five seconds


def test_pause_holds_new_events_and_resume_shows_them(live, post_event):
    first = post_event(message="before the pause")
    expect(item(live, first)).to_be_visible(timeout=SHOWN_WITHIN_MS)
    pause = live.locator("#live-pause")
    pause.click()
    expect(pause).to_have_attribute("aria-pressed", "true")
    held = post_event(message="during the pause")
    expect(live.locator("#live-held")).to_have_text("1 new event held", timeout=SHOWN_WITHIN_MS)
    expect(item(live, held)).to_have_count(0)
    pause.click()
    expect(pause).to_have_attribute("aria-pressed", "false")
    expect(item(live, held)).to_be_visible()
    expect(live.locator("#live-events li").first).to_have_attribute("data-event-id", held["id"])  # newest first
    expect(live.locator("#live-held")).to_be_hidden()


def test_after_a_drop_it_reconnects_without_missing_events(live, post_event):
    before = post_event(message="before the drop")
    expect(item(live, before)).to_be_visible(timeout=SHOWN_WITHIN_MS)
    live.evaluate("document.dispatchEvent(new CustomEvent('live-tail:drop', {detail: {reconnectAfter: 3000}}))")
    status = live.locator("#live-status")
    expect(status).to_have_text("Disconnected; reconnecting…")
    missed = [post_event(message=f"while disconnected {i}") for i in range(2)]
    assert status.text_content() == "Disconnected; reconnecting…", "posted after the page had reconnected"
    for event in missed:
        expect(item(live, event)).to_be_visible(timeout=SHOWN_WITHIN_MS + 3000)
    expect(status).to_have_text("Live")
    after = post_event(message="after the reconnection")
    expect(item(live, after)).to_be_visible(timeout=SHOWN_WITHIN_MS)
    expect(live.locator("#live-events li")).to_have_count(4)  # each once: the replay repeats none


def test_the_list_keeps_the_newest_500(live, live_server_url, world, marker):
    response = requests.post(
        f"{live_server_url}/api/v1/logs/bulk",
        json={"events": [event_body(source=marker, message=f"burst {i}") for i in range(505)]},
        headers={"Authorization": f"Bearer {world.acme.keys['ingest']}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    events = live.locator("#live-events li")
    expect(live.locator("#live-rate")).to_have_text("101.0", timeout=SHOWN_WITHIN_MS)  # all 505 received
    expect(events).to_have_count(500)
    expect(live.locator("#live-events li", has_text="burst")).to_have_count(500)
