"""Delta sync: tombstones of deleted records (SPEC §3)."""
from flask import Blueprint

bp = Blueprint("sync", __name__, url_prefix="/api/v1/sync")
