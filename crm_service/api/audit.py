"""The audit log of every write (SPEC §7), admin only."""
from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")
