"""Reports: the summary figures and the charts (SPEC §6)."""
from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")
