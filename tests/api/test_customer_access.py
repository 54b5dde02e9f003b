"""Who may do what: customer users confined to their own record, and the role matrix for companies and customers."""
import pytest
from bson import ObjectId

from crm_service.db import ensure_indexes
from tests.conftest import Api, assert_error, login, register

CUSTOMERS = "/api/v1/customers"


@pytest.fixture(autouse=True)
def _indexes(db):
    ensure_indexes(db)


def make_customer(api, **fields):
    body = {"first_name": "Ann", "email": f"{ObjectId()}@mail.example", **fields}
    response = api.post(CUSTOMERS, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def item_ids(response):
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


@pytest.fixture
def others(admin, sales, customer):
    """Two other customer records, and the customer user's own record given notes and an owner by staff."""
    admin.patch(f"{CUSTOMERS}/{customer.customer_id}", json={"notes": "staff only", "owner_id": sales.user["id"]})
    return [make_customer(admin, last_name="Other", status="active"), make_customer(admin, last_name="Third")]


# -- the customer user's view ---------------------------------------------------------------------

def test_customer_lists_only_its_own_record(customer, others):
    response = customer.get(CUSTOMERS)
    assert item_ids(response) == [customer.customer_id]
    assert response.get_json()["total"] == 1


@pytest.mark.parametrize(("query", "sees_itself"), [
    ({"is_active": "false"}, True), ({"sort": "last_name"}, True), ({"size": "100"}, True),
    ({"q": "other"}, False), ({"status": "active"}, False),
])
def test_customer_filters_only_narrow_its_own_record(customer, admin, others, query, sees_itself):
    admin.delete(f"{CUSTOMERS}/{others[0]['id']}")
    expected = [customer.customer_id] if sees_itself else []
    assert item_ids(customer.get(CUSTOMERS, query_string=query)) == expected


def test_customer_search_alias_finds_only_its_own_record(customer, others):
    assert item_ids(customer.get(f"{CUSTOMERS}/search", query_string={"query": "other"})) == []
    assert item_ids(customer.get(f"{CUSTOMERS}/search", query_string={"query": "cust"})) == [customer.customer_id]


@pytest.mark.parametrize("name", ["customer_id", "owner_id"])
def test_customer_cannot_use_id_filters_to_widen_or_probe(customer, sales, others, name):
    value = others[0]["id"] if name == "customer_id" else sales.user["id"]
    body = assert_error(customer.get(CUSTOMERS, query_string={name: value}), 422, "validation_error")
    assert list(body["errors"]) == [name]


def test_customer_reads_its_own_record_without_staff_fields(customer, others):
    response = customer.get(f"{CUSTOMERS}/{customer.customer_id}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == customer.customer_id
    assert "notes" not in body and "owner_id" not in body
    assert all("notes" not in item and "owner_id" not in item for item in customer.get(CUSTOMERS).get_json()["items"])


def test_customer_gets_404_for_another_customers_record(customer, others):
    assert_error(customer.get(f"{CUSTOMERS}/{others[0]['id']}"), 404, "not_found")


def test_customer_changes_its_own_contact_fields(customer, db, others):
    changes = {"first_name": "Zoë", "last_name": "Alami", "phone": "0612345678", "preferred_language": "en"}
    response = customer.patch(f"{CUSTOMERS}/{customer.customer_id}", json=changes)
    assert response.status_code == 200
    body = response.get_json()
    assert {key: body[key] for key in changes} == {**changes, "phone": "+212612345678"}
    assert "notes" not in body and "owner_id" not in body
    assert db.customers.find_one({"_id": ObjectId(customer.customer_id)})["last_name"] == "Alami"


@pytest.mark.parametrize("body", [
    {"email": "new@mail.example"}, {"status": "active"}, {"loyalty_status": "vip"}, {"tags": ["vip"]},
    {"notes": "mine"}, {"owner_id": str(ObjectId())}, {"company_id": str(ObjectId())}, {"is_active": False},
    {"contact_type": "corporate"}, {"region": "Souss"}, {"full_name": "X"}, {"first_name": "Ok", "status": "vip"},
])
def test_customer_changing_any_other_field_is_422_and_changes_nothing(customer, db, body):
    before = db.customers.find_one({"_id": ObjectId(customer.customer_id)})
    response = customer.patch(f"{CUSTOMERS}/{customer.customer_id}", json=body)
    errors = assert_error(response, 422, "validation_error")["errors"]
    assert set(errors) == set(body) - {"first_name"}
    assert db.customers.find_one({"_id": ObjectId(customer.customer_id)}) == before


def test_customer_cannot_change_another_customers_record(customer, db, others):
    response = customer.patch(f"{CUSTOMERS}/{others[0]['id']}", json={"first_name": "Hacked"})
    assert_error(response, 404, "not_found")
    assert db.customers.find_one({"_id": ObjectId(others[0]["id"])})["first_name"] == "Ann"


def test_customer_cannot_delete_or_restore_any_record(customer, db, others):
    for customer_id in (customer.customer_id, others[0]["id"]):
        assert_error(customer.delete(f"{CUSTOMERS}/{customer_id}"), 403, "forbidden")
        assert_error(customer.post(f"{CUSTOMERS}/{customer_id}/restore"), 403, "forbidden")
    assert db.customers.count_documents({"is_active": False}) == 0


def test_customer_cannot_create_customers(customer, db):
    assert_error(customer.post(CUSTOMERS, json={"first_name": "New", "email": "new@mail.example"}), 403)
    assert db.customers.count_documents({"email": "new@mail.example"}) == 0


# -- the role matrix ------------------------------------------------------------------------------

ROLES = ("anon", "customer", "sales", "admin")
# (method, path, body, expected status for anon, customer, sales, admin)
MATRIX = [
    ("get", "/api/v1/companies", None, (401, 200, 200, 200)),
    ("post", "/api/v1/companies", {"name": "New Co"}, (401, 403, 201, 201)),
    ("get", "/api/v1/companies/{own_company}", None, (401, 200, 200, 200)),
    ("get", "/api/v1/companies/{other_company}", None, (401, 404, 200, 200)),
    ("patch", "/api/v1/companies/{own_company}", {"industry": "Travel"}, (401, 403, 200, 200)),
    ("put", "/api/v1/companies/{other_company}", {"industry": "Travel"}, (401, 403, 200, 200)),
    ("delete", "/api/v1/companies/{other_company}", None, (401, 403, 403, 204)),
    ("delete", "/api/v1/companies/{own_company}", None, (401, 403, 403, 409)),
    ("get", "/api/v1/companies/{own_company}/customers", None, (401, 200, 200, 200)),
    ("get", "/api/v1/companies/{other_company}/customers", None, (401, 404, 200, 200)),
    ("get", "/api/v1/customers", None, (401, 200, 200, 200)),
    ("get", "/api/v1/customers/search?query=ann", None, (401, 200, 200, 200)),
    ("post", "/api/v1/customers", {"first_name": "New", "email": "new@mail.example"}, (401, 403, 201, 201)),
    ("get", "/api/v1/customers/{own_customer}", None, (401, 200, 200, 200)),
    ("get", "/api/v1/customers/{other_customer}", None, (401, 404, 200, 200)),
    ("patch", "/api/v1/customers/{own_customer}", {"first_name": "Zoë"}, (401, 200, 200, 200)),
    ("put", "/api/v1/customers/{own_customer}", {"last_name": "Alami"}, (401, 200, 200, 200)),
    ("patch", "/api/v1/customers/{other_customer}", {"first_name": "Zoë"}, (401, 404, 200, 200)),
    ("delete", "/api/v1/customers/{own_customer}", None, (401, 403, 403, 204)),
    ("delete", "/api/v1/customers/{other_customer}", None, (401, 403, 403, 204)),
    ("delete", "/api/v1/customers/{other_customer}?erase=true", None, (401, 403, 403, 204)),
    ("post", "/api/v1/customers/{other_customer}/restore", None, (401, 403, 403, 200)),
]


@pytest.fixture
def world(client, admin, sales):
    """A customer user working at one company, another company (nobody works there), another customer record."""
    registered = register(client, company="Atlas Travel")
    tokens = login(client, registered["user"]["username"])
    customer_user = Api(client, tokens["access_token"], tokens["user"])
    other_company = admin.post("/api/v1/companies", json={"name": "Sahara"}).get_json()
    other_customer = make_customer(admin)
    ids = {"own_company": registered["customer"]["company_id"], "other_company": other_company["id"],
           "own_customer": registered["customer"]["id"], "other_customer": other_customer["id"]}
    apis = {"anon": Api(client), "customer": customer_user, "sales": sales, "admin": admin}
    return apis, ids


@pytest.mark.parametrize(("method", "path", "body", "role", "expected"), [
    pytest.param(method, path, body, role, statuses[index], id=f"{role}-{method}-{path}")
    for method, path, body, statuses in MATRIX for index, role in enumerate(ROLES)
])
def test_role_matrix(world, method, path, body, role, expected):
    apis, ids = world
    api = apis[role]
    url = path.format(**ids)
    response = getattr(api, method)(url, json=body) if body is not None else getattr(api, method)(url)
    if expected >= 400:
        assert_error(response, expected)
    else:
        assert response.status_code == expected, response.get_json()
