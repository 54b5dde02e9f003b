"""Interactions carry an ETag (from updated_at): 304 on If-None-Match, 412 on a stale If-Match, nothing changed."""
import time

import pytest

from tests.conftest import assert_error


@pytest.fixture
def note(admin):
    customer = admin.post("/api/v1/customers", json={"first_name": "Ann", "email": "ann@etag.example"}).get_json()
    response = admin.post(f"/api/v1/customers/{customer['id']}/interactions", json={"type": "note", "notes": "First"})
    assert response.status_code == 201 and response.headers["ETag"]
    return {"path": response.headers["Location"], "etag": response.headers["ETag"], **response.get_json()}


def test_reading_an_interaction_gives_its_etag_and_304_when_unchanged(admin, note):
    first = admin.get(note["path"])
    assert first.status_code == 200 and first.headers["ETag"] == note["etag"]
    again = admin.get(note["path"], headers={"If-None-Match": note["etag"]})
    assert again.status_code == 304 and again.data == b""


def test_a_change_moves_the_etag_and_a_stale_if_match_is_412_with_nothing_changed(admin, note, db):
    changed = admin.patch(note["path"], json={"notes": "Second"}, headers={"If-Match": note["etag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != note["etag"]
    stale = admin.patch(note["path"], json={"notes": "Third"}, headers={"If-Match": note["etag"]})
    assert_error(stale, 412, "precondition_failed")
    assert admin.get(note["path"]).get_json()["notes"] == "Second"
    assert_error(admin.delete(note["path"], headers={"If-Match": note["etag"]}), 412, "precondition_failed")
    assert admin.get(note["path"]).status_code == 200
    assert admin.delete(note["path"], headers={"If-Match": changed.headers["ETag"]}).status_code == 204
    assert admin.get(note["path"]).status_code == 404


def test_a_change_that_lands_between_the_check_and_the_write_is_412(admin, note, db, monkeypatch):
    """The write itself is conditional: another writer moving updated_at after the read still gives 412."""
    from crm_service.repositories.interactions import InteractionRepository

    real_update = InteractionRepository.update

    def concurrent_then_update(self, customer_id, interaction_id, changes, expected_updated_at=None):
        time.sleep(0.002)  # updated_at has millisecond precision
        real_update(self, customer_id, interaction_id, {"notes": "Someone else"})
        return real_update(self, customer_id, interaction_id, changes, expected_updated_at)

    monkeypatch.setattr(InteractionRepository, "update", concurrent_then_update)
    response = admin.patch(note["path"], json={"notes": "Mine"}, headers={"If-Match": note["etag"]})
    assert_error(response, 412, "precondition_failed")
    monkeypatch.undo()
    assert admin.get(note["path"]).get_json()["notes"] == "Someone else"
