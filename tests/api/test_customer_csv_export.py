"""GET /customers/export: CSV columns and values, the list's filters, formula escaping, streaming, access."""
import csv
import io
import tracemalloc
from datetime import UTC, datetime

import mongomock
import pytest
from bson import ObjectId
from pymongo.errors import ServerSelectionTimeoutError

from crm_service.repositories.base import utcnow
from crm_service.repositories.customers import derived_fields
from tests.conftest import assert_error

EXPORT = "/api/v1/customers/export"
COLUMNS = ["id", "first_name", "last_name", "email", "phone", "company_name", "contact_type", "status",
           "loyalty_status", "tags", "region", "nationality", "preferred_language", "owner_id", "is_active",
           "created_at", "updated_at", "last_interaction_at"]


def rows_of(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def emails_of(response):
    return [row["email"] for row in rows_of(response)]


def create(api, **fields):
    body = {"first_name": "Ada", "email": f"{fields.get('first_name', 'ada').lower()}@example.com", **fields}
    response = api.post("/api/v1/customers", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def zoe(admin, sales):
    company = admin.post("/api/v1/companies", json={"name": "Atlas Travel"}).get_json()
    return create(admin, first_name="Zoë", last_name="Alami", email="zoe@example.com", phone="0612345678",
                  company_id=company["id"], contact_type="corporate", status="active", loyalty_status="gold",
                  tags=["vip", "b2b"], region="Casablanca", nationality="Moroccan", preferred_language="ar",
                  owner_id=sales.user["id"])


def test_the_header_line_has_the_documented_columns_in_order(admin):
    response = admin.get(EXPORT)

    assert response.status_code == 200
    assert response.get_data(as_text=True).splitlines()[0] == ",".join(COLUMNS)


def test_a_customer_row_carries_every_column(admin, sales, zoe, db):
    at = datetime(2024, 4, 1, 9, 30, tzinfo=UTC)
    db.customers.update_one({"_id": ObjectId(zoe["id"])}, {"$set": {"last_interaction_at": at}})

    [row] = rows_of(admin.get(EXPORT))

    assert row == {
        "id": zoe["id"], "first_name": "Zoë", "last_name": "Alami", "email": "zoe@example.com",
        "phone": "'+212612345678", "company_name": "Atlas Travel", "contact_type": "corporate", "status": "active",
        "loyalty_status": "gold", "tags": "vip;b2b", "region": "Casablanca", "nationality": "Moroccan",
        "preferred_language": "ar", "owner_id": sales.user["id"], "is_active": "true",
        "created_at": zoe["created_at"], "updated_at": zoe["updated_at"],
        "last_interaction_at": "2024-04-01T09:30:00.000Z",
    }


def test_unset_fields_are_empty_cells(admin):
    create(admin, first_name="Madonna", email="madonna@example.com")

    [row] = rows_of(admin.get(EXPORT))

    assert [row[name] for name in ("last_name", "phone", "company_name", "tags", "owner_id",
                                   "last_interaction_at")] == ["", "", "", "", "", ""]
    assert (row["status"], row["is_active"], row["preferred_language"]) == ("lead", "true", "fr")


def test_cells_that_a_spreadsheet_would_run_as_formulas_start_with_a_quote(admin):
    create(admin, first_name="=HYPERLINK(\"http://evil.example\")", last_name="@SUM(A1)", email="f1@example.com",
           region="-2+3", nationality="+cmd")
    create(admin, first_name="Plain", last_name="O'Brien", email="plain@example.com", region="a=b")

    rows = {row["email"]: row for row in rows_of(admin.get(EXPORT))}

    formula = rows["f1@example.com"]
    assert formula["first_name"] == "'=HYPERLINK(\"http://evil.example\")"
    assert (formula["last_name"], formula["region"], formula["nationality"]) == ("'@SUM(A1)", "'-2+3", "'+cmd")
    assert (rows["plain@example.com"]["last_name"], rows["plain@example.com"]["region"]) == ("O'Brien", "a=b")


def test_commas_quotes_and_line_breaks_survive_csv_quoting(admin):
    create(admin, first_name="Anne, \"Nan\"", last_name="Line\nBreak", email="anne@example.com")

    [row] = rows_of(admin.get(EXPORT))

    assert (row["first_name"], row["last_name"]) == ("Anne, \"Nan\"", "Line\nBreak")


def test_export_applies_the_list_filters(admin, zoe):
    create(admin, first_name="Omar", email="omar@example.com", status="prospect", tags=["vip"])
    create(admin, first_name="Jean", email="jean@example.com", status="active", tags=["b2b"])

    assert emails_of(admin.get(EXPORT, query_string={"status": "active"})) == ["jean@example.com", "zoe@example.com"]
    assert emails_of(admin.get(EXPORT, query_string=[("tags", "vip"), ("tags", "b2b")])) == ["zoe@example.com"]
    assert emails_of(admin.get(EXPORT, query_string={"q": "oma"})) == ["omar@example.com"]
    assert emails_of(admin.get(EXPORT, query_string={"company_id": zoe["company_id"]})) == ["zoe@example.com"]


def test_soft_deleted_customers_are_left_out_unless_asked_for(admin):
    kept = create(admin, first_name="Kept", email="kept@example.com")
    gone = create(admin, first_name="Gone", email="gone@example.com")
    assert admin.delete(f"/api/v1/customers/{gone['id']}").status_code == 204

    assert emails_of(admin.get(EXPORT)) == [kept["email"]]
    rows = rows_of(admin.get(EXPORT, query_string={"is_active": "false"}))
    assert [(row["email"], row["is_active"]) for row in rows] == [("gone@example.com", "false")]


def test_export_follows_the_sort_parameter(admin):
    for first, last in (("A", "Zeta"), ("B", "Alpha"), ("C", "Mu")):
        create(admin, first_name=first, last_name=last, email=f"{first.lower()}@example.com")

    assert emails_of(admin.get(EXPORT)) == ["c@example.com", "b@example.com", "a@example.com"]
    assert emails_of(admin.get(EXPORT, query_string={"sort": "last_name"})) == [
        "b@example.com", "c@example.com", "a@example.com"]


@pytest.mark.parametrize("parameter", ["page", "size", "cursor", "count", "colour"])
def test_paging_and_unknown_parameters_are_rejected(admin, parameter):
    body = assert_error(admin.get(EXPORT, query_string={parameter: "1"}), 422, "validation_error")

    assert body["errors"] == {parameter: ["Unknown field."]}


def test_an_invalid_filter_value_is_rejected(admin):
    body = assert_error(admin.get(EXPORT, query_string={"status": "royalty"}), 422, "validation_error")

    assert set(body["errors"]) == {"status"}


def test_the_answer_is_a_csv_attachment(admin):
    response = admin.get(EXPORT)

    assert response.mimetype == "text/csv"
    assert response.mimetype_params["charset"] == "utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="customers.csv"'


def test_sales_staff_may_export(sales, admin):
    create(admin, first_name="Ada", email="ada@example.com")

    assert emails_of(sales.get(EXPORT)) == ["ada@example.com"]


def test_a_customer_user_may_not_export(customer):
    assert_error(customer.get(EXPORT), 403, "forbidden")


def test_export_needs_a_token(anon):
    assert_error(anon.get(EXPORT), 401, "unauthorized")


def test_export_reads_customers_without_their_interaction_history(admin, monkeypatch):
    create(admin, first_name="Ada", email="ada@example.com")
    projections = []
    original_find = mongomock.collection.Collection.find

    def spy(collection, *args, **kwargs):
        if collection.name == "customers":
            projections.append(args[1] if len(args) > 1 else kwargs.get("projection"))
        return original_find(collection, *args, **kwargs)

    monkeypatch.setattr(mongomock.collection.Collection, "find", spy)

    assert emails_of(admin.get(EXPORT)) == ["ada@example.com"]
    [projection] = projections
    assert "interactions" not in projection and all(value == 1 for value in projection.values())


class _DownCursor:
    """A cursor whose server has gone away: the first fetch fails."""

    def sort(self, *args, **kwargs):
        return self

    def batch_size(self, size):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        raise ServerSelectionTimeoutError("no servers")

    def close(self):
        pass


def test_a_database_failure_before_the_first_row_is_a_503_not_a_broken_csv(admin, monkeypatch):
    original_find = mongomock.collection.Collection.find

    def down(collection, *args, **kwargs):
        return _DownCursor() if collection.name == "customers" else original_find(collection, *args, **kwargs)

    monkeypatch.setattr(mongomock.collection.Collection, "find", down)

    response = admin.get(EXPORT)

    assert_error(response, 503, "unavailable")
    assert response.mimetype == "application/json"


def _seed_many(db, count):
    now = utcnow()
    notes = [{"id": ObjectId(), "type": "note", "notes": "x" * 400, "status": "completed", "occurred_at": now}] * 5
    documents = []
    for n in range(count):
        document = {"first_name": f"Person{n}", "last_name": "Many", "email": f"p{n}@bulk.example",
                    "phone": "+212612345678", "company_id": None, "company_name": None, "contact_type": "individual",
                    "status": "lead", "loyalty_status": "new", "tags": ["bulk"], "region": "Rabat",
                    "nationality": None, "preferred_language": "fr", "owner_id": None, "is_active": True,
                    "last_interaction_at": now, "interactions": notes, "version": 1, "created_at": now,
                    "updated_at": now}
        document.update(derived_fields(document))
        documents.append(document)
    db.customers.insert_many(documents)


def test_a_large_export_is_streamed_in_chunks_with_flat_memory(admin, db):
    count = 5000
    db.customers.drop_indexes()  # mongomock checks unique indexes by scanning: seeding would take a minute
    _seed_many(db, count)

    response = admin.get(EXPORT)

    assert response.status_code == 200
    assert response.is_streamed
    tracemalloc.start()
    try:
        chunks = 0
        size = 0
        lines = 0
        for chunk in response.response:
            chunks += 1
            size += len(chunk)
            lines += chunk.count(b"\r\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        response.close()
    # The first chunk went out with the headers; the rest came one piece at a time.
    assert chunks > 10
    assert lines + response.get_data().count(b"\r\n") >= count
    assert size > 800_000
    # Building the whole file (or holding the rows) would take at least `size` bytes.
    assert peak < size / 5, (peak, size)
