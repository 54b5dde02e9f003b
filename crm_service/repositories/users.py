"""Users: staff accounts and the logins of customer users."""
from pymongo import ReturnDocument

from .base import find_page, to_object_id, utcnow

PUBLIC_PROJECTION = {"password_hash": 0}


class UserRepository:
    def __init__(self, db):
        self.collection = db.users

    def create(self, fields):
        now = utcnow()
        document = {
            **fields,
            "username_key": fields["username"].lower(),
            "is_active": fields.get("is_active", True),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        result = self.collection.insert_one(document)
        document["_id"] = result.inserted_id
        document.pop("password_hash", None)
        return document

    def get(self, user_id):
        oid = to_object_id(user_id)
        return self.collection.find_one({"_id": oid}, PUBLIC_PROJECTION) if oid else None

    def get_staff(self, user_id):
        oid = to_object_id(user_id)
        if oid is None:
            return None
        return self.collection.find_one({"_id": oid, "role": {"$in": ["admin", "sales"]}}, PUBLIC_PROJECTION)

    def is_active_staff(self, user_id):
        oid = to_object_id(user_id)
        if oid is None:
            return False
        query = {"_id": oid, "role": {"$in": ["admin", "sales"]}, "is_active": True}
        return self.collection.count_documents(query, limit=1) == 1

    def find_for_login(self, identifier):
        """The user whose username or email is `identifier`, with its hash, or None."""
        key = identifier.strip().lower()
        field = "email" if "@" in key else "username_key"
        return self.collection.find_one({field: key})

    def password_hash(self, user_id):
        document = self.collection.find_one({"_id": to_object_id(user_id)}, {"password_hash": 1})
        return document["password_hash"] if document else None

    def update(self, user_id, changes, expected_version=None):
        oid = to_object_id(user_id)
        if oid is None:
            return None
        query = {"_id": oid}
        if expected_version is not None:
            query["version"] = expected_version
        changes = dict(changes)
        if "username" in changes:
            changes["username_key"] = changes["username"].lower()
        changes["updated_at"] = utcnow()
        return self.collection.find_one_and_update(
            query,
            {"$set": changes, "$inc": {"version": 1}},
            projection=PUBLIC_PROJECTION,
            return_document=ReturnDocument.AFTER,
        )

    def delete(self, user_id):
        oid = to_object_id(user_id)
        return oid is not None and self.collection.delete_one({"_id": oid}).deleted_count == 1

    def list_staff(self, filters, sort, page_request):
        query = {"role": {"$in": ["admin", "sales"]}}
        if filters.get("role"):
            query["role"] = filters["role"]
        if filters.get("is_active") is not None:
            query["is_active"] = filters["is_active"]
        if filters.get("updated_since"):
            query["updated_at"] = {"$gt": filters["updated_since"]}
        return find_page(self.collection, query, sort, page_request, PUBLIC_PROJECTION)

    def admin_exists(self):
        return self.collection.count_documents({"role": "admin"}, limit=1) > 0
