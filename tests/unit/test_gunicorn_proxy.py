"""docker/gunicorn.conf.py: which peers gunicorn trusts for the forwarded scheme follows TRUSTED_PROXY_COUNT."""
import runpy
from pathlib import Path

import pytest

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "docker" / "gunicorn.conf.py"
ENV = ("FORWARDED_ALLOW_IPS", "TRUSTED_PROXY_COUNT", "GUNICORN_KEEPALIVE")


def settings(monkeypatch, **env):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_without_trusted_proxies_only_the_local_host_is_trusted(monkeypatch):
    assert settings(monkeypatch)["forwarded_allow_ips"] == "127.0.0.1"
    assert settings(monkeypatch, TRUSTED_PROXY_COUNT="0")["forwarded_allow_ips"] == "127.0.0.1"


def test_behind_trusted_proxies_the_peer_is_trusted(monkeypatch):
    assert settings(monkeypatch, TRUSTED_PROXY_COUNT="1")["forwarded_allow_ips"] == "*"


def test_named_gateway_addresses_win(monkeypatch):
    named = settings(monkeypatch, TRUSTED_PROXY_COUNT="2", FORWARDED_ALLOW_IPS="10.0.0.0/8")
    assert named["forwarded_allow_ips"] == "10.0.0.0/8"


@pytest.mark.parametrize("value", ["-1", "some"])
def test_a_bad_proxy_count_stops_start_up(monkeypatch, value):
    with pytest.raises(ValueError, match="TRUSTED_PROXY_COUNT"):
        settings(monkeypatch, TRUSTED_PROXY_COUNT=value)


def test_keepalive_defaults_to_five_seconds_and_can_be_raised(monkeypatch):
    assert settings(monkeypatch)["keepalive"] == 5
    assert settings(monkeypatch, GUNICORN_KEEPALIVE="75")["keepalive"] == 75
