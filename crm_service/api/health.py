"""Liveness and readiness probes for the orchestrator."""
from flask import Blueprint, jsonify
from marshmallow import Schema, fields
from pymongo.errors import PyMongoError

from crm_service.db import get_db
from crm_service.errors import error_response

from .docs import operation

bp = Blueprint("health", __name__)


class HealthSchema(Schema):
    status = fields.String(metadata={"example": "ok"})


@bp.get("/health/live")
@operation("The process is up", tags=["health"], response=HealthSchema, public=True)
def live():
    return jsonify({"status": "ok"})


@bp.get("/health/ready")
@operation("The database answers (503 when it does not)", tags=["health"], response=HealthSchema, public=True)
def ready():
    try:
        get_db().command("ping")
    except PyMongoError:
        return error_response(503, "The database cannot be reached")
    return jsonify({"status": "ok"})
