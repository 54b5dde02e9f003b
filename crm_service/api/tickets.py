"""Tickets."""
from flask import Blueprint

bp = Blueprint("tickets", __name__, url_prefix="/api/v1/tickets")
