"""The Coral EdgeTPU runtime on the local fleet, with tiny real packages (dpkg and pip really run):
coral nodes only, idempotence, upgrade and downgrade by registry version, a tampered store copy
refused before anything is installed, and `coral fetch` over HTTP."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading

import pytest

from devfleet.site import Site
from tests.support.coral import DEB_PACKAGE, build_set, set_coral_section

pytestmark = pytest.mark.fleet

VENV = "/home/ops/.opencv"  # sentinel_venv_path / imagenode_venv_path: sentinelcam_venv_opencv
RULE = "/etc/udev/rules.d/99-coral-edgetpu.rules"
STORE_CORAL = "/home/ops/sentinelcam/model_registry/coral_packages"


class CoralSite(Site):
    def fetch(self, source: str, *args: str):
        """`coral fetch` from this machine (not the datasink): checked here, installed there."""
        return self.cli("coral", "fetch", "--from", source, *args)

    def use(self, packages) -> None:
        set_coral_section(self.registry, packages)

    def runtime(self, host: str) -> dict:
        out = self.fleet.ssh(
            host,
            (
                f"dpkg-query -W -f='${{db:Status-Abbrev}}${{Version}}' {DEB_PACKAGE} 2>/dev/null; echo; "
                f"if [ -x {VENV}/bin/python ]; then {VENV}/bin/python -c 'import tflite_runtime, pycoral; "
                "print(tflite_runtime.__version__, pycoral.__version__)'; else echo - -; fi"
            ),
        ).stdout.splitlines()
        deb = out[0].split()
        tflite, pycoral = out[1].split()
        return {
            "libedgetpu": deb[1] if deb[:1] == ["ii"] else None,
            "tflite_runtime": None if tflite == "-" else tflite,
            "pycoral": None if pycoral == "-" else pycoral,
        }


def versions_of(packages) -> dict:
    return {
        "libedgetpu": packages.deb.version,
        "tflite_runtime": packages.tflite_runtime.version,
        "pycoral": packages.pycoral.version,
    }


@pytest.fixture(scope="module")
def http_dir(tmp_path_factory):
    """A local HTTP server on 127.0.0.1 serving a directory (the test puts files in it)."""
    root = tmp_path_factory.mktemp("mirror")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def site(fresh_fleet, tmp_path_factory):
    root = tmp_path_factory.mktemp("coral-site")
    s = CoralSite(fresh_fleet, root)
    s.sentinel = fresh_fleet.names("sentinels")[0]
    s.outpost = "alpha5"  # its camera is a Coral one (imagenode.yaml) and it logs in as ops
    s.set_sentinel_accelerator(s.sentinel, "coral")
    s.set_data(s.outpost, imagenode_accelerator_type="coral")
    s.coral_hosts = [s.sentinel, s.outpost]
    s.others = [n for n in fresh_fleet.names() if n not in s.coral_hosts]
    s.v1 = build_set(root / "v1", "16.0tf2.17.1-1", "2.17.1", "2.0.3")
    s.v2 = build_set(root / "v2", "16.0tf2.18.0-1", "2.18.0", "2.0.4")
    s.use(s.v1)
    s.setup()  # sudoers after the accelerators are set: Coral hosts get the helper and its rules
    fetched = s.fetch(str(root / "v1"))
    assert fetched.returncode == 0, fetched.output
    s.starts_before = s.all_starts()
    s.first = s.deploy()
    return s


def test_first_deploy_installs_on_coral_nodes_only(site):
    assert site.first.returncode == 0, site.first.output
    for host in site.coral_hosts:
        assert site.runtime(host) == versions_of(site.v1), host
        rule = site.fleet.ssh(host, f"cat {RULE}").stdout
        assert 'ATTRS{idVendor}=="18d1"' in rule and 'GROUP="ops"' in rule
    site.wait_active(site.sentinel, "sentinel")
    site.wait_active(site.outpost, "imagenode")
    assert (
        site.fleet.ssh(
            site.sentinel, "test -e /usr/local/sbin/sentinelcam-coral-deb", check=False
        ).returncode
        == 0
    )
    assert (
        "mobilenet_ssd_edgetpu"
        in site.fleet.ssh(site.sentinel, "ls /home/ops/sentinel/models").stdout
    )
    for host in site.others:
        assert site.runtime(host) == {
            "libedgetpu": None,
            "tflite_runtime": None,
            "pycoral": None,
        }, host
        assert (
            site.fleet.ssh(
                host,
                f"test -e {RULE} || test -e {VENV} || test -e /home/ops/sentinelcam/coral_packages",
                check=False,
            ).returncode
            == 1
        ), host
    # each Coral service restarted once by the deploy, after its runtime was in place (alpha5's
    # imagenode, failing since boot for want of its models, may also have come up on its own)
    results = site.first.results()
    assert (
        results["Restart sentinel (its config, face list or Coral runtime changed)"]["success"]
        == "1"
    )
    assert (
        results["Restart imagenode (its config, face list or Coral runtime changed)"]["success"]
        == "1"
    )
    after = site.all_starts()
    assert (
        after[(site.sentinel, "sentinel")]
        == site.starts_before.get((site.sentinel, "sentinel"), 0) + 1
    )


def test_second_deploy_changes_nothing(site):
    before = site.all_starts()
    again = site.deploy()
    assert again.returncode == 0, again.output
    assert again.changed_ops() == []
    alone = site.pyinfra("deploys/coral.py")
    assert alone.returncode == 0, alone.output
    assert alone.changed_ops() == []
    assert site.all_starts() == before


def drift(site) -> dict:
    run = site.cli("drift", "--json")
    assert run.returncode in (0, 1), run.output
    doc = json.loads(run.output[run.output.index("{") :])
    return {h["host"]: h.get("coral") for h in doc["hosts"]}


def test_registry_bump_upgrades_and_back_downgrades(site, http_dir):
    mirror, url = http_dir
    for built in site.v2.files:
        shutil.copy(built.path, mirror)
    site.use(site.v2)
    fetched = site.fetch(url)  # over HTTP from 127.0.0.1
    assert fetched.returncode == 0, fetched.output

    report = drift(site)
    assert report[site.sentinel]["status"] == "drift"
    assert report[site.sentinel]["desired"] == versions_of(site.v2)
    assert report[site.sentinel]["installed"][VENV] == versions_of(site.v1)
    assert all(report[h] is None for h in site.others if h in report)

    before = site.all_starts()
    run = site.deploy()
    assert run.returncode == 0, run.output
    for host in site.coral_hosts:
        assert site.runtime(host) == versions_of(site.v2), host
    after = site.all_starts()
    for key, count in after.items():
        expected = before.get(key, 0) + (
            1 if key in ((site.sentinel, "sentinel"), (site.outpost, "imagenode")) else 0
        )
        assert count == expected, key
    assert {h: c["status"] for h, c in drift(site).items() if c} == {
        site.sentinel: "ok",
        site.outpost: "ok",
    }

    site.use(site.v1)  # the files are still in the store
    run = site.deploy()
    assert run.returncode == 0, run.output
    for host in site.coral_hosts:
        assert site.runtime(host) == versions_of(site.v1), host
    again = site.deploy()
    assert again.changed_ops() == [], again.output


def test_tampered_store_copy_refuses_only_the_coral_hosts(site):
    assert site.runtime(site.sentinel) == versions_of(site.v1)
    before = site.all_starts()
    site.use(site.v2)
    site.as_root("data1", f"printf 'tampered' >> {STORE_CORAL}/{site.v2.pycoral.name}")
    try:
        for deploy_file in ("deploys/models.py", "deploys/coral.py"):
            run = site.pyinfra(deploy_file)
            assert run.returncode != 0
            assert (
                f"{STORE_CORAL}/{site.v2.pycoral.name} differs from the registry's sha256"
                in run.output
            ), run.output
            for host in site.coral_hosts:
                assert site.runtime(host) == versions_of(site.v1), host
                assert f"[{host}]" in run.output
            assert site.all_starts() == before
        assert "Install" not in " ".join(op for op in run.changed_ops() if "Coral" in op)
    finally:
        fetched = site.fetch(str(site.v2.deb.path.parent))  # the store's damaged copy is replaced
        assert fetched.returncode == 0, fetched.output
    fixed = site.deploy()
    assert fixed.returncode == 0, fixed.output
    for host in site.coral_hosts:
        assert site.runtime(host) == versions_of(site.v2), host


def test_unset_registry_digests_refuse_coral_hosts_and_no_other(site):
    text = site.registry.read_text()
    site.registry.write_text(text.replace(f"sha256: {site.v2.pycoral.sha256}", "sha256: null"))
    site.publish("haarcascades", "2026-09-09")
    site.set_current("haarcascades", "2026-09-09", "2020-03-25")
    try:
        run = site.deploy()
        assert run.returncode != 0
        assert "coral_packages.pycoral.sha256 unset in the registry" in run.output
        for host in site.others:
            if "sentinels" in site.fleet.node(host)["groups"]:
                assert "haarcascades/2026-09-09/" in site.config(
                    host, "/home/ops/sentinel/tasks/FaceRecon.yaml"
                )
        validate = site.cli("validate")
        assert (
            validate.returncode == 0
            and "warning:" in validate.output
            and site.sentinel in validate.output
        )
    finally:
        site.registry.write_text(text)
        site.set_current("haarcascades", "2020-03-25", None)


def test_fetch_refuses_a_deb_whose_own_version_differs_from_the_registry(site, tmp_path):
    odd = build_set(tmp_path / "odd", "16.0tf2.18.0-1.bookworm", "2.18.0", "2.0.4")
    site.use(odd)
    text = site.registry.read_text()
    site.registry.write_text(
        text.replace('version: "16.0tf2.18.0-1.bookworm"', 'version: "16.0tf2.18.0-1"')
    )
    try:
        run = site.fetch(str(tmp_path / "odd"))
        assert run.returncode == 1
        [line] = [line for line in run.output.splitlines() if line.startswith("error:")]
        assert "its control Version is 16.0tf2.18.0-1.bookworm, the registry" in line
    finally:
        site.use(site.v2)


def test_fetch_over_http_refuses_a_checksum_mismatch(site, http_dir, tmp_path):
    mirror, url = http_dir
    store = tmp_path / "store"
    store.mkdir()
    good = site.cli("coral", "fetch", "--from", url, "--store", str(store))
    assert good.returncode == 0, good.output
    check = subprocess.run(
        ["sha256sum", "-c", "--strict", "MANIFEST.sha256"],
        cwd=store / "coral_packages",
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    snapshot = {p.name: p.read_bytes() for p in (store / "coral_packages").iterdir()}

    (mirror / site.v2.deb.name).write_bytes(b"<html>not a package</html>")
    (store / "coral_packages" / site.v2.deb.name).unlink()  # must be fetched again, and fails
    del snapshot[site.v2.deb.name]
    bad = site.cli("coral", "fetch", "--from", url, "--store", str(store))
    assert bad.returncode == 1
    assert bad.output.strip().count("\n") == 0, bad.output
    assert (
        bad.output.startswith(f"error: {site.v2.deb.name}: sha256 ")
        and "does not match" in bad.output
    )
    assert {p.name: p.read_bytes() for p in (store / "coral_packages").iterdir()} == snapshot

    missing = site.cli("coral", "fetch", "--from", url + "/nothing-here", "--store", str(store))
    assert missing.returncode == 1 and "HTTP 404" in missing.output
    assert {p.name: p.read_bytes() for p in (store / "coral_packages").iterdir()} == snapshot
