"""A bad model never reaches a running service (issue 25), on the local fleet.

Publishing goes through the CLI to the primary datasink (upload, then the store agent's checks
under the store lock): a truncated caffemodel, a CPU .tflite in an _edgetpu slot, a text file as
facemodel.pickle and an HTML page as baselines.hdf5 are each refused in one line, and data1's
store never holds them. A face model that passes the checks but is a pickle of the wrong class
is published, deployed, loaded by the shipped probe (``probe: builtin``) with Debian's
scikit-learn on every sentinel, and reverted there by the health gate; drift names the probe.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pytest

from devfleet import demo
from devfleet.site import SCALE, Site

pytestmark = pytest.mark.fleet

FR = "face_recognition"
OLD = "2026-02-02"  # the shipped registry's current face_recognition
BAD = "2026-09-09"
STORE = "/home/ops/sentinelcam/model_registry"
HTML = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body></body></html>\n"


@pytest.fixture(scope="module")
def site(fresh_fleet, tmp_path_factory):
    s = Site(fresh_fleet, tmp_path_factory.mktemp("checks"))
    s.setup()
    first = s.deploy()
    assert first.returncode == 0, first.output[-3000:]
    return s


def source(site: Site, model: str, version: str, **replace: bytes):
    """A version directory of real files for ``model``, some replaced."""
    registry = demo.load_registry(site.registry)
    directory = Path(tempfile.mkdtemp(prefix=f"src-{model}-{version}-", dir=site.root))
    for name, size in demo.demo_files(registry, model).items():
        data = replace.get(name) or demo.model_bytes(model, version, name, int(size * SCALE))
        (directory / name).write_bytes(data)
    return directory


def in_store(site: Site, model: str, version: str) -> bool:
    out = site.fleet.ssh("data1", f"ls -A {STORE}/{model}").stdout.split()
    return version in out


def test_bad_files_are_refused_at_publish_one_line_each(site):
    caffemodel = demo.model_bytes("mobilenet_ssd", "x", "MobileNetSSD_deploy.caffemodel", 40_000)
    cases = [
        (
            "mobilenet_ssd",
            {"MobileNetSSD_deploy.caffemodel": caffemodel[:25_000]},
            "MobileNetSSD_deploy.caffemodel: not a valid Caffe model (protobuf NetParameter): ",
        ),
        (
            "mobilenet_ssd_edgetpu",
            {
                "ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite": demo.model_bytes(
                    "x", "x", "cpu_model.tflite", 20_000
                )
            },
            "ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite: not a valid EdgeTPU TFLite "
            "model: no edgetpu-custom-op: a CPU model",
        ),
        (
            FR,
            {"facemodel.pickle": b"svm = SVC(probability=True)\nlabels = ['alice', 'bob']\n"},
            "facemodel.pickle: not a valid face model pickle: ",
        ),
        (FR, {"baselines.hdf5": HTML}, "baselines.hdf5: not a valid HDF5 file: no HDF5 signature"),
    ]
    for model, replace, fault in cases:
        directory = source(site, model, "2026-08-08", **replace)
        run = site.cli("publish", model, str(directory), "--version", "2026-08-08", "--yes")
        assert run.returncode == 2, run.output
        lines = run.output.strip().splitlines()
        assert len(lines) == 1, lines
        assert f"{model}/2026-08-08: {fault}" in lines[0], lines[0]
        assert not in_store(site, model, "2026-08-08")
    # nothing was left behind on the datasink: no upload directory, no version
    left = site.fleet.ssh("data1", f"ls -A {STORE}").stdout.split()
    assert not [name for name in left if name.startswith(".upload-")], left
    assert site.cli("verify", "--deep").returncode == 0


def test_a_face_model_of_the_wrong_class_is_reverted_on_every_sentinel(site):
    sentinels = site.fleet.names("sentinels")
    wrong = demo.model_bytes(FR, BAD, "facemodel.pickle", 1000, broken=True)
    run = site.cli(
        "publish",
        FR,
        str(source(site, FR, BAD, **{"facemodel.pickle": wrong})),
        "--version",
        BAD,
        "--yes",
    )
    assert run.returncode == 0, run.output  # the checks pass: a well-formed sklearn pickle
    site.set_current(FR, BAD, OLD)
    started = time.monotonic()
    deploy = site.deploy()
    elapsed = time.monotonic() - started
    assert deploy.returncode != 0, deploy.output[-3000:]
    assert f"probe {FR} {BAD} failed" in deploy.output
    report = json.loads(site.cli("drift", "--json").stdout)
    gates = {h["host"]: h["gate"] for h in report["hosts"] if h["host"] in sentinels}
    for host in sentinels:
        gate = gates[host]
        assert gate["status"] == "reverted", gate
        assert f"probe {FR} {BAD} failed" in gate["detail"]
        assert "does not load as the face model" in gate["detail"]
        assert f"{FR}/{OLD}/facemodel.pickle" in " ".join(site.job(host, "FaceRecon")["files"])
        assert site.job(host, "FaceRecon")["ok"]
    seconds = {
        h: json.loads(site.fleet.ssh(h, "cat /home/ops/.sentinelcam/health.json").stdout)["seconds"]
        for h in sentinels
    }
    print(f"\nbad face model: deploy {elapsed:.1f} s; gate (probe, revert) per sentinel: {seconds}")
    # Back to the good version; the gate's probes pass and the sentinels' jobs load it.
    site.set_current(FR, OLD, "2025-02-25")
    again = site.deploy()
    assert again.returncode == 0, again.output[-3000:]
    good = demo.model_bytes(FR, "2026-10-10", "facemodel.pickle", 1000)
    run = site.cli(
        "publish",
        FR,
        str(source(site, FR, "2026-10-10", **{"facemodel.pickle": good})),
        "--version",
        "2026-10-10",
        "--yes",
    )
    assert run.returncode == 0, run.output
    site.set_current(FR, "2026-10-10", OLD)
    started = time.monotonic()
    ok = site.deploy()
    assert ok.returncode == 0, ok.output[-3000:]
    records = {
        h: json.loads(site.fleet.ssh(h, "cat /home/ops/.sentinelcam/health.json").stdout)
        for h in sentinels
    }
    for host, record in records.items():
        assert record["status"] == "passed" and "1 probe(s)" in record["detail"], record
        assert "note:" not in record["detail"]  # loaded with the node's scikit-learn and h5py
        assert site.job(host, "FaceRecon")["ok"]
    print(
        f"good face model: deploy {time.monotonic() - started:.1f} s; gate per sentinel: "
        f"{ {h: r['seconds'] for h, r in records.items()} }"
    )


def test_a_switch_with_nothing_to_judge_records_its_pass_with_the_task_files(site):
    # haarcascades without a probe: the sentinels' task files restart nothing and nothing is
    # probed, so the gate can only pass. Its record comes with the task files' own command, not a
    # Health gate operation (issue 22.8), and is the record drift and the rollout waves read.
    sentinels = site.fleet.names("sentinels")
    site.set_model_keys("haarcascades", probe=None)
    site.publish("haarcascades", "2026-10-11")
    site.set_current("haarcascades", "2026-10-11", "2020-03-25")
    run = site.deploy()
    assert run.returncode == 0, run.output[-3000:]
    changed = run.changed_ops()
    assert any(op.startswith("Config /home/ops/sentinel/tasks/") for op in changed), changed
    assert "Health gate" not in run.results(), run.results()
    report = json.loads(site.cli("drift", "--json").stdout)
    gates = {h["host"]: h["gate"] for h in report["hosts"] if h["host"] in sentinels}
    for host in sentinels:
        assert gates[host]["status"] == "passed", gates[host]
        record = site.fleet.ssh(
            host,
            "stat -c '%U %a' /home/ops/.sentinelcam/health.json; cat /home/ops/.sentinelcam/health.json",
        ).stdout.splitlines()
        assert record[0] == "ops 644", record
        written = json.loads(record[1])
        assert written["versions"] == {"haarcascades": "2026-10-11"}, written
        assert written["detail"] == "no restarted service; 0 probe(s); host check: no"
        assert "2026-10-11/haarcascade" in " ".join(site.job(host, "FaceRecon")["files"])
