"""Sales."""
from flask import Blueprint

bp = Blueprint("sales", __name__, url_prefix="/api/v1/sales")
