"""Database round trips per request, counted on the wire: a change that adds one fails here.

Budget (issue 6): the operation's minimum plus one for the token's session check.
"""
import logging
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import MongoClient, monitoring

from crm_service import create_app
from tests.conftest import login, make_staff


class CommandCounter(monitoring.CommandListener):
    def __init__(self):
        self.names = []
        self.targets = []

    def started(self, event):
        self.names.append(event.command_name)
        self.targets.append(event.command.get(event.command_name))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def counted(config, mongo_uri):
    counter = CommandCounter()
    client = MongoClient(mongo_uri, tz_aware=True, event_listeners=[counter])
    app = create_app(config, mongo_client=client)
    logging.getLogger("crm_service").setLevel(logging.WARNING)
    http = app.test_client()
    make_staff(app, "admin", username="counter")
    headers = {"Authorization": f"Bearer {login(http, 'counter')['access_token']}"}
    customer = http.post("/api/v1/customers", json={"first_name": "Rita", "email": "rita@trips.example"},
                         headers=headers).get_json()
    http.post(f"/api/v1/customers/{customer['id']}/interactions", json={"type": "phone", "notes": "hello"},
              headers=headers)

    def run(method, path, **kwargs):
        counter.names.clear()
        counter.targets.clear()
        response = http.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code < 300, response.get_json()
        run.targets, run.last_body = list(counter.targets), response.get_json()
        return list(counter.names)

    run.customer_id = customer["id"]
    yield run
    client.close()


def test_read_by_id_is_one_round_trip_plus_auth(counted):
    assert counted("GET", f"/api/v1/customers/{counted.customer_id}") == ["find", "find"]


def test_counted_page_is_two_round_trips_plus_auth(counted):
    assert len(counted("GET", "/api/v1/customers")) == 3


def test_uncounted_page_is_one_round_trip_plus_auth(counted):
    assert len(counted("GET", "/api/v1/customers?count=false")) == 2


def test_interaction_write_is_one_round_trip_plus_auth(counted):
    """The audit entry rides in the same update (the customer's outbox): nothing is sent to audit_log."""
    names = counted("POST", f"/api/v1/customers/{counted.customer_id}/interactions",
                    json={"type": "email", "notes": "sent the quote"})
    assert names == ["find", "update"], counted.targets
    assert counted.targets == ["sessions", "customers"]


def test_customer_create_is_one_round_trip_plus_auth(counted):
    names = counted("POST", "/api/v1/customers", json={"first_name": "Sam", "email": "sam@trips.example"})
    assert names == ["find", "insert"], counted.targets
    assert counted.targets == ["sessions", "customers"]


def test_uncounted_history_page_is_one_round_trip_plus_auth(counted):
    """The customer's document is the existence check and the embedded page at once."""
    assert len(counted("GET", f"/api/v1/customers/{counted.customer_id}/interactions?count=false")) == 2


def test_history_counted_page_is_at_most_two_round_trips_plus_auth(counted):
    """The customer's document carries its embedded page and its count; the archive only when it has items."""
    assert len(counted("GET", f"/api/v1/customers/{counted.customer_id}/interactions")) <= 3


def test_uncounted_feed_is_one_round_trip_plus_auth(counted):
    names = counted("GET", "/api/v1/interactions?count=false")
    assert names == ["find", "find"], names


def test_counted_feed_is_two_round_trips_plus_auth(counted):
    names = counted("GET", "/api/v1/interactions")
    assert names == ["find", "find", "aggregate"], names


@pytest.fixture
def embed_one(config):
    config.INTERACTION_EMBED_LIMIT = 1
    return config


def test_the_feed_reads_the_archive_only_for_customers_with_archived_items(embed_one, counted):
    assert counted("GET", "/api/v1/interactions?count=false") == ["find", "find"]
    counted("POST", f"/api/v1/customers/{counted.customer_id}/interactions", json={"type": "email", "notes": "more"})
    names = counted("GET", "/api/v1/interactions?count=false")
    assert names == ["find", "find", "find"], names
    assert counted.targets[-1] == "interaction_archive"
    assert len(counted.last_body["items"]) == 2


def test_a_feed_walk_that_stops_early_leaves_no_cursor_to_kill(counted):
    """More customers than the page needs: the walk's bounded find closes on the server (no killCursors)."""
    for number in range(12):
        made = counted("POST", "/api/v1/customers", json={"first_name": "Walk", "email": f"walk{number}@trips.example"})
        assert made
        customer_id = counted.last_body["id"]
        counted("POST", f"/api/v1/customers/{customer_id}/interactions", json={"type": "note", "notes": "hi"})
    names = counted("GET", "/api/v1/interactions?size=5&count=false")
    assert names == ["find", "find"], names
    assert len(counted.last_body["items"]) == 5 and counted.last_body["next_cursor"]


def test_a_feed_page_among_customers_sharing_one_time_is_one_round_trip_plus_auth(counted):
    """Meetings on the hour: more customers share the page's last time than the walk's first batch holds.

    The walk's key carries the interaction id as well as the time, so it stops inside the tie instead of
    reading every customer at that time (it took three finds here before the key had the id).
    """
    on_the_hour = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    added = []
    for number in range(24):
        counted("POST", "/api/v1/customers", json={"first_name": "Tie", "email": f"tie{number}@trips.example"})
        customer_id = counted.last_body["id"]
        counted("POST", f"/api/v1/customers/{customer_id}/interactions",
                json={"type": "meeting", "status": "scheduled", "notes": "planning",
                      "occurred_at": on_the_hour.isoformat()})
        added.append(counted.last_body["id"])
    names = counted("GET", "/api/v1/interactions?size=5&count=false")
    assert names == ["find", "find"], counted.targets
    assert [item["id"] for item in counted.last_body["items"]] == sorted(added, reverse=True)[:5]
