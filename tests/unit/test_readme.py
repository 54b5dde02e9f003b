"""The README walkthrough is the runnable scripts/walkthrough.sh, line for line."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _steps(script):
    return script[script.index("# 1. "):].strip()


def test_readme_walkthrough_matches_the_script():
    readme = (ROOT / "README.md").read_text()
    script = (ROOT / "scripts" / "walkthrough.sh").read_text()
    assert _steps(script) in readme
    pick = script[script.index("pick() {"):script.index("\n\n# 1. ")]
    assert pick in readme


def test_readme_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
