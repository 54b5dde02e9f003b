"""Products: the catalogue (staff read it; only admins change it)."""
from contextlib import contextmanager

from flask import Blueprint, current_app, url_for
from pymongo.errors import DuplicateKeyError

from crm_service.auth.decorators import require
from crm_service.db import get_db
from crm_service.errors import Conflict, NotFound
from crm_service.repositories.products import ProductRepository
from crm_service.schemas.products import ProductListQuerySchema, ProductSchema
from crm_service.services import audit

from .docs import operation
from .etags import check_if_match, delete_versioned, record_with_etag
from .helpers import load_body, load_query, page_request, page_response, sort_of

bp = Blueprint("products", __name__, url_prefix="/api/v1/products")

product_schema = ProductSchema()
list_query_schema = ProductListQuerySchema()
SORT_FIELDS = {"name": "name_key"}


@contextmanager
def _unique_sku():
    """SKUs are unique case-insensitively (stored upper-case, unique index); a clash is 409 on `sku`."""
    try:
        yield
    except DuplicateKeyError as exc:
        raise Conflict("A product with this SKU already exists", {"sku": ["This value is already in use."]}) from exc


def _visible(product_id):
    product = ProductRepository(get_db()).get(product_id)
    if product is None:
        raise NotFound("Product not found")
    return product


@bp.get("")
@require("crm:read:products")
@operation("List products", tags=["products"], query=ProductListQuerySchema, response=ProductSchema, paged=True,
           description="`q`: every word starts a word of the name or the SKU (case- and accent-insensitive).")
def list_products():
    query = load_query(list_query_schema)
    sort = sort_of(query, list_query_schema, SORT_FIELDS)
    page = ProductRepository(get_db()).list(query, sort, page_request(query))
    return page_response(page, product_schema)


@bp.post("")
@require("crm:create:products")
@operation("Create a product", tags=["products"], body=ProductSchema, response=ProductSchema, status=201,
           errors=(409,), description="SKUs are case-insensitive and stored upper-case; currency defaults to "
                                      "BASE_CURRENCY.")
def create_product():
    data = load_body(product_schema)
    data.setdefault("currency", current_app.config["BASE_CURRENCY"])
    with _unique_sku():
        product = ProductRepository(get_db()).create(data)
    audit.record("create", "products", product["_id"], after=product)
    location = url_for("products.get_product", product_id=str(product["_id"]))
    return record_with_etag(product_schema.dump(product), product, 201, location)


@bp.get("/<product_id>")
@require("crm:read:products")
@operation("Read a product", tags=["products"], response=ProductSchema)
def get_product(product_id):
    product = _visible(product_id)
    return record_with_etag(product_schema.dump(product), product)


@bp.patch("/<product_id>")
@require("crm:update:products")
@operation("Change a product (existing sales keep their own unit_price)", tags=["products"], body=ProductSchema,
           body_partial=True, response=ProductSchema, errors=(409, 412))
def update_product(product_id):
    changes = load_body(product_schema, partial=True)
    current = _visible(product_id)
    check_if_match(current)
    if not changes:
        return record_with_etag(product_schema.dump(current), current)
    with _unique_sku():
        updated = ProductRepository(get_db()).update(current, changes)
    if updated is None:
        check_if_match(current, force=True)
    audit.record("update", "products", current["_id"], before=current, after=updated)
    return record_with_etag(product_schema.dump(updated), updated)


@bp.delete("/<product_id>")
@require("crm:delete:products")
@operation("Delete a product (409 once it has sales: set is_active=false instead)", tags=["products"], status=204,
           errors=(409, 412))
def delete_product(product_id):
    current = _visible(product_id)
    check_if_match(current)
    db = get_db()
    repository = ProductRepository(db)
    if repository.has_sales(current["_id"]):
        raise Conflict("The product has sales; set is_active=false to take it off sale instead")
    return delete_versioned("products", current, repository.delete)
