"""Companies."""
from pymongo import ReturnDocument

from .base import find_page, fold, prefix_pattern, to_object_id, utcnow, words


def _derived(fields):
    """Fields kept for indexes: a folded name key and search words of name and domain."""
    derived = {}
    if "name" in fields:
        derived["name_key"] = fold(fields["name"]).strip()
    if "name" in fields or "domain" in fields:
        derived["search_terms"] = sorted(set(words(fields.get("name")) + words(fields.get("domain"))
                                             + ([fields["domain"].lower()] if fields.get("domain") else [])))
    return derived


class CompanyRepository:
    def __init__(self, db):
        self.collection = db.companies
        self.customers = db.customers

    def create(self, fields):
        now = utcnow()
        document = {**fields, **_derived(fields), "version": 1, "created_at": now, "updated_at": now}
        document["_id"] = self.collection.insert_one(document).inserted_id
        return document

    def get(self, company_id):
        oid = to_object_id(company_id)
        return self.collection.find_one({"_id": oid}) if oid else None

    def find_by_name(self, name):
        return self.collection.find_one({"name_key": fold(name).strip()})

    def exists(self, company_id):
        oid = to_object_id(company_id)
        return oid is not None and self.collection.count_documents({"_id": oid}, limit=1) == 1

    def update(self, company_id, changes, current):
        oid = to_object_id(company_id)
        merged = {**current, **changes}
        changes = {**changes, **_derived({key: merged.get(key) for key in ("name", "domain")}),
                   "updated_at": utcnow()}
        updated = self.collection.find_one_and_update(
            {"_id": oid, "version": current["version"]},
            {"$set": changes, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is not None and "name" in changes and changes["name"] != current.get("name"):
            # Customers carry the company name for display and the `company` filter; their version and
            # updated_at move too, so ETags and `updated_since` sync see the change.
            self.customers.update_many(
                {"company_id": oid},
                {"$set": {"company_name": updated["name"], "company_terms": words(updated["name"]),
                          "updated_at": changes["updated_at"]},
                 "$inc": {"version": 1}},
            )
        return updated

    def delete(self, company_id, detach):
        """Delete; with `detach` its customers lose the link. False if customers still point at it."""
        oid = to_object_id(company_id)
        if not detach and self.customers.count_documents({"company_id": oid}, limit=1):
            return False
        if detach:
            self.customers.update_many(
                {"company_id": oid},
                {"$set": {"company_id": None, "company_name": None, "company_terms": [], "updated_at": utcnow()},
                 "$inc": {"version": 1}},
            )
        self.collection.delete_one({"_id": oid})
        return True

    def list(self, filters, sort, page_request, only_id=None):
        query = {}
        if only_id is not None:
            query["_id"] = only_id
        if filters.get("q", "").strip():
            # Text with no letters or digits can start no word: it matches nothing rather than everything.
            query["$and"] = [{"search_terms": prefix_pattern(word)} for word in words(filters["q"])[:5]] or [
                {"_id": {"$exists": False}}]
        if filters.get("industry"):
            query["industry"] = filters["industry"]
        if filters.get("tags"):
            query["tags"] = {"$all": filters["tags"]}
        if filters.get("updated_since"):
            query["updated_at"] = {"$gt": filters["updated_since"]}
        return find_page(self.collection, query, sort, page_request)
