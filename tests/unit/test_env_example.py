"""`.env.example` lists every setting config.py reads, so a new user can see them all."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_in_config_is_in_env_example():
    config = (ROOT / "crm_service" / "config.py").read_text()
    names = set(re.findall(r'_(?:env|int|bool)\("([A-Z0-9_]+)"', config))
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert len(names) > 30
    assert sorted(names - listed) == []
