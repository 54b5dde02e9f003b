"""Extensions created unbound here and bound to the app in create_app."""
from flask_jwt_extended import JWTManager

jwt = JWTManager()
