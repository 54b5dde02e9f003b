"""Segments."""
from flask import Blueprint

bp = Blueprint("segments", __name__, url_prefix="/api/v1/segments")
