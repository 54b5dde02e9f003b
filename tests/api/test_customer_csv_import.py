"""POST /customers/import, row by row: upsert by email, validation like the customer body, per-row errors."""
import io

import pytest
from bson import ObjectId

from tests.conftest import make_staff

IMPORT = "/api/v1/customers/import"
CUSTOMERS = "/api/v1/customers"


def upload(api, text, dry_run=None):
    query = {} if dry_run is None else {"dry_run": dry_run}
    data = {"file": (io.BytesIO(text.encode() if isinstance(text, str) else text), "customers.csv", "text/csv")}
    return api.post(IMPORT, data=data, query_string=query, content_type="multipart/form-data")


def imported(api, text, dry_run=None):
    response = upload(api, text, dry_run)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def stored(db, email):
    return db.customers.find_one({"email": email}, {"interactions": 0})


def create(api, **fields):
    response = api.post(CUSTOMERS, json={"first_name": "Ada", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_new_emails_create_customers_with_the_body_rules_and_defaults(admin, db):
    report = imported(admin, "first_name,last_name,email,phone,tags,region\n"
                             "Zoë,Alami,Zoe@Example.COM,06 12 34 56 78,vip; b2b,Casablanca\n"
                             "Omar,,omar@example.com,,,\n")

    assert report == {"dry_run": False, "created": 2, "updated": 0, "failed": 0, "errors": []}
    zoe = stored(db, "zoe@example.com")
    assert (zoe["first_name"], zoe["last_name"], zoe["phone"]) == ("Zoë", "Alami", "+212612345678")
    assert (zoe["tags"], zoe["region"]) == (["vip", "b2b"], "Casablanca")
    assert (zoe["status"], zoe["contact_type"], zoe["loyalty_status"]) == ("lead", "individual", "new")
    assert (zoe["preferred_language"], zoe["is_active"], zoe["version"]) == ("fr", True, 1)
    omar = stored(db, "omar@example.com")
    assert (omar["last_name"], omar["phone"], omar["tags"]) == (None, None, [])


def test_imported_customers_are_found_by_the_list_search(admin):
    imported(admin, "first_name,last_name,email\nZoë,Alami,zoe@example.com\n")

    found = admin.get(CUSTOMERS, query_string={"q": "zoe alami"}).get_json()["items"]

    assert [item["email"] for item in found] == ["zoe@example.com"]


def test_an_existing_email_updates_that_customer_whatever_its_case(admin, db):
    before = create(admin, first_name="Zoe", last_name="Old", email="zoe@example.com", status="lead", region="Rabat")

    report = imported(admin, "email,last_name,status\nZOE@example.com,Alami,active\n")

    assert (report["created"], report["updated"], report["failed"]) == (0, 1, 0)
    after = admin.get(f"{CUSTOMERS}/{before['id']}").get_json()
    assert (after["last_name"], after["status"], after["version"]) == ("Alami", "active", before["version"] + 1)
    assert (after["first_name"], after["region"], after["created_at"]) == ("Zoe", "Rabat", before["created_at"])
    assert db.customers.count_documents({}) == 1


def test_an_empty_cell_clears_an_optional_field_and_keeps_one_with_a_default(admin, db):
    create(admin, email="ada@example.com", phone="+212612345678", tags=["vip"], status="active")

    imported(admin, "email,phone,tags,status\nada@example.com,,,\n")

    ada = stored(db, "ada@example.com")
    assert (ada["phone"], ada["tags"], ada["status"]) == (None, [], "active")


def test_a_row_that_changes_nothing_counts_as_updated_and_writes_nothing(admin, db):
    before = create(admin, email="ada@example.com", last_name="Lovelace")

    report = imported(admin, "email,first_name,last_name\nada@example.com,Ada,Lovelace\n")

    assert report["updated"] == 1
    assert stored(db, "ada@example.com")["version"] == before["version"]


def test_a_dry_run_counts_what_a_real_run_would_do_and_writes_nothing(admin, db):
    existing = create(admin, email="ada@example.com", last_name="Lovelace")
    text = ("email,first_name,last_name\nada@example.com,Ada,Byron\nnew@example.com,New,Person\n"
            "bad-email,Bad,Row\n")

    dry = imported(admin, text, dry_run="true")

    assert dry == {"dry_run": True, "created": 1, "updated": 1, "failed": 1,
                   "errors": [{"row": 3, "errors": {"email": ["Not a valid email address."]}}]}
    assert db.customers.count_documents({}) == 1
    assert stored(db, "ada@example.com")["version"] == existing["version"]
    assert stored(db, "ada@example.com")["last_name"] == "Lovelace"
    real = imported(admin, text)
    assert {**real, "dry_run": True} == dry
    assert db.customers.count_documents({}) == 2


def test_bad_rows_are_reported_with_their_row_number_and_good_rows_are_kept(admin, db):
    text = ("first_name,email,phone,status,loyalty_status\n"
            "Good,good1@example.com,,active,gold\n"
            "Phone,phone@example.com,12,,\n"
            "\n"
            "Status,status@example.com,,royalty,\n"
            ",noname@example.com,,,\n"
            "Good,good2@example.com,,,\n")

    report = imported(admin, text)

    assert (report["created"], report["updated"], report["failed"]) == (2, 0, 3)
    assert report["errors"] == [
        {"row": 2, "errors": {"phone": ["Not a valid phone number."]}},
        {"row": 4, "errors": {"status": ["Must be one of: lead, prospect, active, inactive, churned."]}},
        {"row": 5, "errors": {"first_name": ["Length must be between 1 and 100."]}},
    ]
    assert sorted(doc["email"] for doc in db.customers.find({}, {"email": 1})) == [
        "good1@example.com", "good2@example.com"]


def test_a_new_customer_needs_a_first_name_column(admin, db):
    create(admin, email="ada@example.com")

    report = imported(admin, "email,region\nada@example.com,Rabat\nnew@example.com,Rabat\n")

    assert (report["updated"], report["created"]) == (1, 0)
    assert report["errors"] == [{"row": 2, "errors": {"first_name": ["Missing data for required field."]}}]
    assert stored(db, "new@example.com") is None


def test_a_row_with_too_few_or_too_many_cells_is_an_error(admin, db):
    report = imported(admin, "first_name,email\nAda,ada@example.com,extra\nBob\n")

    assert report["errors"] == [{"row": 1, "errors": {"_schema": ["Expected 2 cells, found 3."]}},
                                {"row": 2, "errors": {"_schema": ["Expected 2 cells, found 1."]}}]
    assert db.customers.count_documents({}) == 0


def test_company_id_links_an_existing_company_and_an_unknown_one_is_an_error(admin, db):
    company = admin.post("/api/v1/companies", json={"name": "Atlas Travel"}).get_json()

    report = imported(admin, f"first_name,email,company_id\nAda,ada@example.com,{company['id']}\n"
                             f"Bob,bob@example.com,{ObjectId()}\nCy,cy@example.com,nope\n")

    assert report["errors"] == [{"row": 2, "errors": {"company_id": ["No company with this id."]}},
                                {"row": 3, "errors": {"company_id": ["Not a valid id."]}}]
    ada = stored(db, "ada@example.com")
    assert (ada["company_id"], ada["company_name"]) == (ObjectId(company["id"]), "Atlas Travel")


def test_owner_id_must_be_an_active_staff_user(admin, sales, app, db, customer):
    inactive = make_staff(app, "sales", is_active=False)

    report = imported(admin, f"first_name,email,owner_id\nA,a@example.com,{sales.user['id']}\n"
                             f"B,b@example.com,{inactive['_id']}\nC,c@example.com,{customer.user['id']}\n")

    assert [error["row"] for error in report["errors"]] == [2, 3]
    assert {error["errors"]["owner_id"][0] for error in report["errors"]} == {"Not an active staff user."}
    assert stored(db, "a@example.com")["owner_id"] == ObjectId(sales.user["id"])


def test_an_unchanged_owner_is_not_checked_again(admin, app, db):
    owner = make_staff(app, "sales")
    created = create(admin, email="ada@example.com", owner_id=str(owner["_id"]))
    db.users.update_one({"_id": owner["_id"]}, {"$set": {"is_active": False}})

    report = imported(admin, f"email,owner_id,region\nada@example.com,{owner['_id']},Fes\n")

    assert (report["updated"], report["failed"]) == (1, 0)
    assert stored(db, "ada@example.com")["version"] == created["version"] + 1


def test_id_and_read_only_columns_are_ignored(admin, db):
    other = create(admin, email="other@example.com", first_name="Other")
    text = ("id,first_name,email,company_name,created_at,updated_at,last_interaction_at\n"
            f"{other['id']},Ada,ada@example.com,Fake Co,2001-01-01T00:00:00Z,2001-01-01T00:00:00Z,"
            "2001-01-01T00:00:00Z\n")

    report = imported(admin, text)

    assert report["created"] == 1
    ada = stored(db, "ada@example.com")
    assert ada["_id"] != ObjectId(other["id"])
    assert (ada["company_name"], ada["last_interaction_at"]) == (None, None)
    assert ada["created_at"].year != 2001 and ada["updated_at"].year != 2001
    assert stored(db, "other@example.com")["first_name"] == "Other"


def test_the_quote_the_export_puts_before_formula_characters_is_removed(admin, db):
    imported(admin, "first_name,last_name,email,phone\n'=Ada,'O'Brien,ada@example.com,'+212612345678\n")

    ada = stored(db, "ada@example.com")
    assert (ada["first_name"], ada["last_name"], ada["phone"]) == ("=Ada", "'O'Brien", "+212612345678")


def test_an_export_imports_back_as_updates_that_change_nothing(admin, sales, db):
    company = admin.post("/api/v1/companies", json={"name": "Atlas"}).get_json()
    create(admin, email="zoe@example.com", first_name="=Zoë", last_name="Alami", phone="+212612345678",
           company_id=company["id"], tags=["vip", "b2b"], owner_id=sales.user["id"], status="active")
    create(admin, email="omar@example.com", first_name="Omar")
    versions = {doc["email"]: doc["version"] for doc in db.customers.find({}, {"email": 1, "version": 1})}
    exported = admin.get("/api/v1/customers/export").get_data(as_text=True)

    report = imported(sales, exported)

    assert report == {"dry_run": False, "created": 0, "updated": 2, "failed": 0, "errors": []}
    assert {doc["email"]: doc["version"] for doc in db.customers.find({}, {"email": 1, "version": 1})} == versions


def test_an_email_may_appear_in_one_successful_row_per_file(admin, db):
    text = "first_name,email\nBad,bad\nAda,ada@example.com\nAda Again,ADA@example.com\n"

    report = imported(admin, text)

    assert (report["created"], report["failed"]) == (1, 2)
    assert report["errors"][1] == {"row": 3, "errors": {
        "email": ["Repeats the email of row 2; a customer may appear once per file."]}}
    assert stored(db, "ada@example.com")["first_name"] == "Ada"


def test_sales_may_not_switch_a_customer_off_through_an_import(sales, admin, db):
    create(admin, email="ada@example.com")

    report = imported(sales, "email,is_active,region\nada@example.com,false,Fes\n")

    assert report["errors"] == [{"row": 1, "errors": {
        "is_active": ["Only users who may delete customers can change is_active."]}}]
    ada = stored(db, "ada@example.com")
    assert (ada["is_active"], ada.get("region"), ada["version"]) == (True, None, 1)


def test_an_admin_switching_a_customer_off_leaves_a_tombstone(admin, db):
    before = create(admin, email="ada@example.com")

    imported(admin, "email,is_active\nada@example.com,false\n")

    assert stored(db, "ada@example.com")["is_active"] is False
    [tombstone] = db.tombstones.find({"entity_id": ObjectId(before["id"])})
    assert tombstone["entity"] == "customers"


@pytest.mark.parametrize("cell", ["yes", "1", "TRUE"])
def test_boolean_cells_accept_the_usual_spellings(admin, db, cell):
    imported(admin, f"first_name,email,is_active\nAda,ada@example.com,{cell}\n")

    assert stored(db, "ada@example.com")["is_active"] is True


def test_only_the_first_thousand_row_errors_are_listed_but_all_are_counted(admin):
    text = "first_name,email\n" + "".join(f"P{n},not-an-email-{n}\n" for n in range(1005))

    report = imported(admin, text)

    assert (report["failed"], len(report["errors"])) == (1005, 1000)
    assert report["errors"][-1]["row"] == 1000



def test_rows_in_later_batches_find_existing_customers_and_earlier_rows(admin, db, monkeypatch):
    monkeypatch.setattr("crm_service.services.customer_csv.IMPORT_BATCH", 3)
    create(admin, email="old@example.com", region="Rabat")
    emails = [f"p{n}@example.com" for n in range(1, 11)]
    emails[7] = "OLD@example.com"  # row 8, in the third batch
    emails[8] = "p2@example.com"  # row 9 repeats row 2, from the first batch
    text = "first_name,email,region\n" + "".join(f"P,{email},Fes\n" for email in emails)

    report = imported(admin, text)

    assert (report["created"], report["updated"], report["failed"]) == (8, 1, 1)
    assert report["errors"] == [{"row": 9, "errors": {
        "email": ["Repeats the email of row 2; a customer may appear once per file."]}}]
    assert stored(db, "old@example.com")["region"] == "Fes"
    assert db.customers.count_documents({}) == 9
