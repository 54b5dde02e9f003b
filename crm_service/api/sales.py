"""Sales: products sold to customers; amounts are computed, never sent (staff only)."""
from flask import Blueprint, url_for

from crm_service.auth.decorators import current_principal, require
from crm_service.db import get_db
from crm_service.errors import NotFound, invalid
from crm_service.repositories.base import to_object_id, utcnow
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.products import ProductRepository
from crm_service.repositories.sales import SaleRepository
from crm_service.schemas.money import MAX_AMOUNT, to_decimal
from crm_service.schemas.sales import SaleListQuerySchema, SaleSchema
from crm_service.services import audit

from .docs import operation
from .etags import check_if_match, delete_versioned, record_with_etag
from .helpers import load_body, load_query, page_request, page_response, sort_of, staff_reference

bp = Blueprint("sales", __name__, url_prefix="/api/v1/sales")

sale_schema = SaleSchema()
list_query_schema = SaleListQuerySchema()


def _visible(sale_id):
    sale = SaleRepository(get_db()).get(sale_id)
    if sale is None:
        raise NotFound("Sale not found")
    return sale


def _price_from_product(data, errors):
    """A new product_id brings its price and currency unless unit_price is given; it must exist and be on sale."""
    product = ProductRepository(get_db()).get(data["product_id"])
    if product is None:
        errors["product_id"] = ["No product with this id."]
        return
    if not product.get("is_active", True):
        errors["product_id"] = ["This product is not on sale (is_active is false)."]
        return
    data["product_id"] = product["_id"]
    if "unit_price" not in data:
        if data.get("currency", product["currency"]) != product["currency"]:
            errors["currency"] = ["Give unit_price too to sell in another currency than the product's."]
            return
        data["unit_price"] = product["price"]
        data["currency"] = product["currency"]
    elif "currency" not in data:
        data["currency"] = product["currency"]


def _check(data, current=None):
    """Resolve and check references (422 on the field): customer, product (with its price), employee, amount."""
    db = get_db()
    errors = {}
    if "customer_id" in data:
        if CustomerRepository(db).exists(data["customer_id"]):
            data["customer_id"] = to_object_id(data["customer_id"])
        else:
            errors["customer_id"] = ["No customer with this id."]
    if "product_id" in data and (current is None or to_object_id(data["product_id"]) != current["product_id"]):
        _price_from_product(data, errors)
    elif "product_id" in data:
        data["product_id"] = current["product_id"]
    if current is not None and "unit_price" not in data and data.get("currency", current["currency"]) != \
            current["currency"]:
        errors["currency"] = ["Give unit_price too to change the currency."]
    if "employee_id" in data:
        staff_reference(data, "employee_id", errors)
    merged = {**(current or {}), **data}
    if not errors and to_decimal(merged["unit_price"]) * merged["quantity"] > MAX_AMOUNT:
        errors["quantity"] = [f"quantity × unit_price must not exceed {MAX_AMOUNT}."]
    if errors:
        raise invalid(errors)
    return data


@bp.get("")
@require("crm:read:sales")
@operation("List sales", tags=["sales"], query=SaleListQuerySchema, response=SaleSchema, paged=True,
           description="`from` (inclusive) and `to` (exclusive) bound sale_date; newest first by default.")
def list_sales():
    query = load_query(list_query_schema)
    page = SaleRepository(get_db()).list(query, sort_of(query, list_query_schema), page_request(query))
    return page_response(page, sale_schema)


@bp.post("")
@require("crm:create:sales")
@operation("Record a sale", tags=["sales"], body=SaleSchema, response=SaleSchema, status=201,
           description="unit_price and currency default to the product's; amount = quantity × unit_price; "
                       "sale_date defaults to now and employee_id to the caller.")
def create_sale():
    data = load_body(sale_schema)
    data.setdefault("employee_id", current_principal().user_id)
    _check(data)
    data.setdefault("sale_date", utcnow())
    sale = SaleRepository(get_db()).create(data)
    audit.record("create", "sales", sale["_id"], after=sale)
    location = url_for("sales.get_sale", sale_id=str(sale["_id"]))
    return record_with_etag(sale_schema.dump(sale), sale, 201, location)


@bp.get("/<sale_id>")
@require("crm:read:sales")
@operation("Read a sale", tags=["sales"], response=SaleSchema)
def get_sale(sale_id):
    sale = _visible(sale_id)
    return record_with_etag(sale_schema.dump(sale), sale)


@bp.patch("/<sale_id>")
@require("crm:update:sales")
@operation("Change a sale (the amount is recomputed in the same write)", tags=["sales"], body=SaleSchema,
           body_partial=True, response=SaleSchema, errors=(412,),
           description="A new product_id without unit_price takes the new product's price and currency.")
def update_sale(sale_id):
    changes = load_body(sale_schema, partial=True)
    current = _visible(sale_id)
    check_if_match(current)
    if not changes:
        return record_with_etag(sale_schema.dump(current), current)
    _check(changes, current)
    updated = SaleRepository(get_db()).update(current, changes)
    if updated is None:
        check_if_match(current, force=True)
    audit.record("update", "sales", current["_id"], before=current, after=updated)
    return record_with_etag(sale_schema.dump(updated), updated)


@bp.delete("/<sale_id>")
@require("crm:delete:sales")
@operation("Delete a sale", tags=["sales"], status=204, errors=(412,))
def delete_sale(sale_id):
    current = _visible(sale_id)
    check_if_match(current)
    return delete_versioned("sales", current, SaleRepository(get_db()).delete)
