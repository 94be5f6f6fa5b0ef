"""Under CI=true a missing real part fails the test with its reason; elsewhere the test skips with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBE = """
from tests.conftest import missing


def test_needs_a_widget():
    missing("no widget is installed")
"""


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 failed"), ("", "1 skipped")])
def test_missing_parts_fail_only_under_ci(tmp_path: Path, ci: str, outcome: str) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = os.environ | {"CI": ci, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pytest", "-rfs", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)]
    done = subprocess.run([*command, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert outcome in done.stdout, done.stdout
    reason = "no widget is installed"
    expected = f"CI=true and {reason}" if ci else "SKIPPED [1] "
    assert expected in done.stdout and reason in done.stdout, done.stdout
