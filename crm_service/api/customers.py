"""Customers: list and search, create, read, change, soft delete and restore."""
from contextlib import contextmanager

from flask import Blueprint, current_app, url_for
from pymongo.errors import DuplicateKeyError

from crm_service.auth.decorators import current_principal, require
from crm_service.db import get_db
from crm_service.errors import Conflict, Forbidden, NotFound, invalid
from crm_service.repositories.base import to_object_id
from crm_service.repositories.companies import CompanyRepository
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.tombstones import TombstoneRepository
from crm_service.schemas.customers import (
    CustomerDeleteQuerySchema,
    CustomerListQuerySchema,
    CustomerSchema,
    CustomerSearchQuerySchema,
    CustomerSelfUpdateSchema,
)
from crm_service.services import audit
from crm_service.services.erasure import erase_customer

from .docs import operation
from .etags import check_if_match, record_with_etag
from .helpers import json_body, load_query, no_content, page_request, page_response, sort_of, staff_reference

bp = Blueprint("customers", __name__, url_prefix="/api/v1/customers")

customer_schema = CustomerSchema()
# Customer users never see staff notes or the owning salesperson.
own_record_schema = CustomerSchema(exclude=("notes", "owner_id"))
self_update_schema = CustomerSelfUpdateSchema()
list_query_schema = CustomerListQuerySchema()
search_query_schema = CustomerSearchQuerySchema()
delete_query_schema = CustomerDeleteQuerySchema()
SORT_FIELDS = {"last_name": "last_name_key"}
# Filters a customer user may not use: it cannot see these fields, so it may not probe them either.
STAFF_ONLY_FILTERS = ("owner_id",)


def output_schema():
    return own_record_schema if current_principal().is_customer else customer_schema


def confine_to_own(customer_id):
    """404 for a customer user naming another customer (checked in memory, no database read)."""
    principal = current_principal()
    if principal.is_customer and principal.customer_id != customer_id:
        raise NotFound("Customer not found")


def visible_customer(customer_id):
    """The customer record if the caller may know it exists; otherwise 404."""
    confine_to_own(customer_id)
    customer = CustomerRepository(get_db()).get(customer_id)
    if customer is None:
        raise NotFound("Customer not found")
    return customer


def confine_query(query):
    """The restriction for the caller: a customer user lists only its own record (None for staff)."""
    principal = current_principal()
    if not principal.is_customer:
        return None
    hidden = [name for name in STAFF_ONLY_FILTERS if name in query]
    if hidden:
        raise invalid({name: ["Unknown field."] for name in hidden}, "Query string is invalid")
    return to_object_id(principal.customer_id)


@contextmanager
def _unique_email():
    """Emails are unique case-insensitively (stored lower-case, unique index); a clash is 409 on `email`."""
    try:
        yield
    except DuplicateKeyError as exc:
        raise Conflict("A customer with this email already exists", {"email": ["This value is already in use."]}) \
            from exc


def _linked_company(data):
    """The company for a `company_id` in the body (None to unlink); unknown ids are 422."""
    if data.get("company_id") is None:
        return None
    company = CompanyRepository(get_db()).get(data["company_id"])
    if company is None:
        raise invalid({"company_id": ["No company with this id."]})
    return company


def _check_owner(data):
    if data.get("owner_id") is not None:
        errors = {}
        staff_reference(data, "owner_id", errors)
        if errors:
            raise invalid(errors)


def _list(query, schema):
    only_id = confine_query(query)
    if only_id is not None:
        query.pop("is_active", None)
    page = CustomerRepository(get_db()).list(query, sort_of(query, schema, SORT_FIELDS), page_request(query), only_id)
    return page_response(page, output_schema())


@bp.get("")
@require("crm:read:customers")
@operation("List and filter customers", tags=["customers"], query=CustomerListQuerySchema,
           response=CustomerSchema, paged=True,
           description="`q` matches the start of any word of the name, email or phone (case- and accent-"
                       "insensitive); `email` and `phone` match a prefix; `company` the start of a word of "
                       "the company name; `tags` may repeat and all must match.")
def list_customers():
    return _list(load_query(list_query_schema), list_query_schema)


@bp.get("/search")
@require("crm:read:customers")
@operation("Search customers (alias of the list's q and company filters)", tags=["customers"],
           query=CustomerSearchQuerySchema, response=CustomerSchema, paged=True)
def search_customers():
    query = load_query(search_query_schema)
    if query.get("query"):
        query["q"] = query.pop("query")
    return _list(query, search_query_schema)


@bp.post("")
@require("crm:create:customers")
@operation("Create a customer", tags=["customers"], body=CustomerSchema, response=CustomerSchema, status=201,
           errors=(409,))
def create_customer():
    data = customer_schema.load(json_body())
    company = _linked_company(data)
    _check_owner(data)
    data.setdefault("preferred_language", current_app.config["DEFAULT_LANGUAGE"])
    data.pop("company_id", None)
    with _unique_email():
        customer = CustomerRepository(get_db()).create(
            data, company, audit_entry=lambda record: audit.pending("create", "customers", record["_id"], after=record))
    audit.outbox_written(customer["_id"])
    location = url_for("customers.get_customer", customer_id=str(customer["_id"]))
    return record_with_etag(customer_schema.dump(customer), customer, 201, location)


@bp.get("/<customer_id>")
@require("crm:read:customers")
@operation("Read a customer", tags=["customers"], response=CustomerSchema)
def get_customer(customer_id):
    customer = visible_customer(customer_id)
    return record_with_etag(output_schema().dump(customer), customer)


@bp.route("/<customer_id>", methods=["PATCH", "PUT"])
@require("crm:update:customers")
@operation("Change a customer (customer users: first_name, last_name, phone, preferred_language only)",
           tags=["customers"], body=CustomerSchema, body_partial=True, response=CustomerSchema, errors=(409, 412))
def update_customer(customer_id):
    principal = current_principal()
    schema = self_update_schema if principal.is_customer else customer_schema
    changes = schema.load(json_body(), partial=True)
    current = visible_customer(customer_id)
    check_if_match(current)
    if "is_active" in changes and "crm:delete:customers" not in principal.permissions:
        # Switching a record off is a delete: sales may not do it through PATCH either.
        raise Forbidden("Only users who may delete customers can change is_active")
    company = None
    if "company_id" in changes:
        company = _linked_company(changes)
    _check_owner(changes)
    db = get_db()
    with _unique_email():
        updated = CustomerRepository(db).update(customer_id, changes, current, company) if changes else current
    if updated is None:
        check_if_match(current, force=True)
    if current.get("is_active", True) and updated.get("is_active") is False:
        TombstoneRepository(db).record("customers", current["_id"], current["_id"])
    if updated is not current:
        audit.record("update", "customers", current["_id"], before=current, after=updated)
    return record_with_etag(output_schema().dump(updated), updated)


@bp.delete("/<customer_id>")
@require("crm:delete:customers")
@operation("Soft-delete a customer (is_active=false); staff can still read it and restore it. "
           "With erase=true (admin) the person and its history are removed for good.",
           tags=["customers"], query=CustomerDeleteQuerySchema, status=204, errors=(412,))
def delete_customer(customer_id):
    query = load_query(delete_query_schema)
    current = visible_customer(customer_id)
    check_if_match(current)
    if query["erase"]:
        return _erase(current)
    if current.get("is_active", True):
        db = get_db()
        deleted = CustomerRepository(db).set_active(customer_id, False)
        TombstoneRepository(db).record("customers", current["_id"], current["_id"])
        audit.record("delete", "customers", current["_id"], before=current, after=deleted)
    return no_content()


def _erase(customer):
    """Privacy erasure everywhere the person's data lives; the id is 404 afterwards."""
    if not current_principal().is_admin:
        raise Forbidden("Only admins may erase a customer")
    erase_customer(get_db(), customer)
    return no_content()


@bp.post("/<customer_id>/restore")
@require("crm:delete:customers")
@operation("Restore a soft-deleted customer", tags=["customers"], response=CustomerSchema)
def restore_customer(customer_id):
    current = visible_customer(customer_id)
    restored = CustomerRepository(get_db()).set_active(customer_id, True)
    audit.record("restore", "customers", current["_id"], before=current, after=restored)
    return record_with_etag(customer_schema.dump(restored), restored)
