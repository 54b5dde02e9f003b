"""`crm ensure-indexes --recheck`: after a rolling upgrade, what the previous version's workers wrote
once the one-time backfills had run (customers without search prefixes, stale prefixes after a rename,
interactions that did not raise activity_key) is brought up to date."""
from datetime import timedelta

import pytest
from bson import ObjectId

from crm_service.db import ensure_indexes, recheck_migrations
from crm_service.repositories.base import RECHECK_MARGIN, PageRequest, utcnow
from crm_service.repositories.customers import PREFIX_MIGRATION, CustomerRepository, derived_fields
from crm_service.repositories.interactions import MIGRATION, ElementFilter, InteractionRepository


@pytest.fixture
def upgraded(db):
    ensure_indexes(db)  # the upgrade: both markers are written (no customers yet)
    return db


def searched(db, text):
    page = CustomerRepository(db).list({"q": text, "is_active": True}, [("created_at", -1)], PageRequest(size=50))
    return sorted(document["first_name"] for document in page.items)


def feed_first(db):
    page = InteractionRepository(db, 500).feed(ElementFilter(), PageRequest(size=1, count=False))
    return page.items[0]["notes"]


def old_create(db, first_name, email, at=None):
    """A create by the previous version: every field but search_prefixes (and no activity_key)."""
    at = at or utcnow()
    document = {"first_name": first_name, "last_name": "Old", "email": email, "phone": None, "is_active": True,
                "interactions": [], "embedded_count": 0, "archived_count": 0, "interaction_count": 0,
                "activity_key": None, "version": 1, "created_at": at, "updated_at": at}
    document.update(derived_fields(document))
    del document["search_prefixes"]
    return db.customers.insert_one(document).inserted_id


def old_rename(db, oid, first_name):
    """A rename by the previous version: new name and search words, the prefixes left as they were."""
    current = db.customers.find_one({"_id": oid})
    fields = derived_fields({**current, "first_name": first_name})
    db.customers.update_one({"_id": oid}, {"$set": {"first_name": first_name, "search_terms": fields["search_terms"],
                                                    "updated_at": utcnow()}, "$inc": {"version": 1}})


def old_add_interaction(db, oid, notes):
    """An interaction added by the previous version: the push and the times, no activity_key."""
    now = utcnow()
    item = {"id": ObjectId(), "type": "note", "notes": notes, "status": "completed", "occurred_at": now,
            "created_at": now, "updated_at": now}
    db.customers.update_one({"_id": oid}, {"$push": {"interactions": {"$each": [item], "$sort": {"occurred_at": -1}}},
                                           "$inc": {"embedded_count": 1, "interaction_count": 1, "version": 1},
                                           "$set": {"updated_at": now}, "$max": {"last_interaction_at": now}})


def test_a_recheck_brings_up_to_date_what_old_workers_wrote_after_the_backfills(upgraded):
    db = upgraded
    customers, interactions = CustomerRepository(db), InteractionRepository(db, 500)
    customers.create({"first_name": "Hassan", "email": "new@mail.example", "tags": [], "is_active": True})
    current = db.customers.find_one({"email": "new@mail.example"})
    interactions.add(current["_id"], {"type": "note", "notes": "by the new version", "status": "completed",
                                      "occurred_at": utcnow() - timedelta(minutes=5)})
    created = old_create(db, "Hassina", "old@mail.example")
    customers.create({"first_name": "Karim", "email": "person@mail.example", "tags": [], "is_active": True})
    renamed = db.customers.find_one({"email": "person@mail.example"})["_id"]
    old_rename(db, renamed, "Zineb")
    old_add_interaction(db, created, "by the old version")
    # What the old writes leave: invisible to search, a stale name found, the newest interaction not first.
    assert searched(db, "hass") == ["Hassan"]
    assert searched(db, "zineb") == [] and searched(db, "karim") == ["Zineb"]
    assert feed_first(db) == "by the new version"
    assert ensure_indexes(db) and searched(db, "hass") == ["Hassan"]  # a plain run: the markers say done

    assert recheck_migrations(db) == {MIGRATION: 1, PREFIX_MIGRATION: 2}

    assert searched(db, "hass") == ["Hassan", "Hassina"]
    assert searched(db, "zineb") == ["Zineb"] and searched(db, "karim") == []
    assert feed_first(db) == "by the old version"
    for name in (MIGRATION, PREFIX_MIGRATION):
        assert db.migrations.find_one({"_id": name})["checked_at"] <= utcnow()
    assert recheck_migrations(db) == {MIGRATION: 0, PREFIX_MIGRATION: 0}  # nothing left to do


def test_a_recheck_visits_the_customers_written_since_the_last_run_less_the_margin(upgraded):
    db = upgraded
    ran = db.migrations.find_one({"_id": PREFIX_MIGRATION})["at"]
    # An old worker whose clock is 30 minutes behind the one that recorded the run: still visited.
    inside = old_create(db, "Hassina", "inside@mail.example", at=ran - timedelta(minutes=30))
    old_create(db, "Hassiba", "before@mail.example", at=ran - RECHECK_MARGIN - timedelta(minutes=5))

    assert recheck_migrations(db)[PREFIX_MIGRATION] == 1

    assert searched(db, "hass") == ["Hassina"]
    assert "search_prefixes" in db.customers.find_one({"_id": inside})
    # The next re-check starts from this one: a customer the previous window covered is not visited again.
    checked = db.migrations.find_one({"_id": PREFIX_MIGRATION})["checked_at"]
    old_create(db, "Hassna", "between@mail.example", at=checked - RECHECK_MARGIN - timedelta(minutes=5))
    assert recheck_migrations(db)[PREFIX_MIGRATION] == 0


def test_the_cli_rechecks_on_request(app, upgraded):
    db = upgraded
    old_create(db, "Hassina", "old@mail.example")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["crm", "ensure-indexes"]).exit_code == 0
    assert "rechecked" not in runner.invoke(args=["crm", "ensure-indexes"]).output

    result = runner.invoke(args=["crm", "ensure-indexes", "--recheck"])

    assert result.exit_code == 0, result.output
    assert "rechecked search_prefixes: 1 customers updated" in result.output
    assert "rechecked activity_key: 0 customers updated" in result.output


def test_a_recheck_of_a_migration_not_run_yet_runs_it_in_full_and_records_the_run(db):
    db.migrations.delete_many({})  # a database the migrations never ran on
    old_create(db, "Hassiba", "long-ago@mail.example", at=utcnow() - timedelta(days=400))

    assert recheck_migrations(db) == {MIGRATION: 0, PREFIX_MIGRATION: 1}

    marker = db.migrations.find_one({"_id": PREFIX_MIGRATION})
    assert marker["customers"] == 1 and "checked_at" not in marker
    assert searched(db, "hass") == ["Hassiba"]
