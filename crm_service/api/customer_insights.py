"""Customer summary, CSV export and import."""
from flask import Blueprint, Response, current_app, jsonify, request

from crm_service.auth.decorators import current_principal, require
from crm_service.db import get_db
from crm_service.errors import Forbidden, invalid
from crm_service.schemas.customer_insights import (
    CustomerExportQuerySchema,
    CustomerImportFileSchema,
    CustomerImportQuerySchema,
    CustomerImportResultSchema,
    CustomerSummarySchema,
)
from crm_service.services import audit
from crm_service.services.customer_csv import EXPORT_COLUMNS, CustomerCsv, CustomerImporter
from crm_service.services.customer_summary import SECTIONS, customer_summary

from .customers import SORT_FIELDS, visible_customer
from .docs import operation
from .helpers import load_query, sort_of

bp = Blueprint("customer_insights", __name__, url_prefix="/api/v1/customers")

IMPORT_MAX_BYTES = 20 * 1024 * 1024  # SPEC §7: imports may be larger than other bodies
summary_schema = CustomerSummarySchema()
export_query_schema = CustomerExportQuerySchema()
import_query_schema = CustomerImportQuerySchema()
import_result_schema = CustomerImportResultSchema()


class AuditedCustomers:
    """The importer's customer repository, with an audit entry for every customer it creates or changes."""

    def __init__(self, customers):
        self._customers = customers

    def __getattr__(self, name):
        return getattr(self._customers, name)

    def create(self, fields, company=None):
        customer = self._customers.create(fields, company)
        audit.record("create", "customers", customer["_id"], after=customer)
        return customer

    def update(self, customer_id, changes, current, company=None):
        updated = self._customers.update(customer_id, changes, current, company)
        if updated is not None:
            audit.record("update", "customers", current["_id"], before=current, after=updated)
        return updated


@bp.before_request
def _import_body_limit():
    # Before anything reads the body: werkzeug checks the limit when it parses the form.
    if request.endpoint == "customer_insights.import_customers":
        request.max_content_length = IMPORT_MAX_BYTES


@bp.get("/<customer_id>/summary")
@require("crm:read:customers")
@operation("Figures about one customer: interactions, tickets, feedback, sales, opportunities, segments",
           tags=["customers"], response=CustomerSummarySchema,
           description="Each figure is given only to callers who may read its resource (`crm:read:<resource>`): "
                       "a customer user gets its interactions, tickets and feedback figures, not sales, "
                       "opportunities or segments. Anonymous feedback counts only for admins and its author. "
                       "`total_sales_amount` is keyed by currency.")
def get_customer_summary(customer_id):
    customer = visible_customer(customer_id)
    principal = current_principal()
    sections = [name for name in SECTIONS if f"crm:read:{name}" in principal.permissions]
    summary = customer_summary(get_db(), customer, sections,
                               include_anonymous_feedback=principal.is_admin or principal.is_customer)
    return jsonify(summary_schema.dump(summary))


@bp.get("/export")
@require("crm:read:customers")
@operation("Export customers as CSV (streamed), with the list's filters and sort", tags=["customers"],
           query=CustomerExportQuerySchema, response_content_type="text/csv",
           description="Staff only. Answers `text/csv` with the columns " + ", ".join(EXPORT_COLUMNS)
                       + " (tags joined with `;`). Cells that a spreadsheet would run as a formula (starting "
                         "with =, +, -, @, tab or carriage return) are prefixed with `'`.")
def export_customers():
    if not current_principal().is_staff:
        raise Forbidden("Only staff may export customers")
    query = load_query(export_query_schema)
    rows = CustomerCsv(get_db(), query, sort_of(query, export_query_schema, SORT_FIELDS))
    response = Response(rows, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="customers.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/import")
@require("crm:create:customers", "crm:update:customers")
@operation("Import customers from CSV: upsert by email, per-row errors, good rows kept", tags=["customers"],
           query=CustomerImportQuerySchema, body=CustomerImportFileSchema, content_type="multipart/form-data",
           response=CustomerImportResultSchema, errors=(413,),
           description="The `file` field holds a UTF-8 CSV (up to 20 MiB) whose first line names its columns: "
                       "any of the export's columns (id, company_name and the times are ignored) and `company_id`; "
                       "`email` is required. A row whose email exists updates that customer's given fields, "
                       "otherwise it creates one. An empty cell clears last_name, phone, region, nationality, "
                       "owner_id, company_id and tags, and keeps the other fields (a new customer gets the "
                       "defaults). A leading `'` before =, +, -, @ (as the export writes) is removed. `row` in "
                       "`errors` is 1 for the first line after the header; `failed` counts every failed row, "
                       "`errors` lists the first 1000. An email may appear in one successful row per file.")
def import_customers():
    query = load_query(import_query_schema)
    unexpected = [name for name in list(request.form) + list(request.files) if name != "file"]
    if unexpected:
        raise invalid({name: ["Unknown field."] for name in unexpected})
    upload = request.files.get("file")
    if upload is None:
        raise invalid({"file": ["Upload the CSV file in this multipart/form-data field."]})
    importer = CustomerImporter(get_db(), current_principal().permissions, current_app.config["DEFAULT_LANGUAGE"],
                                query["dry_run"])
    # One audit entry per customer the import creates or changes (a dry run writes none).
    importer.customers = AuditedCustomers(importer.customers)
    return jsonify(import_result_schema.dump(importer.run(upload.stream)))


import_customers.content_types = ("multipart/form-data",)
