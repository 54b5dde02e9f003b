"""Customers as CSV: a streamed export and an upsert-by-email import (SPEC §5, §8).

Spreadsheet safety: a cell starting with =, +, -, @, a tab or a carriage return would be run as a
formula by Excel, LibreOffice or Google Sheets (CSV/formula injection), so the export prefixes such
cells with a `'`, which spreadsheets show as text. The import removes that one `'` again, so an
exported file imports unchanged (E.164 phones, which start with +, are the common case).
"""
import csv
import io
from dataclasses import dataclass, field

from marshmallow import ValidationError
from pymongo.errors import DuplicateKeyError

from crm_service.errors import invalid
from crm_service.repositories.base import to_object_id, with_tiebreak
from crm_service.repositories.companies import CompanyRepository
from crm_service.repositories.customers import RECORD_PROJECTION, CustomerRepository
from crm_service.repositories.tombstones import TombstoneRepository
from crm_service.repositories.users import UserRepository
from crm_service.schemas.common import iso_z
from crm_service.schemas.customers import CustomerSchema

EXPORT_COLUMNS = (
    "id", "first_name", "last_name", "email", "phone", "company_name", "contact_type", "status",
    "loyalty_status", "tags", "region", "nationality", "preferred_language", "owner_id", "is_active",
    "created_at", "updated_at", "last_interaction_at",
)
TIME_COLUMNS = ("created_at", "updated_at", "last_interaction_at")
# The stored fields the export reads: never the embedded history.
EXPORT_PROJECTION = {name: 1 for name in EXPORT_COLUMNS if name != "id"}
EXPORT_BATCH = 500
FLUSH_CHARS = 32 * 1024
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TAG_SEPARATOR = ";"

# Import: the export's columns (read-only ones ignored) and company_id to link a company.
READ_ONLY_COLUMNS = ("id", "company_name", "created_at", "updated_at", "last_interaction_at")
IMPORT_COLUMNS = EXPORT_COLUMNS + ("company_id",)
REQUIRED_COLUMNS = ("email",)
# An empty cell clears these fields; an empty first_name or email is an error; any other empty
# cell keeps the stored value (or gives the default to a new customer).
CLEARABLE = ("last_name", "phone", "region", "nationality", "owner_id", "company_id")
REQUIRED_VALUES = ("first_name", "email")
IMPORT_BATCH = 500
MAX_REPORTED_ERRORS = 1000

row_schema = CustomerSchema()


# -- export -------------------------------------------------------------------------------

def safe_cell(text):
    """The cell as a spreadsheet will read it as text, never as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unescape_cell(text):
    """Undo safe_cell: a `'` put before a formula character goes."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def _cell(document, column):
    if column == "id":
        return str(document["_id"])
    value = document.get(column)
    if value is None:
        return ""
    if column in TIME_COLUMNS:
        return iso_z(value)
    if column == "tags":
        return TAG_SEPARATOR.join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def export_row(document):
    return [safe_cell(_cell(document, column)) for column in EXPORT_COLUMNS]


class _Chunk:
    """What csv.writer writes to: pieces of text, joined only when a chunk is sent."""

    def __init__(self):
        self.parts = []
        self.size = 0

    def write(self, text):
        self.parts.append(text)
        self.size += len(text)

    def take(self):
        text = "".join(self.parts)
        self.parts = []
        self.size = 0
        return text


class CustomerCsv:
    """The CSV text of a customer cursor, in chunks of about FLUSH_CHARS; close() ends the cursor.

    The first batch is fetched when this is built, so a database that is down fails the request
    (503 in the error shape) before the 200 and the header line are sent.
    """

    def __init__(self, db, filters, sort):
        query = CustomerRepository(db).build_query(filters)
        self.cursor = (db.customers.find(query, EXPORT_PROJECTION)
                       .sort(with_tiebreak(sort)).batch_size(EXPORT_BATCH))
        self.first = next(self.cursor, None)

    def __iter__(self):
        chunk = _Chunk()
        writer = csv.writer(chunk, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        try:
            if self.first is not None:
                writer.writerow(export_row(self.first))
                self.first = None
                for document in self.cursor:
                    writer.writerow(export_row(document))
                    if chunk.size >= FLUSH_CHARS:
                        yield chunk.take()
            yield chunk.take()
        finally:
            self.close()

    def close(self):
        self.cursor.close()


# -- import -------------------------------------------------------------------------------

def _file_error(message):
    return invalid({"file": [message]}, "The CSV file cannot be imported")


def _records(stream):
    """(line number, cells) for every CSV record of a binary stream read as UTF-8 (a BOM is allowed)."""
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    try:
        for cells in reader:
            yield reader.line_num, cells
    except UnicodeDecodeError:
        raise _file_error("The file is not UTF-8 text.")
    except csv.Error as exc:
        raise _file_error(f"Line {reader.line_num} is not valid CSV: {exc}.")
    finally:
        text.detach()  # the upload's stream stays open for the next pass


def check_header(cells):
    """The column names of the header line; a wrong header is 422 with what is wrong."""
    columns = [cell.strip().lower() for cell in cells]
    unknown = [name or "(empty)" for name in columns if name not in IMPORT_COLUMNS]
    if unknown:
        raise _file_error(f"Unknown columns in the first line: {', '.join(unknown)}. "
                          f"Columns are: {', '.join(IMPORT_COLUMNS)}.")
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise _file_error(f"Columns named twice in the first line: {', '.join(repeated)}.")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise _file_error(f"The first line must name the columns; missing: {', '.join(missing)}.")
    return columns


def read_header(stream):
    """Check the whole file first (UTF-8, CSV syntax, header) so a broken file changes nothing."""
    header = None
    for _, cells in _records(stream):
        if header is None:
            header = check_header(cells)
    if header is None:
        raise _file_error("The file is empty: its first line must name the columns.")
    return header


@dataclass
class ImportReport:
    dry_run: bool
    created: int = 0
    updated: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)


class RowError(Exception):
    def __init__(self, errors):
        super().__init__("row rejected")
        self.errors = errors


class CustomerImporter:
    """Upsert by email, row by row; a bad row is reported and the others are kept.

    An email may appear in one successful row per file: a later row with it is an error, so a
    dry run and a real run count alike. `updated` counts rows that matched an existing customer
    (a row that changes nothing writes nothing).
    """

    def __init__(self, db, permissions, default_language, dry_run):
        self.db = db
        self.customers = CustomerRepository(db)
        self.companies = CompanyRepository(db)
        self.users = UserRepository(db)
        self.may_deactivate = "crm:delete:customers" in permissions
        self.default_language = default_language
        self.report = ImportReport(dry_run=dry_run)
        self.header = None
        self.done_rows = {}  # email -> the row that created or updated it
        self.stored = {}  # email -> stored record, for the rows of the current batch
        self.company_cache = {}
        self.owner_cache = {}

    def run(self, stream):
        self.header = read_header(stream)
        records = _records(stream)
        next(records)  # the header
        batch = []
        for row, (_, cells) in enumerate(records, start=1):
            batch.append((row, cells))
            if len(batch) == IMPORT_BATCH:
                self._run_batch(batch)
                batch = []
        self._run_batch(batch)
        return self.report

    def _run_batch(self, batch):
        if not batch:
            return
        email_at = self.header.index("email")
        emails = {unescape_cell(cells[email_at].strip()).lower() for _, cells in batch if len(cells) > email_at}
        self.stored = dict.fromkeys(emails)
        for document in self.customers.collection.find({"email": {"$in": sorted(emails)}}, RECORD_PROJECTION):
            self.stored[document["email"]] = document
        for row, cells in batch:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line counts as a row but is not one to import
            try:
                self._import_row(row, cells)
            except RowError as exc:
                self.report.failed += 1
                if len(self.report.errors) < MAX_REPORTED_ERRORS:
                    self.report.errors.append({"row": row, "errors": exc.errors})

    def _import_row(self, row, cells):
        if len(cells) != len(self.header):
            raise RowError({"_schema": [f"Expected {len(self.header)} cells, found {len(cells)}."]})
        raw = self._raw(cells)
        data = _load(raw, partial=True)
        email = data["email"]
        if email in self.done_rows:
            raise RowError({"email": [f"Repeats the email of row {self.done_rows[email]}; "
                                      "a customer may appear once per file."]})
        current = self.stored[email] if email in self.stored else self.customers.collection.find_one(
            {"email": email}, RECORD_PROJECTION)
        if current is None:
            self._create(_load(raw))
            self.report.created += 1
        else:
            self._update(data, current)
            self.report.updated += 1
        self.done_rows[email] = row

    def _raw(self, cells):
        raw = {}
        for column, cell in zip(self.header, cells, strict=True):
            if column in READ_ONLY_COLUMNS:
                continue
            value = unescape_cell(cell.strip())
            if column == "tags":
                raw["tags"] = [tag.strip() for tag in value.split(TAG_SEPARATOR) if tag.strip()]
            elif value or column in REQUIRED_VALUES:
                raw[column] = value
            elif column in CLEARABLE:
                raw[column] = None
        return raw

    def _create(self, data):
        company = self._company(data.pop("company_id", None))
        data["owner_id"] = self._owner(data.get("owner_id"))
        data.setdefault("preferred_language", self.default_language)
        if self.report.dry_run:
            return
        try:
            self.customers.create(data, company)
        except DuplicateKeyError:  # created by someone else since this batch was read
            raise RowError({"email": ["This value is already in use."]})

    def _update(self, data, current):
        changes = self._changes(data, current)
        company = self._company(changes["company_id"]) if "company_id" in changes else None
        if "owner_id" in changes:
            changes["owner_id"] = self._owner(changes["owner_id"])
        if "is_active" in changes and not self.may_deactivate:
            raise RowError({"is_active": ["Only users who may delete customers can change is_active."]})
        if not changes or self.report.dry_run:
            return
        updated = self.customers.update(current["_id"], changes, current, company)
        if updated is None:
            raise RowError({"_schema": ["The customer was changed by someone else meanwhile; import it again."]})
        if current.get("is_active", True) and updated.get("is_active") is False:
            TombstoneRepository(self.db).record("customers", current["_id"], current["_id"])

    @staticmethod
    def _changes(data, current):
        changes = {}
        for name, value in data.items():
            stored = current.get(name)
            if name in ("company_id", "owner_id"):
                stored = None if stored is None else str(stored)
            if name != "email" and value != stored:
                changes[name] = value
        return changes

    def _company(self, company_id):
        if company_id is None:
            return None
        if company_id not in self.company_cache:
            self.company_cache[company_id] = self.companies.get(company_id)
        company = self.company_cache[company_id]
        if company is None:
            raise RowError({"company_id": ["No company with this id."]})
        return company

    def _owner(self, owner_id):
        if owner_id is None:
            return None
        if owner_id not in self.owner_cache:
            self.owner_cache[owner_id] = self.users.is_active_staff(owner_id)
        if not self.owner_cache[owner_id]:
            raise RowError({"owner_id": ["Not an active staff user."]})
        return to_object_id(owner_id)


def _load(raw, partial=False):
    try:
        return row_schema.load(raw, partial=partial)
    except ValidationError as exc:
        raise RowError(exc.messages)
