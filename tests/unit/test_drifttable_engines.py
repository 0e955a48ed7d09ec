"""drift -o wide shows the accelerator sentinel.yaml gives each task engine of a sentinel."""

from __future__ import annotations

import io

from rich.console import Console

from sentinelcam_models.cli.drifttable import print_drift
from sentinelcam_models.core.drift import HostReport, ModelRow


def _render(reports: list[HostReport]) -> str:
    buffer = io.StringIO()
    print_drift(Console(file=buffer, width=100, highlight=False, soft_wrap=True), reports, "wide")
    return buffer.getvalue()


def test_wide_shows_each_engine_s_accelerator_and_whether_it_agrees():
    sentinel = HostReport(
        "sentinel2",
        True,
        services={"sentinel": "active"},
        models=[ModelRow("face_detection", "sentinel", "2020-03-25", False, ["2020-03-25"])],
        accelerators={
            "sentinel_accelerator_type": "cpu",
            "engines": {"Alpha": "coral", "Bravo1": "cpu"},
            "status": "drift",
            "detail": "/home/ops/sentinel.yaml: task_engines.Alpha.accelerator is coral, ...",
        },
    )
    outpost = HostReport(
        "outpost3",
        True,
        services={"imagenode": "active"},
        models=[ModelRow("mobilenet_ssd", "imagenode", "2020-12-06", False, ["2020-12-06"])],
    )
    lines = _render([sentinel, outpost]).splitlines()
    header = next(line for line in lines if "installed (inactive)" in line)
    assert "engines" in header
    [row] = [line for line in lines if "sentinel2" in line]
    assert "Alpha coral, Bravo1 cpu; type cpu drift" in row
    [other] = [line for line in lines if "outpost3" in line]
    assert other.rstrip(" │").endswith("-")
