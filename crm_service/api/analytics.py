"""Analytics: RFM segmentation and the sales forecast (SPEC §6)."""
from flask import Blueprint

bp = Blueprint("analytics", __name__, url_prefix="/api/v1/analytics")
