"""GET /customers filters and sorts, the /customers/search alias, and query-string validation."""
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from crm_service.db import ensure_indexes
from tests.conftest import assert_error

CUSTOMERS = "/api/v1/customers"


@pytest.fixture(autouse=True)
def _indexes(db):
    ensure_indexes(db)


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def people(admin, sales, db):
    """Four customers with known fields and times, and one soft-deleted one; name -> record."""
    atlas = admin.post("/api/v1/companies", json={"name": "Atlas Travel"}).get_json()
    sahara = admin.post("/api/v1/companies", json={"name": "Sahara Bank"}).get_json()
    bodies = {
        "zoe": {"first_name": "Zoë", "last_name": "Alami", "email": "zoe.alami@example.com", "phone": "0612345678",
                "company_id": atlas["id"], "status": "active", "contact_type": "corporate", "loyalty_status": "gold",
                "region": "Casablanca", "tags": ["vip", "b2b"], "owner_id": sales.user["id"]},
        "omar": {"first_name": "Omar", "last_name": "Benali", "email": "omar@benali.ma", "phone": "+33 1 42 68 53 00",
                 "company_id": sahara["id"], "region": "Rabat", "tags": ["vip"]},
        "jl": {"first_name": "Jean-Luc", "last_name": "Picard", "email": "jl.picard@starfleet.org",
               "status": "prospect", "region": "Casablanca", "tags": ["b2b"]},
        "nameless": {"first_name": "Madonna", "email": "madonna@music.example"},
        "gone": {"first_name": "Ann", "last_name": "Archer", "email": "ann@archer.example"},
    }
    records = {}
    for name, body in bodies.items():
        response = admin.post(CUSTOMERS, json=body)
        assert response.status_code == 201, response.get_json()
        records[name] = response.get_json()
    times = {"zoe": ("2024-01-10T12:00:00", "2024-05-01T00:00:00", "2024-04-01T09:00:00"),
             "omar": ("2024-02-01T00:00:00", "2024-03-01T00:00:00", None),
             "jl": ("2024-03-01T08:30:00", "2024-02-01T00:00:00", "2024-04-02T09:00:00"),
             "nameless": ("2024-04-01T00:00:00", "2024-01-15T00:00:00", None),
             "gone": ("2024-04-05T00:00:00", "2024-04-05T00:00:00", None)}
    for name, (created, updated, interacted) in times.items():
        db.customers.update_one({"_id": ObjectId(records[name]["id"])}, {"$set": {
            "created_at": at(created), "updated_at": at(updated),
            "last_interaction_at": at(interacted) if interacted else None}})
    assert admin.delete(f"{CUSTOMERS}/{records['gone']['id']}").status_code == 204
    db.customers.update_one({"_id": ObjectId(records["gone"]["id"])}, {"$set": {"updated_at": at(times["gone"][1])}})
    return records, {"atlas": atlas, "sahara": sahara}


def found(api, people, path=CUSTOMERS, **query):
    """The names of the customers a list answers, in order."""
    records, _ = people
    by_id = {record["id"]: name for name, record in records.items()}
    response = api.get(path, query_string=query)
    assert response.status_code == 200, response.get_json()
    return [by_id[item["id"]] for item in response.get_json()["items"]]


# -- free text ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("q", "expected"), [
    ("zoe", ["zoe"]), ("ZOË", ["zoe"]), ("zoë alami", ["zoe"]), ("ala", ["zoe"]), ("jean", ["jl"]), ("luc", ["jl"]),
    ("omar@ben", ["omar"]), ("starfleet", ["jl"]), ("zoe.alami@example.com", ["zoe"]), ("0612", ["zoe"]),
    ("+2126123", ["zoe"]), ("06 12 34", ["zoe"]), ("01 42 68", ["omar"]), ("lami", []), ("atlas", []),
    ("zoe omar", []),
])
def test_q_matches_word_starts_of_name_email_or_phone(admin, people, q, expected):
    assert found(admin, people, q=q) == expected


@pytest.mark.parametrize("q", ["a.*", "(", ")", "[", "*", "\\", "^", "$", "+", "?", "|", "{1}", ".*", "a(b"])
def test_q_with_regex_metacharacters_is_literal_and_never_errors(admin, people, q):
    expected = ["zoe"] if q == "a.*" else []  # "a" starts "Alami"; ".*" is not a wildcard
    assert found(admin, people, q=q) == expected


def test_q_longer_than_100_characters_is_422(admin):
    assert list(assert_error(admin.get(CUSTOMERS, query_string={"q": "a" * 101}), 422)["errors"]) == ["q"]


@pytest.mark.parametrize(("name", "expected"), [
    ("picard", ["jl"]), ("zoe ala", ["zoe"]), ("MADON", ["nameless"]), ("example", []), ("0612", []),
])
def test_name_filter_matches_word_starts_of_first_or_last_name(admin, people, name, expected):
    assert found(admin, people, name=name) == expected


@pytest.mark.parametrize(("email", "expected"), [
    ("zoe.alami@", ["zoe"]), ("ZOE", ["zoe"]), ("benali", ["omar"]), ("starfleet.org", ["jl"]),
    ("@benali.ma", ["omar"]), ("alami.zoe", []), (".*", []),
])
def test_email_filter_matches_the_start_of_the_address_a_word_or_the_domain(admin, people, email, expected):
    assert found(admin, people, email=email) == expected


@pytest.mark.parametrize(("phone", "expected"), [
    ("0612", ["zoe"]), ("+212 612", ["zoe"]), ("+33 1 42", ["omar"]), ("abc", []), ("999", []),
])
def test_phone_filter_matches_the_start_of_the_number_in_any_form(admin, people, phone, expected):
    assert found(admin, people, phone=phone) == expected


@pytest.mark.parametrize(("company", "expected"), [
    ("atl", ["zoe"]), ("BANK", ["omar"]), ("sahara bank", ["omar"]), ("travel bank", []), ("(", []),
])
def test_company_filter_matches_word_starts_of_the_company_name(admin, people, company, expected):
    assert found(admin, people, company=company) == expected


# -- exact filters --------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "expected"), [
    ({"status": "lead"}, ["nameless", "omar"]),
    ({"status": "active"}, ["zoe"]),
    ({"contact_type": "corporate"}, ["zoe"]),
    ({"contact_type": "individual"}, ["nameless", "jl", "omar"]),
    ({"loyalty_status": "gold"}, ["zoe"]),
    ({"region": "Casablanca"}, ["jl", "zoe"]),
    ({"tags": "vip"}, ["omar", "zoe"]),
    ({"tags": ["vip", "b2b"]}, ["zoe"]),
    ({"tags": ["vip", "none"]}, []),
    ({"is_active": "false"}, ["gone"]),
    ({"is_active": "true", "status": "prospect"}, ["jl"]),
])
def test_exact_filters_combine_with_and(admin, people, query, expected):
    assert found(admin, people, **query) == expected


def test_company_id_and_owner_id_filters(admin, sales, people):
    _, companies = people
    assert found(admin, people, company_id=companies["sahara"]["id"]) == ["omar"]
    assert found(admin, people, owner_id=sales.user["id"]) == ["zoe"]
    assert found(admin, people, owner_id=str(ObjectId())) == []


@pytest.mark.parametrize(("query", "expected"), [
    ({"created_after": "2024-02-01"}, ["nameless", "jl", "omar"]),
    ({"created_before": "2024-02-01"}, ["zoe"]),
    ({"created_after": "2024-01-10T12:00:00Z", "created_before": "2024-03-01T08:30:00Z"}, ["omar", "zoe"]),
    ({"created_after": "2024-03-01T09:00:00+01:00"}, ["nameless", "jl"]),
    ({"updated_since": "2024-02-01"}, ["omar", "zoe"]),
    ({"updated_since": "2024-02-01T00:00:00.000Z", "is_active": "false"}, ["gone"]),
])
def test_time_filters_take_dates_or_times(admin, people, query, expected):
    assert found(admin, people, **query) == expected


# -- sorting --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("sort", "expected"), [
    (None, ["nameless", "jl", "omar", "zoe"]),
    ("-created_at", ["nameless", "jl", "omar", "zoe"]),
    ("created_at", ["zoe", "omar", "jl", "nameless"]),
    ("updated_at", ["nameless", "jl", "omar", "zoe"]),
    ("-updated_at", ["zoe", "omar", "jl", "nameless"]),
    ("last_name", ["nameless", "zoe", "omar", "jl"]),
    ("-last_name", ["jl", "omar", "zoe", "nameless"]),
    ("last_interaction_at", ["omar", "nameless", "zoe", "jl"]),
    ("-last_interaction_at", ["jl", "zoe", "nameless", "omar"]),
    ("-last_interaction_at,last_name", ["jl", "zoe", "nameless", "omar"]),
])
def test_sorts(admin, people, sort, expected):
    query = {"sort": sort} if sort else {}
    assert found(admin, people, **query) == expected


def test_last_name_sort_ignores_case_and_accents(admin, people):
    records, _ = people
    admin.patch(f"{CUSTOMERS}/{records['omar']['id']}", json={"last_name": "ávila"})
    assert found(admin, people, sort="last_name") == ["nameless", "zoe", "omar", "jl"]


@pytest.mark.parametrize("sort", ["email", "-first_name", "name", "last_name,-last_name", ",", "created_at;drop"])
def test_sort_by_a_field_not_allowed_is_422(admin, sort):
    body = assert_error(admin.get(CUSTOMERS, query_string={"sort": sort}), 422, "validation_error")
    assert list(body["errors"]) == ["sort"]


# -- query validation -----------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "field"), [
    ({"colour": "red"}, "colour"), ({"customer_id": str(ObjectId())}, "customer_id"), ({"$where": "1"}, "$where"),
    ({"status": "vip"}, "status"), ({"company_id": "acme"}, "company_id"), ({"owner_id": "1"}, "owner_id"),
    ({"created_after": "yesterday"}, "created_after"), ({"updated_since": "2024-13-01"}, "updated_since"),
    ({"is_active": "maybe"}, "is_active"),
])
def test_unknown_or_invalid_query_parameters_are_422_on_that_parameter(admin, query, field):
    body = assert_error(admin.get(CUSTOMERS, query_string=query), 422, "validation_error")
    assert list(body["errors"]) == [field]


@pytest.mark.parametrize("name", ["status", "q", "sort", "page", "company_id"])
def test_a_repeated_scalar_parameter_is_422(admin, name):
    value = {"status": "lead", "q": "a", "sort": "created_at", "page": "1", "company_id": str(ObjectId())}[name]
    response = admin.get(CUSTOMERS, query_string=[(name, value), (name, value)])
    assert assert_error(response, 422)["errors"] == {name: ["Give this parameter once."]}


# -- /customers/search ----------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "expected"), [
    ({"query": "zoe"}, ["zoe"]), ({"company": "atlas"}, ["zoe"]), ({"query": "omar", "company": "sahara"}, ["omar"]),
    ({"query": "omar", "company": "atlas"}, []), ({"query": "a.*"}, ["zoe"]), ({}, ["nameless", "jl", "omar", "zoe"]),
    ({"query": "b", "sort": "last_name"}, ["omar"]), ({"q": "jean"}, ["jl"]),
])
def test_search_alias_takes_query_and_company(admin, people, query, expected):
    assert found(admin, people, f"{CUSTOMERS}/search", **query) == expected


def test_search_alias_rejects_unknown_parameters(admin):
    assert list(assert_error(admin.get(f"{CUSTOMERS}/search", query_string={"term": "x"}), 422)["errors"]) == ["term"]
