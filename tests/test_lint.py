"""The linter and the formatter run with the suite: ruff's Pyflakes checks (undefined names, unused
imports and variables), syntax errors and import order, and ruff's formatting, with the settings
of pyproject.toml. `ruff format zoo guides bench tests docs/examples` fixes what the second finds."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINTED = ("zoo", "guides", "bench", "tests", "docs/examples")


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache", *LINTED], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_finds_nothing():
    result = ruff("check")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_the_code_is_formatted():
    result = ruff("format", "--check")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
