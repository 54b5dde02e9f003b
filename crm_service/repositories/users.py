"""Users: staff accounts and the logins of customer users."""
from pymongo import ReturnDocument

from .base import find_page, to_object_id, utcnow

STAFF_ROLES = ["admin", "sales"]


def _public():
    """A fresh projection each time: drivers and mongomock may add `_id` to the dict they are given."""
    return {"password_hash": 0}


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
        return self.collection.find_one({"_id": oid}, _public()) if oid else None

    def get_staff(self, user_id):
        oid = to_object_id(user_id)
        if oid is None:
            return None
        return self.collection.find_one({"_id": oid, "role": {"$in": STAFF_ROLES}}, _public())

    def is_active_staff(self, user_id):
        oid = to_object_id(user_id)
        if oid is None:
            return False
        query = {"_id": oid, "role": {"$in": STAFF_ROLES}, "is_active": True}
        return self.collection.count_documents(query, limit=1) == 1

    def find_for_login(self, identifier):
        """The user whose username or email is `identifier`, with its hash, or None."""
        key = identifier.strip().lower()
        field = "email" if "@" in key else "username_key"
        return self.collection.find_one({field: key})

    def password_hash(self, user_id):
        oid = to_object_id(user_id)
        document = self.collection.find_one({"_id": oid}, {"password_hash": 1}) if oid else None
        return document.get("password_hash") if document else None

    def taken_fields(self, username=None, email=None, exclude_id=None):
        """Which of these unique values another user holds; read after a DuplicateKeyError to name them."""
        checks = (("username", "username_key", username), ("email", "email", email))
        taken = []
        for name, key, value in checks:
            if not value:
                continue
            query = {key: value.strip().lower()}
            if exclude_id is not None:
                query["_id"] = {"$ne": to_object_id(exclude_id)}
            if self.collection.count_documents(query, limit=1):
                taken.append(name)
        return taken

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
            projection=_public(),
            return_document=ReturnDocument.AFTER,
        )

    def delete(self, user_id):
        oid = to_object_id(user_id)
        return oid is not None and self.collection.delete_one({"_id": oid}).deleted_count == 1

    def list_staff(self, filters, sort, page_request):
        query = {"role": {"$in": STAFF_ROLES}}
        if filters.get("role"):
            query["role"] = filters["role"]
        if filters.get("is_active") is not None:
            query["is_active"] = filters["is_active"]
        if filters.get("updated_since"):
            query["updated_at"] = {"$gt": filters["updated_since"]}
        return find_page(self.collection, query, sort, page_request, _public())

    def admin_exists(self):
        return self.collection.count_documents({"role": "admin"}, limit=1) > 0
