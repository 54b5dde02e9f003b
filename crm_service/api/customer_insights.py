"""Customer summary, CSV export and import."""
from flask import Blueprint

bp = Blueprint("customer_insights", __name__, url_prefix="/api/v1/customers")
