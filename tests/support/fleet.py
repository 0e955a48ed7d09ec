"""devfleet commands for tests: a failure fails the test with the command's output, not a traceback."""

from __future__ import annotations

import subprocess

import pytest

from devfleet import client


def run_fleet(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    try:
        return client.run_fleet(*args, timeout=timeout)
    except client.FleetCommandError as exc:
        pytest.fail(str(exc), pytrace=False)
