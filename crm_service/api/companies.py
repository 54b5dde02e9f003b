"""Companies and the people who work there."""
from contextlib import contextmanager

from flask import Blueprint, url_for
from pymongo.errors import DuplicateKeyError

from crm_service.auth.decorators import current_principal, require
from crm_service.db import get_db
from crm_service.errors import Conflict, NotFound
from crm_service.repositories.base import to_object_id
from crm_service.repositories.companies import CompanyRepository
from crm_service.repositories.customers import CustomerRepository
from crm_service.repositories.tombstones import TombstoneRepository
from crm_service.schemas.companies import CompanyDeleteQuerySchema, CompanyListQuerySchema, CompanySchema
from crm_service.schemas.customers import CustomerListQuerySchema, CustomerSchema
from crm_service.services import audit

from .customers import SORT_FIELDS as CUSTOMER_SORT_FIELDS
from .customers import confine_query, own_record_schema
from .docs import operation
from .etags import check_if_match, record_with_etag
from .helpers import load_body, load_query, no_content, page_request, page_response, sort_of

bp = Blueprint("companies", __name__, url_prefix="/api/v1/companies")

company_schema = CompanySchema()
list_query_schema = CompanyListQuerySchema()
delete_query_schema = CompanyDeleteQuerySchema()
customer_schema = CustomerSchema()
customer_query_schema = CustomerListQuerySchema()
SORT_FIELDS = {"name": "name_key"}


def own_company_id():
    """A customer user may see only its own company; None for staff (no restriction)."""
    principal = current_principal()
    if not principal.is_customer:
        return None
    customer = CustomerRepository(get_db()).get(principal.customer_id)
    return (customer or {}).get("company_id") or False


@contextmanager
def _unique_name():
    """Company names are unique case-insensitively (a unique index); a clash is 409 on `name`."""
    try:
        yield
    except DuplicateKeyError as exc:
        raise Conflict("A company with this name already exists", {"name": ["This value is already in use."]}) \
            from exc


def _visible_company(company_id):
    company = CompanyRepository(get_db()).get(company_id)
    own = own_company_id()
    if company is None or (own is not None and company["_id"] != own):
        raise NotFound("Company not found")
    return company


@bp.get("")
@require("crm:read:companies")
@operation("List companies", tags=["companies"], query=CompanyListQuerySchema, response=CompanySchema, paged=True)
def list_companies():
    query = load_query(list_query_schema)
    own = own_company_id()
    only_id = None if own is None else (own or to_object_id("0" * 24))
    page = CompanyRepository(get_db()).list(query, sort_of(query, list_query_schema, SORT_FIELDS),
                                            page_request(query), only_id)
    return page_response(page, company_schema)


@bp.post("")
@require("crm:create:companies")
@operation("Create a company", tags=["companies"], body=CompanySchema, response=CompanySchema, status=201,
           errors=(409,))
def create_company():
    data = load_body(company_schema)
    with _unique_name():
        company = CompanyRepository(get_db()).create(data)
    audit.record("create", "companies", company["_id"], after=company)
    location = url_for("companies.get_company", company_id=str(company["_id"]))
    return record_with_etag(company_schema.dump(company), company, 201, location)


@bp.get("/<company_id>")
@require("crm:read:companies")
@operation("Read a company", tags=["companies"], response=CompanySchema)
def get_company(company_id):
    company = _visible_company(company_id)
    return record_with_etag(company_schema.dump(company), company)


@bp.route("/<company_id>", methods=["PATCH", "PUT"])
@require("crm:update:companies")
@operation("Change a company", tags=["companies"], body=CompanySchema, body_partial=True, response=CompanySchema,
           errors=(409, 412))
def update_company(company_id):
    changes = load_body(company_schema, partial=True)
    company = _visible_company(company_id)
    check_if_match(company)
    with _unique_name():
        updated = CompanyRepository(get_db()).update(company_id, changes, company) if changes else company
    if updated is None:
        check_if_match(company, force=True)
    if updated is not company:
        audit.record("update", "companies", company["_id"], before=company, after=updated)
    return record_with_etag(company_schema.dump(updated), updated)


@bp.delete("/<company_id>")
@require("crm:delete:companies")
@operation("Delete a company (409 while it has customers, unless detach=true)", tags=["companies"],
           query=CompanyDeleteQuerySchema, status=204, errors=(409, 412))
def delete_company(company_id):
    query = load_query(delete_query_schema)
    company = _visible_company(company_id)
    check_if_match(company)
    db = get_db()
    if not CompanyRepository(db).delete(company_id, query["detach"]):
        raise Conflict("The company still has customers; pass detach=true to unlink them")
    TombstoneRepository(db).record("companies", company["_id"])
    audit.record("delete", "companies", company["_id"], before=company)
    return no_content()


@bp.get("/<company_id>/customers")
@require("crm:read:companies", "crm:read:customers")
@operation("List a company's customers", tags=["companies"], query=CustomerListQuerySchema,
           response=CustomerSchema, paged=True)
def list_company_customers(company_id):
    company = _visible_company(company_id)
    query = load_query(customer_query_schema)
    query["company_id"] = str(company["_id"])
    only_id = confine_query(query)
    sort = sort_of(query, customer_query_schema, CUSTOMER_SORT_FIELDS)
    page = CustomerRepository(get_db()).list(query, sort, page_request(query), only_id)
    return page_response(page, customer_schema if only_id is None else own_record_schema)
