"""Products: the catalogue; SKUs are unique (a unique index on the upper-cased SKU)."""
from pymongo import ReturnDocument

from .base import find_page, fold, prefix_pattern, to_object_id, utcnow, words

NOTHING = {"_id": {"$exists": False}}


def _derived(document):
    """Index-only fields: a folded name for sorting, and words of the name and SKU (plus the whole SKU) for `q`."""
    sku = document.get("sku") or ""
    return {
        "name_key": fold(document.get("name")).strip(),
        "search_terms": sorted(set(words(document.get("name")) + words(sku) + ([sku.lower()] if sku else []))),
    }


def _projection():
    """Reads skip the search words (name_key stays: the name sort's cursor is built from it).

    A fresh dict each time: mongomock adds `_id` to a projection it is given.
    """
    return {"search_terms": 0}


class ProductRepository:
    def __init__(self, db):
        self.collection = db.products
        self.sales = db.sales

    def create(self, fields):
        now = utcnow()
        document = {**fields, **_derived(fields), "version": 1, "created_at": now, "updated_at": now}
        document["_id"] = self.collection.insert_one(document).inserted_id
        return document

    def get(self, product_id):
        oid = to_object_id(product_id)
        return self.collection.find_one({"_id": oid}, _projection()) if oid else None

    def update(self, current, changes):
        """Apply `changes` if the record is still at `current`'s version; None when it moved on."""
        values = {**changes, "updated_at": utcnow()}
        if {"name", "sku"} & set(changes):
            values.update(_derived({**current, **changes}))
        return self.collection.find_one_and_update(
            {"_id": current["_id"], "version": current["version"]},
            {"$set": values, "$inc": {"version": 1}},
            projection=_projection(),
            return_document=ReturnDocument.AFTER,
        )

    def has_sales(self, product_oid):
        return self.sales.count_documents({"product_id": product_oid}, limit=1) == 1

    def delete(self, current):
        """Delete if still at `current`'s version; False when it moved on (or is gone)."""
        return self.collection.delete_one({"_id": current["_id"], "version": current["version"]}).deleted_count == 1

    def build_query(self, filters):
        query = {}
        if filters.get("is_active") is not None:
            query["is_active"] = filters["is_active"]
        if filters.get("q", "").strip():
            # Kept under $and even for one word: secantusdb answers a top-level regex on a multikey index with
            # no rows. Text with no letters or digits can start no word, so it matches nothing.
            query["$and"] = [{"search_terms": prefix_pattern(word)} for word in words(filters["q"])[:5]] or [NOTHING]
        if filters.get("updated_since"):
            query["updated_at"] = {"$gt": filters["updated_since"]}
        return query

    def list(self, filters, sort, page_request):
        return find_page(self.collection, self.build_query(filters), sort, page_request, _projection())
