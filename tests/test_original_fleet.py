"""The README's "On your fleet" checklist, in order, on the fleet the original left (issue 21):
``devfleet up --as-original`` (plain node keys on the datasinks, sentinel2's sentinel.yaml saying
coral where the inventory says cpu, outpost7's imagenode.yaml in the DepthAI v2 shape, every
datapump.yaml reading the curated facelist_gamma4.csv, a store and node copies without manifests).

Each step's output is checked. After the trust step no node key opens a shell on a datasink; the
first deploy refuses exactly sentinel2, outpost7 and data2 with their one line (their models still
install) and changes nothing else anybody did not ask for; drift names exactly those hosts; a second
deploy changes nothing; setting faces_data_file as data2's line says makes data2 deploy.
The whole checklist's time is printed (``-s``) with the ``--dry`` plan of a sentinel and an outpost.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from devfleet import fleet as fleet_mod
from devfleet import provision
from devfleet.client import Fleet
from devfleet.site import Site
from tests.support.fleet import run_fleet

pytestmark = pytest.mark.fleet

AK = "/home/ops/.ssh/authorized_keys"
GAMMA4 = provision.gamma4_path()
REFUSED = {"sentinel2", "outpost7", "data2"}
FR, V1 = "face_recognition", "2026-02-02"
SM = "/home/ops/sentinel/models"
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the fleet tests need root (systemd-nspawn)", pytrace=False)
    n = int(os.environ.get("SENTINELCAM_TEST_NODES", "6"))
    was_up = fleet_mod.is_up(n)
    run_fleet("up", "--nodes", "7", "--as-original")
    fleet = Fleet()
    s = Site(fleet, tmp_path_factory.mktemp("original"))
    s.before = {name: fleet.ssh(name, f"cat {AK}").stdout for name in fleet.names("datasinks")}
    try:
        yield s
    finally:
        # Leave the session's fleet as the other modules expect it.
        run_fleet("up", "--nodes", str(n)) if was_up else run_fleet("down")


def timed(step: str, run):
    start = time.perf_counter()
    result = run()
    TIMES[step] = time.perf_counter() - start
    return result


def refusal_lines(output: str) -> dict[str, str]:
    """host -> its refusal line, from pyinfra's output (``[host] sentinelcam: refused: ...``)."""
    found = {}
    for match in re.finditer(r"\[(\w+)\]\s+sentinelcam: refused: (.+)", output):
        found.setdefault(match.group(1), match.group(2).strip())
    return found


def test_1_inventory_validates(site):
    run = timed("validate", lambda: site.cli("validate"))
    assert run.returncode == 0, run.output


def test_2_sudoers(site):
    run = timed("sudoers", lambda: site.pyinfra("deploys/sudoers.py", "--data", "ssh_user=root"))
    assert run.returncode == 0, run.output[-3000:]


def test_3_trust_replaces_the_original_s_plain_lines_and_reports_each(site):
    # Before: a node's key opens a shell on both datasinks (the original's plain lines).
    assert site.fleet.ssh("sentinel2", "ssh -o BatchMode=yes data1 id -un").stdout.strip() == "ops"
    dry = timed("trust --dry", lambda: site.pyinfra("deploys/trust.py", dry=True))
    assert dry.returncode == 0 and "sentinelcam: revoked" in dry.output, dry.output[-3000:]
    for datasink in site.fleet.names("datasinks"):
        assert site.fleet.ssh(datasink, f"cat {AK}").stdout == site.before[datasink]
    run = timed("trust", lambda: site.pyinfra("deploys/trust.py"))
    assert run.returncode == 0, run.output[-3000:]
    nodes = set(site.fleet.names())
    for datasink in site.fleet.names("datasinks"):
        reported = set(
            re.findall(
                rf"\[{datasink}\]\s+sentinelcam: revoked {AK} line \d+ \(key of (\w+)\)", run.output
            )
        )
        assert reported == nodes - {datasink}, run.output[-4000:]
        backups = site.fleet.ssh(datasink, f"ls {AK}.sentinelcam-before-*").stdout.split()
        assert len(backups) == 1
        assert site.fleet.ssh(datasink, f"cat {backups[0]}").stdout == site.before[datasink]
        after = site.fleet.ssh(datasink, f"cat {AK}").stdout
        operator = site.before[datasink].splitlines(keepends=True)[0]
        assert after.startswith(operator)  # the operator's line, byte for byte
    # After: no node key opens a shell on a datasink, on the one it pulls from or another one.
    for node in ("sentinel1", "sentinel2", "east", "outpost7"):
        for datasink in ("data1", "data2"):
            shell = site.fleet.ssh(node, f"ssh -o BatchMode=yes {datasink} id", check=False)
            assert shell.returncode != 0 and "uid=" not in shell.stdout, (node, datasink)
    again = site.pyinfra("deploys/trust.py")
    assert again.returncode == 0 and "revoked" not in again.output, again.output[-3000:]


def test_4_the_original_store_is_adopted(site):
    dry = timed("adopt --dry-run", lambda: site.cli("adopt", "--dry-run"))
    assert dry.returncode == 0 and f"{FR}/{V1}" in dry.output, dry.output
    run = timed("adopt", lambda: site.cli("adopt"))
    assert run.returncode == 0, run.output
    verify = timed("verify", lambda: site.cli("verify", FR))
    assert verify.returncode == 0, verify.output


def test_5_retention_timer(site):
    run = timed("retention", lambda: site.pyinfra("deploys/retention.py"))
    assert run.returncode == 0, run.output[-3000:]


def test_6_dry_run_shows_the_plan_and_changes_nothing(site):
    tasks = site.fleet.ssh("sentinel1", "ls /home/ops/sentinel/tasks").stdout
    run = timed("deploy --dry", lambda: site.pyinfra("deploys/models.py", dry=True))
    assert run.returncode == 0, run.output[-4000:]
    plan = {}
    for host, line in re.findall(r"\[(\w+)\]\s+plan: (.*)", run.output):
        plan.setdefault(host, []).append(line)
    assert set(plan) == set(site.fleet.names()), run.output[-4000:]
    s1 = plan["sentinel1"]
    assert any(line.startswith(f"{FR} {V1}: adopt in place") for line in s1), s1
    assert "create /home/ops/sentinel/tasks/GetFaces.yaml:" in s1
    assert "    +++ /home/ops/sentinel/tasks/GetFaces.yaml" in s1
    alpha5 = plan["alpha5"]
    # The imagenode role rendered the registry's current versions: adopted, nothing to patch.
    assert any(
        line.startswith("mobilenet_ssd_edgetpu 2025-12-19: adopt in place") for line in alpha5
    )
    assert not any(line.startswith(("patch ", "restart ")) for line in alpha5), alpha5
    for host in REFUSED:
        assert any(line.startswith("configs refused: ") for line in plan[host]), plan[host]
    assert site.fleet.ssh("sentinel1", "ls /home/ops/sentinel/tasks").stdout == tasks
    print("\n--dry, sentinel1:\n  " + "\n  ".join(s1))
    print("\n--dry, alpha5:\n  " + "\n  ".join(alpha5))
    print("\n--dry, outpost7:\n  " + "\n  ".join(plan["outpost7"]))


def test_7_first_deploy_refuses_exactly_the_three_hosts_and_installs_their_models(site):
    datapump = site.fleet.ssh("data2", "cat /home/ops/datapump.yaml").stdout
    starts = site.starts("data2", "datapump")
    imagenode = site.fleet.ssh("outpost7", "cat /home/ops/imagenode.yaml").stdout
    run = timed("deploy", lambda: site.deploy())
    assert run.returncode != 0  # the refused hosts fail
    lines = refusal_lines(run.output)
    assert set(lines) == REFUSED, run.output[-5000:]
    assert (
        "sentinel_accelerator_type is cpu" in lines["sentinel2"] and "coral" in lines["sentinel2"]
    )
    assert "camera O1" in lines["outpost7"] and "nn_archive" in lines["outpost7"]
    assert GAMMA4 in lines["data2"] and "faces_data_file" in lines["data2"]
    # Nothing changed that nobody asked for: the datapump's locked-event list, the v2 camera.
    assert site.fleet.ssh("data2", "cat /home/ops/datapump.yaml").stdout == datapump
    assert site.starts("data2", "datapump") == starts
    assert site.fleet.ssh("outpost7", "cat /home/ops/imagenode.yaml").stdout == imagenode
    # Their models still install; the sentinels' curated face list is kept.
    assert "2026-06-07" in site.versions(
        "outpost7", "mobilenet_ssd_depthai", "/home/ops/imagenode/models"
    )
    site.fleet.ssh(
        "outpost7",
        "test -f /home/ops/imagenode/models/mobilenet_ssd_depthai/2026-06-07/MANIFEST.sha256",
    )
    for sentinel in ("sentinel1", "sentinel2"):
        curated = f"grep -c curated-by-the-original {SM}/{FR}/{V1}/facelist.csv"
        assert site.fleet.ssh(sentinel, curated).stdout.strip() == "1"


def test_8_drift_names_exactly_the_refused_hosts_with_their_line(site):
    run = timed("drift", lambda: site.cli("drift", "--json"))
    assert run.returncode == 1, run.output
    report = json.loads(run.stdout)
    bad = {
        h["host"]: {m["detail"] for m in h["models"] if m["status"] != "ok"}
        for h in report["hosts"]
        if any(m["status"] != "ok" for m in h["models"])
    }
    assert set(bad) == REFUSED, bad
    for host, details in bad.items():
        assert len(details) == 1 and next(iter(details)).startswith("refused: "), (host, details)
    # the engines' accelerators sentinel.yaml gives (§3.1: Alpha the role's, Bravo1/2 cpu)
    engines = {h["host"]: h["accelerators"] for h in report["hosts"] if h["accelerators"]}
    assert set(engines) == {"sentinel1", "sentinel2"}, engines
    assert engines["sentinel2"]["engines"] == {"Alpha": "coral", "Bravo1": "cpu", "Bravo2": "cpu"}
    assert (engines["sentinel2"]["sentinel_accelerator_type"], engines["sentinel2"]["status"]) == (
        "cpu",
        "drift",
    )
    assert (
        engines["sentinel1"]["engines"]["Alpha"] == "cpu" and engines["sentinel1"]["status"] == "ok"
    )


def test_9_a_second_deploy_changes_nothing(site):
    run = timed("second deploy", lambda: site.deploy())
    assert set(refusal_lines(run.output)) == REFUSED
    assert run.changed_ops() == [], run.output[-4000:]


def test_10_keeping_the_curated_list_as_data2_s_line_says_deploys_data2(site):
    site.set_data("data2", faces_data_file=GAMMA4)
    run = site.deploy("--limit", "data2")
    assert run.returncode == 0, run.output[-4000:]
    drift = site.cli("drift", "--json")
    report = json.loads(drift.stdout)
    rows = [m for h in report["hosts"] if h["host"] == "data2" for m in h["models"]]
    assert {m["status"] for m in rows} == {"ok"}, rows
    assert f"facefile: {GAMMA4}" in site.fleet.ssh("data2", "cat /home/ops/datapump.yaml").stdout
    total = sum(TIMES.values())
    print(
        "\nchecklist on the original's 7-node fleet: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in TIMES.items())
        + f"; total {total:.1f} s"
    )
