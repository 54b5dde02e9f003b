"""A real browser opens /apidocs on a running server and the page lists the operations."""
import shutil
import subprocess
import tempfile
import threading

import mongomock
import pytest
from werkzeug.serving import make_server

from crm_service import create_app
from crm_service.config import TestConfig

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture
def live_server():
    app = create_app(TestConfig(), mongo_client=mongomock.MongoClient(tz_aware=True))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    operations = sum(len(item) for item in app.test_client().get("/openapi.json").get_json()["paths"].values())
    yield f"http://127.0.0.1:{server.server_port}", operations
    server.shutdown()
    thread.join(timeout=5)


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian package `chromium`); .ci/run installs it")
def test_swagger_ui_in_chromium_shows_the_operations(live_server):
    base_url, operations = live_server
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=15000",
             "--dump-dom", f"{base_url}/apidocs/"],
            capture_output=True, text=True, timeout=120,
        )
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    # Swagger UI renders one `opblock` per operation once it has fetched /openapi.json.
    assert dom.count('class="opblock ') == operations, dom[:2000]
    for path in ("/api/v1/customers", "/api/v1/auth/login", "/api/v1/interactions", "/health/ready"):
        assert f'data-path="{path}"' in dom, path
    assert "CRM service API" in dom
