"""Product lists (is_active, q on name/SKU, sorts) and who may read or change the catalogue."""
import pytest
from bson import ObjectId

from tests.api.test_products import PRODUCTS, make_product
from tests.conftest import assert_error


def names(api, **params):
    response = api.get(PRODUCTS, query_string=params)
    assert response.status_code == 200, response.get_json()
    return [item["name"] for item in response.get_json()["items"]]


@pytest.fixture
def catalogue(admin):
    make_product(admin, sku="TOUR-ATLAS-3D", name="Atlas Trek")
    make_product(admin, sku="DESERT-2N", name="Zagora desert night")
    make_product(admin, sku="CITY-FES", name="Fès medina walk", is_active=False)


def test_list_is_sorted_by_name_by_default(sales, catalogue):
    assert names(sales) == ["Atlas Trek", "Fès medina walk", "Zagora desert night"]


def test_sort_by_sku_descending(sales, catalogue):
    assert names(sales, sort="-sku") == ["Atlas Trek", "Zagora desert night", "Fès medina walk"]


def test_filter_is_active(sales, catalogue):
    assert names(sales, is_active="false") == ["Fès medina walk"]
    assert names(sales, is_active="true") == ["Atlas Trek", "Zagora desert night"]


@pytest.mark.parametrize(("q", "expected"), [
    ("atl", ["Atlas Trek"]),
    ("DESERT-2", ["Zagora desert night"]),
    ("tour-atlas", ["Atlas Trek"]),
    ("fes", ["Fès medina walk"]),
    ("desert nig", ["Zagora desert night"]),
    ("trek zzz", []),
    ("las", []),
    ("((", []),
])
def test_q_matches_word_prefixes_of_name_or_sku(sales, catalogue, q, expected):
    assert names(sales, q=q) == expected


def test_q_is_not_a_regular_expression(sales, catalogue):
    assert names(sales, q=".*") == []


def test_cursor_paging_visits_every_product_once(sales, catalogue):
    first = sales.get(PRODUCTS, query_string={"size": 2}).get_json()
    second = sales.get(PRODUCTS, query_string={"size": 2, "cursor": first["next_cursor"]}).get_json()
    seen = [item["name"] for item in first["items"] + second["items"]]
    assert seen == ["Atlas Trek", "Fès medina walk", "Zagora desert night"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(("param", "value"), [("sort", "price"), ("is_active", "perhaps"), ("q", "x" * 101),
                                              ("size", "0"), ("category", "tours")])
def test_invalid_query_parameters_are_422(sales, param, value):
    assert param in assert_error(sales.get(PRODUCTS, query_string={param: value}), 422)["errors"]


# -- roles ----------------------------------------------------------------------------------------

@pytest.fixture
def product(admin):
    return make_product(admin)


def _write(api, method, product):
    if method == "post":
        return api.post(PRODUCTS, json={"sku": "NEW-1", "name": "New", "price": "1"})
    if method == "patch":
        return api.patch(f"{PRODUCTS}/{product['id']}", json={"price": "2"})
    return api.delete(f"{PRODUCTS}/{product['id']}")


@pytest.mark.parametrize("role", ["admin", "sales"])
def test_staff_may_list_and_read_products(request, role, product):
    api = request.getfixturevalue(role)
    assert api.get(PRODUCTS).status_code == 200
    assert api.get(f"{PRODUCTS}/{product['id']}").status_code == 200


@pytest.mark.parametrize("method", ["post", "patch", "delete"])
def test_sales_role_may_not_change_products(sales, db, product, method):
    before = list(db.products.find())
    assert_error(_write(sales, method, product), 403, "forbidden")
    assert list(db.products.find()) == before


@pytest.mark.parametrize("method", ["post", "patch", "delete"])
def test_admin_may_change_products(admin, product, method):
    assert _write(admin, method, product).status_code in (200, 201, 204)


@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_customer_users_get_403_on_products(customer, db, product, method):
    before = list(db.products.find())
    response = customer.get(f"{PRODUCTS}/{product['id']}") if method == "get" else _write(customer, method, product)
    assert_error(response, 403, "forbidden")
    assert_error(customer.get(PRODUCTS), 403, "forbidden")
    assert list(db.products.find()) == before


def test_anonymous_callers_get_401_on_products(anon, product):
    assert_error(anon.get(PRODUCTS), 401, "unauthorized")
    assert_error(anon.get(f"{PRODUCTS}/{product['id']}"), 401, "unauthorized")
    assert_error(anon.post(PRODUCTS, json={"sku": "A", "name": "B", "price": "1"}), 401, "unauthorized")


def test_sales_role_gets_403_before_404_on_an_unknown_product(sales):
    assert_error(sales.patch(f"{PRODUCTS}/{ObjectId()}", json={"price": "1"}), 403, "forbidden")
