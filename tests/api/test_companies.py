"""Companies: create, validate, read, change, ETags, filters, their customers, delete and detach, roles."""
import pytest
from bson import ObjectId

from crm_service.db import ensure_indexes
from tests.conftest import Api, assert_error, login, register

COMPANIES = "/api/v1/companies"
FULL_COMPANY = {
    "name": "Atlas Travel",
    "domain": "atlas-travel.ma",
    "industry": "Tourism",
    "size": "11-50",
    "phone": "+212522123456",
    "website": "https://atlas-travel.ma",
    "address": {"line1": "1 Rue Ibn Batouta", "line2": "Étage 2", "city": "Casablanca", "region": "Casa-Settat",
                "postal_code": "20000", "country": "MA"},
    "notes": "Key account",
    "tags": ["vip", "b2b"],
}


@pytest.fixture(autouse=True)
def _indexes(db):
    """Uniqueness lives in unique indexes; the fast app does not create them on start."""
    ensure_indexes(db)


def make_company(api, **fields):
    body = {"name": f"Company {ObjectId()}", **fields}
    response = api.post(COMPANIES, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_customer(api, **fields):
    body = {"first_name": "Ann", "email": f"{ObjectId()}@mail.example", **fields}
    response = api.post("/api/v1/customers", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def customer_user_of(client, company_name):
    """A self-registered customer user working at `company_name`, logged in."""
    registered = register(client, company=company_name)
    tokens = login(client, registered["user"]["username"])
    api = Api(client, tokens["access_token"], tokens["user"])
    api.customer_id = registered["customer"]["id"]
    api.company_id = registered["customer"]["company_id"]
    return api


# -- create ---------------------------------------------------------------------------------------

def test_create_company_returns_201_with_location_etag_and_full_record(admin, db):
    response = admin.post(COMPANIES, json=FULL_COMPANY)
    assert response.status_code == 201
    body = response.get_json()
    assert {key: body[key] for key in FULL_COMPANY} == FULL_COMPANY
    assert set(body) == set(FULL_COMPANY) | {"id", "created_at", "updated_at", "version"}
    assert body["version"] == 1
    assert body["created_at"].endswith("Z") and body["created_at"] == body["updated_at"]
    assert response.headers["Location"].endswith(f"{COMPANIES}/{body['id']}")
    assert response.headers["ETag"]
    assert db.companies.find_one({"_id": ObjectId(body["id"])})["name"] == "Atlas Travel"


def test_create_company_needs_only_a_name_and_shows_unset_fields_as_null(admin):
    body = make_company(admin, name="Solo")
    assert body["tags"] == []
    assert set(body) == set(FULL_COMPANY) | {"id", "created_at", "updated_at", "version"}
    assert [body[key] for key in ("domain", "industry", "size", "phone", "website", "address", "notes")] == [None] * 7


def test_company_name_is_unique_case_insensitively(admin, db):
    make_company(admin, name="Atlas Travel")
    body = assert_error(admin.post(COMPANIES, json={"name": "ATLAS travel"}), 409, "conflict")
    assert body["errors"] == {"name": ["This value is already in use."]}
    assert db.companies.count_documents({}) == 1


def test_renaming_a_company_to_another_companys_name_is_409_and_changes_nothing(admin, db):
    make_company(admin, name="Atlas Travel")
    other = make_company(admin, name="Sahara Tours")
    response = admin.patch(f"{COMPANIES}/{other['id']}", json={"name": "atlas travel"})
    assert assert_error(response, 409, "conflict")["errors"] == {"name": ["This value is already in use."]}
    assert db.companies.find_one({"_id": ObjectId(other["id"])})["name"] == "Sahara Tours"


@pytest.mark.parametrize(("body", "errors"), [
    ({}, {"name": ["Missing data for required field."]}),
    ({"name": ""}, {"name": ["Length must be between 1 and 200."]}),
    ({"name": "X", "size": "huge"}, {"size": ["Must be one of: 1-10, 11-50, 51-200, 201-1000, 1000+."]}),
    ({"name": "X", "domain": "not a domain"}, {"domain": ["Not a valid domain name."]}),
    ({"name": "X", "domain": "https://x.com"}, {"domain": ["Not a valid domain name."]}),
    ({"name": "X", "website": "atlas dot com"}, {"website": ["Not a valid URL."]}),
    ({"name": "X", "phone": "12"}, {"phone": ["Not a valid phone number."]}),
    ({"name": "X", "address": {"city": 123}}, {"address": {"city": ["Not a valid string."]}}),
    ({"name": "X", "address": {"planet": "Mars"}}, {"address": {"planet": ["Unknown field."]}}),
    ({"name": "X", "address": "Casablanca"}, {"address": {"_schema": ["Invalid input type."]}}),
    ({"name": "X", "tags": "vip"}, {"tags": ["Not a valid list."]}),
    ({"name": "X", "colour": "blue"}, {"colour": ["Unknown field."]}),
    ({"name": "X", "id": str(ObjectId())}, {"id": ["Unknown field."]}),
    ({"name": "X", "created_at": "2024-01-01T00:00:00Z"}, {"created_at": ["Unknown field."]}),
    ({"name": "X", "version": 7}, {"version": ["Unknown field."]}),
])
def test_invalid_company_body_is_422_shaped_like_the_body_and_stores_nothing(admin, db, body, errors):
    response = admin.post(COMPANIES, json=body)
    assert assert_error(response, 422, "validation_error")["errors"] == errors
    assert db.companies.count_documents({}) == 0


def test_company_domain_is_stored_lower_case(admin):
    assert make_company(admin, domain=" Atlas-Travel.MA ")["domain"] == "atlas-travel.ma"


def test_company_phone_in_national_form_is_stored_in_e164(admin):
    assert make_company(admin, phone="0522 12 34 56")["phone"] == "+212522123456"


# -- read and change --------------------------------------------------------------------------------

def test_read_company_returns_the_record_with_an_etag(admin):
    created = admin.post(COMPANIES, json=FULL_COMPANY)
    response = admin.get(f"{COMPANIES}/{created.get_json()['id']}")
    assert response.status_code == 200
    assert response.get_json() == created.get_json()
    assert response.headers["ETag"] == created.headers["ETag"]


def test_if_none_match_with_the_current_etag_is_304_without_body(admin):
    company = admin.post(COMPANIES, json={"name": "Atlas"})
    response = admin.get(f"{COMPANIES}/{company.get_json()['id']}", headers={"If-None-Match": company.headers["ETag"]})
    assert response.status_code == 304
    assert response.get_data() == b""


@pytest.mark.parametrize("company_id", [str(ObjectId()), "not-an-id"])
def test_reading_an_unknown_or_malformed_company_id_is_404(admin, company_id):
    assert_error(admin.get(f"{COMPANIES}/{company_id}"), 404, "not_found")


def test_patch_changes_only_the_given_fields_and_bumps_the_version(admin):
    company = admin.post(COMPANIES, json=FULL_COMPANY)
    original = company.get_json()
    response = admin.patch(f"{COMPANIES}/{original['id']}", json={"industry": "Travel"})
    assert response.status_code == 200
    body = response.get_json()
    assert body == {**original, "industry": "Travel", "version": 2, "updated_at": body["updated_at"]}
    assert body["updated_at"] >= original["updated_at"]
    assert response.headers["ETag"] != company.headers["ETag"]


def test_put_is_a_partial_update_like_patch(admin):
    original = make_company(admin, name="Atlas", tags=["b2b"])
    response = admin.put(f"{COMPANIES}/{original['id']}", json={"size": "1-10"})
    assert response.status_code == 200
    assert response.get_json()["size"] == "1-10"
    assert response.get_json()["tags"] == ["b2b"]


def test_patch_with_an_invalid_field_is_422_and_changes_nothing(admin, db):
    company = make_company(admin, name="Atlas")
    response = admin.patch(f"{COMPANIES}/{company['id']}", json={"size": "huge", "industry": "Travel"})
    assert set(assert_error(response, 422)["errors"]) == {"size"}
    assert db.companies.find_one({"_id": ObjectId(company["id"])})["version"] == 1


def test_patch_with_the_current_if_match_succeeds(admin):
    created = admin.post(COMPANIES, json={"name": "Atlas"})
    company_id = created.get_json()["id"]
    response = admin.patch(f"{COMPANIES}/{company_id}", json={"industry": "Travel"},
                           headers={"If-Match": created.headers["ETag"]})
    assert response.status_code == 200


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(admin, db):
    created = admin.post(COMPANIES, json={"name": "Atlas"})
    company_id = created.get_json()["id"]
    admin.patch(f"{COMPANIES}/{company_id}", json={"industry": "Travel"})
    response = admin.patch(f"{COMPANIES}/{company_id}", json={"industry": "Banking"},
                           headers={"If-Match": created.headers["ETag"]})
    assert_error(response, 412, "precondition_failed")
    stored = db.companies.find_one({"_id": ObjectId(company_id)})
    assert (stored["industry"], stored["version"]) == ("Travel", 2)


def test_delete_with_a_stale_if_match_is_412_and_keeps_the_company(admin, db):
    created = admin.post(COMPANIES, json={"name": "Atlas"})
    company_id = created.get_json()["id"]
    admin.patch(f"{COMPANIES}/{company_id}", json={"industry": "Travel"})
    assert_error(admin.delete(f"{COMPANIES}/{company_id}", headers={"If-Match": created.headers["ETag"]}), 412)
    assert db.companies.count_documents({"_id": ObjectId(company_id)}) == 1


def test_renaming_a_company_renames_it_on_its_customers(admin):
    company = make_company(admin, name="Atlas Travel")
    person = make_customer(admin, company_id=company["id"])
    admin.patch(f"{COMPANIES}/{company['id']}", json={"name": "Sahara Voyages"})
    renamed = admin.get(f"/api/v1/customers/{person['id']}").get_json()
    assert renamed["company_name"] == "Sahara Voyages"
    assert renamed["version"] == person["version"] + 1
    found = admin.get("/api/v1/customers", query_string={"company": "sahara"}).get_json()["items"]
    assert [item["id"] for item in found] == [person["id"]]
    assert admin.get("/api/v1/customers", query_string={"company": "atlas"}).get_json()["items"] == []


# -- lists ----------------------------------------------------------------------------------------

def names(response):
    assert response.status_code == 200, response.get_json()
    return [item["name"] for item in response.get_json()["items"]]


@pytest.fixture
def three_companies(admin):
    make_company(admin, name="Atlas Travel", domain="atlas.ma", industry="Tourism", tags=["vip", "b2b"])
    make_company(admin, name="Sahara Bank", domain="saharabank.com", industry="Banking", tags=["b2b"])
    make_company(admin, name="Zagora Café", domain="zagora.ma", industry="Tourism", tags=["vip"])


def test_company_list_is_newest_first_by_default(admin, three_companies):
    assert names(admin.get(COMPANIES)) == ["Zagora Café", "Sahara Bank", "Atlas Travel"]


def test_company_list_sorts_by_name_both_ways(admin, three_companies):
    assert names(admin.get(COMPANIES, query_string={"sort": "name"})) == ["Atlas Travel", "Sahara Bank", "Zagora Café"]
    assert names(admin.get(COMPANIES, query_string={"sort": "-name"})) == ["Zagora Café", "Sahara Bank", "Atlas Travel"]


@pytest.mark.parametrize(("q", "expected"), [
    ("sah", ["Sahara Bank"]),
    ("BANK", ["Sahara Bank"]),
    ("cafe", ["Zagora Café"]),
    ("saharabank.c", ["Sahara Bank"]),
    ("zagora.ma", ["Zagora Café"]),
    ("ravel", []),
    ("a.*", ["Atlas Travel"]),
    ("(", []),
])
def test_company_q_matches_the_start_of_a_word_of_the_name_or_domain(admin, three_companies, q, expected):
    assert names(admin.get(COMPANIES, query_string={"q": q, "sort": "name"})) == expected


def test_company_industry_filter_matches_exactly(admin, three_companies):
    assert names(admin.get(COMPANIES, query_string={"industry": "Tourism", "sort": "name"})) == [
        "Atlas Travel", "Zagora Café"]


def test_company_tags_filter_requires_every_tag(admin, three_companies):
    assert names(admin.get(COMPANIES, query_string=[("tags", "vip"), ("tags", "b2b")])) == ["Atlas Travel"]
    assert names(admin.get(COMPANIES, query_string={"tags": "b2b", "sort": "name"})) == ["Atlas Travel", "Sahara Bank"]


@pytest.mark.parametrize("query", [{"sort": "industry"}, {"colour": "blue"}, {"q": ["a", "b"]}])
def test_company_list_rejects_bad_sorts_unknown_and_repeated_parameters(admin, query):
    assert_error(admin.get(COMPANIES, query_string=query), 422, "validation_error")


def test_company_customers_lists_only_that_companys_people(admin):
    atlas, sahara = make_company(admin, name="Atlas"), make_company(admin, name="Sahara")
    mine = [make_customer(admin, company_id=atlas["id"], last_name=name) for name in ("Alami", "Bennani")]
    make_customer(admin, company_id=sahara["id"])
    make_customer(admin)
    response = admin.get(f"{COMPANIES}/{atlas['id']}/customers", query_string={"sort": "last_name"})
    assert response.status_code == 200
    body = response.get_json()
    assert [item["id"] for item in body["items"]] == [person["id"] for person in mine]
    assert body["total"] == 2
    assert all(item["company_name"] == "Atlas" for item in body["items"])


def test_company_customers_of_an_unknown_company_is_404(admin):
    assert_error(admin.get(f"{COMPANIES}/{ObjectId()}/customers"), 404)


# -- delete ---------------------------------------------------------------------------------------

def test_delete_company_without_customers_is_204_and_it_is_gone(admin, db):
    company = make_company(admin)
    response = admin.delete(f"{COMPANIES}/{company['id']}")
    assert response.status_code == 204 and response.get_data() == b""
    assert_error(admin.get(f"{COMPANIES}/{company['id']}"), 404)
    tombstone = db.tombstones.find_one({"entity": "companies"})
    assert tombstone["entity_id"] == ObjectId(company["id"])


def test_delete_company_with_customers_is_409_and_keeps_everything(admin, db):
    company = make_company(admin)
    person = make_customer(admin, company_id=company["id"])
    assert_error(admin.delete(f"{COMPANIES}/{company['id']}"), 409, "conflict")
    assert db.companies.count_documents({}) == 1
    assert db.customers.find_one({"_id": ObjectId(person["id"])})["company_id"] == ObjectId(company["id"])


def test_delete_company_with_detach_unlinks_its_customers(admin, db):
    company = make_company(admin, name="Atlas")
    person = make_customer(admin, company_id=company["id"])
    assert admin.delete(f"{COMPANIES}/{company['id']}", query_string={"detach": "true"}).status_code == 204
    assert db.companies.count_documents({}) == 0
    detached = admin.get(f"/api/v1/customers/{person['id']}").get_json()
    assert (detached["company_id"], detached["company_name"]) == (None, None)
    assert detached["version"] == person["version"] + 1
    assert admin.get("/api/v1/customers", query_string={"company": "atlas"}).get_json()["items"] == []


def test_delete_company_rejects_unknown_parameters(admin, db):
    company = make_company(admin)
    assert_error(admin.delete(f"{COMPANIES}/{company['id']}", query_string={"force": "1"}), 422)
    assert db.companies.count_documents({}) == 1


# -- roles ----------------------------------------------------------------------------------------

def test_sales_can_create_and_change_companies(sales):
    company = make_company(sales, name="Atlas")
    assert sales.patch(f"{COMPANIES}/{company['id']}", json={"industry": "Travel"}).status_code == 200


def test_sales_cannot_delete_a_company(sales, db):
    company = make_company(sales)
    assert_error(sales.delete(f"{COMPANIES}/{company['id']}"), 403, "forbidden")
    assert db.companies.count_documents({}) == 1


def test_customer_reads_its_own_company(client):
    person = customer_user_of(client, "Atlas Travel")
    response = person.get(f"{COMPANIES}/{person.company_id}")
    assert response.status_code == 200
    assert response.get_json()["name"] == "Atlas Travel"


def test_customer_gets_404_for_another_company(client, admin):
    person = customer_user_of(client, "Atlas Travel")
    other = make_company(admin, name="Sahara")
    assert_error(person.get(f"{COMPANIES}/{other['id']}"), 404, "not_found")
    assert_error(person.get(f"{COMPANIES}/{other['id']}/customers"), 404, "not_found")


def test_customer_company_list_shows_only_its_own_company(client, admin):
    make_company(admin, name="Sahara")
    person = customer_user_of(client, "Atlas Travel")
    body = person.get(COMPANIES).get_json()
    assert [item["name"] for item in body["items"]] == ["Atlas Travel"]
    assert body["total"] == 1


def test_customer_without_a_company_lists_no_companies(customer, admin):
    make_company(admin, name="Sahara")
    body = customer.get(COMPANIES).get_json()
    assert (body["items"], body["total"]) == ([], 0)


def test_customer_sees_only_itself_among_its_companys_people_without_staff_fields(client, admin):
    person = customer_user_of(client, "Atlas Travel")
    make_customer(admin, company_id=person.company_id)
    admin.patch(f"/api/v1/customers/{person.customer_id}", json={"notes": "secret"})
    items = person.get(f"{COMPANIES}/{person.company_id}/customers").get_json()["items"]
    assert [item["id"] for item in items] == [person.customer_id]
    assert "notes" not in items[0] and "owner_id" not in items[0]


def test_customer_cannot_create_change_or_delete_companies(client, db):
    person = customer_user_of(client, "Atlas Travel")
    assert_error(person.post(COMPANIES, json={"name": "Mine"}), 403)
    assert_error(person.patch(f"{COMPANIES}/{person.company_id}", json={"name": "Renamed"}), 403)
    assert_error(person.delete(f"{COMPANIES}/{person.company_id}"), 403)
    assert [company["name"] for company in db.companies.find()] == ["Atlas Travel"]
