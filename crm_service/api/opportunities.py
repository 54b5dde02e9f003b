"""Opportunities."""
from flask import Blueprint

bp = Blueprint("opportunities", __name__, url_prefix="/api/v1/opportunities")
