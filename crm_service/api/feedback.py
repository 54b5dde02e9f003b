"""Feedback."""
from flask import Blueprint

bp = Blueprint("feedback", __name__, url_prefix="/api/v1/feedback")
