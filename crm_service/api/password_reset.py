"""Password reset by e-mail (SPEC §4)."""
from flask import Blueprint

bp = Blueprint("password_reset", __name__, url_prefix="/api/v1/auth/password-reset")
