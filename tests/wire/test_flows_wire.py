"""The main API flows over real TCP/BSON: accounts and tokens, customers and companies, list and search."""
import re

import pytest
from bson import ObjectId

from tests.conftest import Api, assert_error, login, register

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_register_creates_user_customer_and_company_in_the_database(anon, db):
    registered = register(anon.client, "nadia", email="Nadia.Idrissi@Mail.example", company="Sahara Tours")

    user = db.users.find_one({"username_key": "nadia"})
    customer = db.customers.find_one({"_id": ObjectId(registered["customer"]["id"])})
    assert user["role"] == "customer" and user["customer_id"] == customer["_id"]
    assert customer["user_id"] == user["_id"]
    assert customer["email"] == "nadia.idrissi@mail.example"
    assert customer["company_name"] == "Sahara Tours"
    assert db.companies.find_one({"_id": customer["company_id"]})["name"] == "Sahara Tours"
    assert ISO_Z.match(registered["customer"]["created_at"])


def test_login_with_email_then_refresh_rotates_the_refresh_token(anon, db):
    register(anon.client, "omar7")
    tokens = login(anon.client, "omar7@mail.example")

    response = anon.client.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))

    assert response.status_code == 200, response.get_json()
    renewed = response.get_json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert renewed["user"]["username"] == "omar7"
    me = anon.client.get("/api/v1/auth/me", headers=bearer(renewed["access_token"]))
    assert me.status_code == 200 and me.get_json()["username"] == "omar7"
    assert db.sessions.count_documents({"user_id": ObjectId(tokens["user"]["id"]), "revoked": False}) == 1


def test_spent_refresh_token_is_401_and_ends_the_login(anon, db):
    register(anon.client, "salma3")
    tokens = login(anon.client, "salma3")
    first = anon.client.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert first.status_code == 200

    replay = anon.client.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))

    assert_error(replay, 401, "unauthorized")
    renewed = first.get_json()
    assert_error(anon.client.post("/api/v1/auth/refresh", headers=bearer(renewed["refresh_token"])), 401)
    assert db.sessions.count_documents({"user_id": ObjectId(tokens["user"]["id"]), "revoked": False}) == 0


@pytest.fixture
def people(admin):
    """A company with one customer, and one customer without a company (created in this order)."""
    company = admin.post("/api/v1/companies", json={"name": "Atlas Voyages", "domain": "atlas-voyages.example"})
    assert company.status_code == 201, company.get_json()
    company = company.get_json()
    zoe = admin.post("/api/v1/customers", json={
        "first_name": "Zoë", "last_name": "Lefèvre", "email": "Zoe.Lefevre@Atlas-Voyages.example",
        "phone": "+212612345678", "company_id": company["id"], "tags": ["vip"],
    })
    assert zoe.status_code == 201, zoe.get_json()
    omar = admin.post("/api/v1/customers", json={"first_name": "Omar", "last_name": "Benali",
                                                 "email": "omar.benali@mail.example", "phone": "0522123456"})
    assert omar.status_code == 201, omar.get_json()
    return {"company": company, "zoe": zoe.get_json(), "omar": omar.get_json()}


def listed(api, path="/api/v1/customers", **params):
    response = api.get(path, query_string=params)
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def test_created_customer_is_stored_with_company_and_e164_phone(people, db):
    stored = db.customers.find_one({"_id": ObjectId(people["zoe"]["id"])})

    assert stored["email"] == "zoe.lefevre@atlas-voyages.example"
    assert stored["phone"] == "+212612345678"
    assert stored["company_id"] == ObjectId(people["company"]["id"])
    assert people["zoe"]["company_name"] == "Atlas Voyages"
    assert db.customers.find_one({"_id": ObjectId(people["omar"]["id"])})["phone"] == "+212522123456"


def test_customer_list_is_newest_first_with_totals(admin, people):
    response = admin.get("/api/v1/customers")

    body = response.get_json()
    assert [item["id"] for item in body["items"]] == [people["omar"]["id"], people["zoe"]["id"]]
    assert (body["page"], body["total"], body["pages"], body["next_cursor"]) == (1, 2, 1, None)
    assert all(ISO_Z.match(item["created_at"]) for item in body["items"])


def test_q_matches_name_words_without_accents(admin, people):
    assert listed(admin, q="zoe") == [people["zoe"]["id"]]
    assert listed(admin, q="LEFEV") == [people["zoe"]["id"]]
    assert listed(admin, q="zoe benali") == []


def test_q_matches_email_and_phone_prefixes(admin, people):
    assert listed(admin, q="omar.ben") == [people["omar"]["id"]]
    assert listed(admin, q="0612") == [people["zoe"]["id"]]


def test_email_filter_matches_a_case_insensitive_prefix(admin, people):
    assert listed(admin, email="ZOE.LEF") == [people["zoe"]["id"]]
    assert listed(admin, email="zoe.lefevre@mail") == []


def test_company_filters_find_the_companys_people(admin, people):
    assert listed(admin, company="voyag") == [people["zoe"]["id"]]
    assert listed(admin, company_id=people["company"]["id"]) == [people["zoe"]["id"]]
    assert listed(admin, f"/api/v1/companies/{people['company']['id']}/customers") == [people["zoe"]["id"]]


def test_search_alias_takes_query_and_company(admin, people):
    assert listed(admin, "/api/v1/customers/search", query="benali") == [people["omar"]["id"]]
    assert listed(admin, "/api/v1/customers/search", company="atlas") == [people["zoe"]["id"]]


def test_soft_deleted_customer_leaves_the_default_list(admin, people, db):
    response = admin.delete(f"/api/v1/customers/{people['omar']['id']}")

    assert response.status_code == 204
    assert listed(admin) == [people["zoe"]["id"]]
    assert listed(admin, is_active="false") == [people["omar"]["id"]]
    assert db.customers.find_one({"_id": ObjectId(people["omar"]["id"])})["is_active"] is False


def test_customer_user_lists_only_its_own_record(client, people):
    registered = register(client, "selfie")
    tokens = login(client, "selfie")
    own = Api(client, tokens["access_token"])

    assert listed(own) == [registered["customer"]["id"]]
    assert listed(own, q="zoe") == []
