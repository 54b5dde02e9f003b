"""Sales: the amount (quantity × unit_price) is computed exactly and stored with the sale in one write."""
from pymongo import ReturnDocument

from crm_service.schemas.money import to_decimal, to_stored

from .base import find_page, time_window, to_object_id, utcnow


def sale_amount(quantity, unit_price):
    """quantity × unit_price as Decimal128: exact, since unit_price has at most two decimal places."""
    return to_stored(to_decimal(unit_price) * quantity)


class SaleRepository:
    def __init__(self, db):
        self.collection = db.sales

    def create(self, fields):
        now = utcnow()
        document = {
            **fields,
            "amount": sale_amount(fields["quantity"], fields["unit_price"]),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        document["_id"] = self.collection.insert_one(document).inserted_id
        return document

    def get(self, sale_id):
        oid = to_object_id(sale_id)
        return self.collection.find_one({"_id": oid}) if oid else None

    def update(self, current, changes):
        """Apply `changes` and the recomputed amount in one write, if the sale is still at `current`'s version."""
        merged = {**current, **changes}
        values = {**changes, "amount": sale_amount(merged["quantity"], merged["unit_price"]), "updated_at": utcnow()}
        return self.collection.find_one_and_update(
            {"_id": current["_id"], "version": current["version"]},
            {"$set": values, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )

    def delete(self, current):
        """Delete if still at `current`'s version; False when it moved on (or is gone)."""
        return self.collection.delete_one({"_id": current["_id"], "version": current["version"]}).deleted_count == 1

    def build_query(self, filters):
        query = {}
        for name in ("customer_id", "product_id", "employee_id"):
            if filters.get(name):
                query[name] = to_object_id(filters[name])
        time_window(filters, query, "sale_date")
        if filters.get("updated_since"):
            query["updated_at"] = {"$gt": filters["updated_since"]}
        return query

    def list(self, filters, sort, page_request):
        return find_page(self.collection, self.build_query(filters), sort, page_request)


def erase_customer(db, customer_oid):
    """Privacy erasure: sales keep their amounts for reports but no longer point at the person."""
    if customer_oid is None:
        return 0
    result = db.sales.update_many(
        {"customer_id": customer_oid},
        {"$set": {"customer_id": None, "updated_at": utcnow()}, "$inc": {"version": 1}},
    )
    return result.modified_count
