"""Site mirrors on the local fleet (issue 17): a non-primary datasink that nodes name as their
``model_registry_host`` is brought up to date from the primary first, then serves its nodes; the
primary sends one copy per mirror, and drift shows the mirror."""

from __future__ import annotations

import json

import pytest

from devfleet.site import Site

pytestmark = pytest.mark.fleet

MIRRORED = ["alpha5", "sentinel2"]  # pull from data2 (the site mirror)
DIRECT = ["sentinel1", "east"]  # pull from data1 (the primary)
STORE = "/home/ops/sentinel/models"
OPENFACE = ("openface_torch", "2020-03-25")  # a sentinel model (registry's current version)


@pytest.fixture(scope="module")
def site(fresh_fleet, tmp_path_factory):
    s = Site(fresh_fleet, tmp_path_factory.mktemp("mirrors"))
    for host in MIRRORED:
        s.set_data(host, model_registry_host="data2")
    s.setup()
    s.first = s.deploy()
    return s


def mirror_store(site):
    """data2's store path (the mirror's copies), from the inventory's settings."""
    from sentinelcam_models.fleet.inventory import load_checked  # noqa: PLC0415

    checked, _ = load_checked(str(site.inventory))
    return checked.settings["data2"].path("sentinelcam_model_registry")


def test_mirror_is_filled_from_the_primary_before_its_nodes_pull_from_it(site):
    assert site.first.returncode == 0, site.first.output[-4000:]
    output = site.first.output
    # the mirror's pull comes first, then the mirrored nodes pull from data2, the others from data1
    fill, pulls = output.index("Fill mirror stores"), output.index("Install models")
    assert fill < pulls
    received = {  # host -> the address its pull received bytes from
        line.split("]")[0].strip(" ["): line.rsplit(" ", 1)[1]
        for line in output[pulls:].split("-->")[0].splitlines()
        if "sentinelcam: received" in line
    }
    assert received["sentinel2"] == site.fleet.node("data2")["address"], received
    assert received["sentinel1"] == site.fleet.node("data1")["address"], received
    assert "[data2]" in output[fill:pulls]
    store = mirror_store(site)
    model, version = OPENFACE
    site.fleet.ssh("data2", f"cd {store}/{model}/{version} && sha256sum -c --quiet MANIFEST.sha256")
    for host in MIRRORED + DIRECT:
        if host.startswith("sentinel"):
            assert site.job(host, "FaceRecon")["ok"]
        else:
            site.wait_active(host, "imagenode")


def test_the_mirror_holds_only_what_its_nodes_need(site):
    store = mirror_store(site)
    held = set(
        site.fleet.ssh("data2", f"cd {store} && ls -d */*/").stdout.replace("/\n", "\n").split()
    )
    assert f"{OPENFACE[0]}/{OPENFACE[1]}" in held  # sentinel2 runs it
    assert not any(item.startswith("mobilenet_ssd_depthai/") for item in held)  # only east runs it


def test_the_mirrored_nodes_connect_to_the_mirror_only(site):
    """Node-to-datasink trust follows the pull source: sentinel2's key opens data2's store and
    is not in data1's authorized_keys; sentinel1's the other way round."""
    data1_keys = site.as_root("data1", "cat /home/ops/.ssh/authorized_keys").stdout
    data2_keys = site.as_root("data2", "cat /home/ops/.ssh/authorized_keys").stdout
    for host in MIRRORED:
        key = site.as_root(host, "cat /home/ops/.ssh/id_ed25519.pub").stdout.split()[1]
        assert key in data2_keys and key not in data1_keys
    for host in DIRECT:
        key = site.as_root(host, "cat /home/ops/.ssh/id_ed25519.pub").stdout.split()[1]
        assert key in data1_keys


def test_drift_shows_the_mirror_and_a_second_run_changes_nothing(site):
    run = site.cli("drift", "--json")
    assert run.returncode == 0, run.output
    report = json.loads(run.stdout)
    data2 = next(h for h in report["hosts"] if h["host"] == "data2")
    mirror_rows = [m for m in data2["models"] if m["role"] == "mirror"]
    assert mirror_rows and {m["status"] for m in mirror_rows} == {"ok"}
    again = site.deploy()
    assert again.returncode == 0 and again.changed_ops() == [], again.output[-3000:]


def test_a_new_version_goes_to_the_mirror_once_and_on_to_its_nodes(site):
    model = "openface_torch"
    site.publish(model, "2026-06-01")
    site.set_current(model, "2026-06-01", OPENFACE[1])
    run = site.deploy("-vvv")
    assert run.returncode == 0, run.output[-4000:]
    for host in ("sentinel1", "sentinel2"):
        assert "2026-06-01" in site.versions(host, model)
        files = site.job(host, "FaceRecon")["files"]
        assert any(f"/{model}/2026-06-01/" in f for f in files)
    site.fleet.ssh(
        "data2",
        f"cd {mirror_store(site)}/{model}/2026-06-01 && sha256sum -c --quiet MANIFEST.sha256",
    )
