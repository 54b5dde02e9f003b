"""E-mail: send through SMTP, tracking pixel, replies, engagement (SPEC §6)."""
from flask import Blueprint

bp = Blueprint("emails", __name__, url_prefix="/api/v1/emails")
