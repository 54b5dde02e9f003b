"""Logins: one document per login ties its access and refresh tokens together for revocation."""
from datetime import timedelta

from pymongo import ReturnDocument

from .base import utcnow


class SessionRepository:
    """A session is `{_id: sid, user_id, refresh_jti, revoked, expires_at}`.

    Revoking a session revokes every token issued for that login; documents expire
    (TTL index) once the refresh token would have expired anyway.
    """

    def __init__(self, db):
        self.collection = db.sessions

    def open(self, sid, user_id, refresh_jti, lifetime):
        now = utcnow()
        self.collection.insert_one({
            "_id": sid,
            "user_id": user_id,
            "refresh_jti": refresh_jti,
            "revoked": False,
            "created_at": now,
            "expires_at": now + lifetime + timedelta(minutes=1),
        })

    def is_live(self, sid):
        # By _id alone and checked here: one index lookup on any server (some planners scan
        # the collection for `_id` plus another condition).
        session = self.collection.find_one({"_id": sid}, {"revoked": 1})
        return session is not None and not session.get("revoked")

    def rotate(self, sid, spent_jti, new_jti):
        """Swap the refresh token atomically; False when `spent_jti` is not the live one."""
        updated = self.collection.find_one_and_update(
            {"_id": sid, "revoked": False, "refresh_jti": spent_jti},
            {"$set": {"refresh_jti": new_jti, "rotated_at": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        return updated is not None

    def revoke(self, sid, reason):
        self.collection.update_one({"_id": sid}, {"$set": {"revoked": True, "revoked_reason": reason}})

    def revoke_user(self, user_id, reason, keep_sid=None):
        query = {"user_id": user_id, "revoked": False}
        if keep_sid:
            query["_id"] = {"$ne": keep_sid}
        self.collection.update_many(query, {"$set": {"revoked": True, "revoked_reason": reason}})
