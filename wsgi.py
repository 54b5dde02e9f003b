"""The WSGI entry point: gunicorn and `flask --app wsgi` load `app` from here."""
from dotenv import load_dotenv

load_dotenv()

from crm_service import create_app  # noqa: E402  (the environment must be loaded first)

app = create_app()
