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

from sentinelcam_models import demo
from tests.support.coral import DEB_PACKAGE, build_set, set_coral_section
from tests.support.site import BIN, REPO, Run, Site

pytestmark = pytest.mark.fleet

VENV = "/home/ops/.virtualenvs/py3cv4"
RULE = "/etc/udev/rules.d/99-coral-edgetpu.rules"
STORE_CORAL = f"{demo.REMOTE_STORE}/coral_packages"


class CoralSite(Site):
    def pyinfra(self, deploy_file: str, *args: str, timeout: float = 600) -> Run:
        proc = subprocess.run([str(BIN / "pyinfra"), "-y", str(self.inventory), deploy_file, *args],
                              cwd=REPO, capture_output=True, text=True, timeout=timeout)
        return Run(proc.returncode, proc.stdout + proc.stderr)

    def fetch(self, source: str) -> Run:
        return self.cli("coral", "fetch", "--from", source, "--store", str(self.store), "-i", str(self.inventory))

    def push_coral(self) -> None:
        """The local store's coral_packages/ to the datasink, overwriting (the manifest changes)."""
        data1 = self.fleet.node("data1")
        subprocess.run(["rsync", "-a", "--checksum", "--rsync-path", f"mkdir -p {STORE_CORAL} && rsync",
                        "-e", demo.ssh_command(self.fleet.data), f"{self.store}/coral_packages/",
                        f"{self.fleet.data['ssh_user']}@{data1['address']}:{STORE_CORAL}/"], check=True)

    def use(self, packages) -> None:
        set_coral_section(self.registry, packages)

    # --- what a node has ---------------------------------------------------------------------
    def runtime(self, host: str) -> dict:
        out = self.fleet.ssh(host, (
            f"dpkg-query -W -f='${{db:Status-Abbrev}}${{Version}}' {DEB_PACKAGE} 2>/dev/null; echo; "
            f"if [ -x {VENV}/bin/python ]; then {VENV}/bin/python -c 'import tflite_runtime, pycoral; "
            "print(tflite_runtime.__version__, pycoral.__version__)'; else echo - -; fi")).stdout.splitlines()
        deb = out[0].split()
        tflite, pycoral = out[1].split()
        return {"libedgetpu": deb[1] if deb[:1] == ["ii"] else None,
                "tflite_runtime": None if tflite == "-" else tflite, "pycoral": None if pycoral == "-" else pycoral}


def versions_of(packages) -> dict:
    return {"libedgetpu": packages.deb.version, "tflite_runtime": packages.tflite_runtime.version,
            "pycoral": packages.pycoral.version}


@pytest.fixture(scope="module")
def http_dir(tmp_path_factory):
    """A local HTTP server on 127.0.0.1 serving a directory (the test puts files in it)."""
    root = tmp_path_factory.mktemp("mirror")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
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
    s.outpost = fresh_fleet.names("outposts")[-1]
    s.set_data(s.sentinel, sentinel_accelerator_type="coral")
    s.set_data(s.outpost, imagenode_accelerator_type="coral")
    s.coral_hosts = [s.sentinel, s.outpost]
    s.others = [n for n in fresh_fleet.names() if n not in s.coral_hosts]
    s.v1 = build_set(root / "v1", "16.0tf2.17.1-1", "2.17.1", "2.0.3")
    s.v2 = build_set(root / "v2", "16.0tf2.18.0-1", "2.18.0", "2.0.4")
    s.use(s.v1)
    fetched = s.fetch(str(root / "v1"))
    assert fetched.returncode == 0, fetched.output
    s.publish_registry_versions()   # every model version the registry names, edgetpu ones included
    s.push_coral()
    s.starts_before = s.all_starts()
    s.first = s.deploy()
    return s


def test_first_deploy_installs_on_coral_nodes_only(site):
    assert site.first.returncode == 0, site.first.output
    for host in site.coral_hosts:
        assert site.runtime(host) == versions_of(site.v1), host
        rule = site.fleet.ssh(host, f"cat {RULE}").stdout
        assert 'ATTRS{idVendor}=="18d1"' in rule and 'GROUP="ops"' in rule
    assert site.is_active(site.sentinel, "sentinel") == "active"
    assert site.is_active(site.outpost, "imagenode") == "active"
    assert "mobilenet_ssd_edgetpu" in site.fleet.ssh(site.sentinel, "ls /home/ops/sentinel/models").stdout
    for host in site.others:
        assert site.runtime(host) == {"libedgetpu": None, "tflite_runtime": None, "pycoral": None}, host
        assert site.fleet.ssh(host, f"test -e {RULE} || test -e {VENV} || test -e /home/ops/sentinelcam/coral_packages",
                              check=False).returncode == 1, host
    # a coral service started once, after its configs and runtime were in place
    after = site.all_starts()
    assert after[(site.sentinel, "sentinel")] == site.starts_before.get((site.sentinel, "sentinel"), 0) + 1
    assert after[(site.outpost, "imagenode")] == site.starts_before.get((site.outpost, "imagenode"), 0) + 1


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
    run = site.cli("drift", "--json", "-i", str(site.inventory))
    assert run.returncode in (0, 1), run.output
    doc = json.loads(run.output[run.output.index("{"):])
    return {h["host"]: h.get("coral") for h in doc["hosts"]}


def test_registry_bump_upgrades_and_back_downgrades(site, http_dir):
    mirror, url = http_dir
    for built in site.v2.files:
        shutil.copy(built.path, mirror)
    site.use(site.v2)
    fetched = site.fetch(url)          # over HTTP from 127.0.0.1
    assert fetched.returncode == 0, fetched.output
    site.push_coral()

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
        expected = before.get(key, 0) + (1 if key in ((site.sentinel, "sentinel"), (site.outpost, "imagenode")) else 0)
        assert count == expected, key
    assert {h: c["status"] for h, c in drift(site).items() if c} == {site.sentinel: "ok", site.outpost: "ok"}

    site.use(site.v1)                   # the files are still in the store
    run = site.deploy()
    assert run.returncode == 0, run.output
    for host in site.coral_hosts:
        assert site.runtime(host) == versions_of(site.v1), host
    again = site.deploy()
    assert again.changed_ops() == [], again.output


def test_tampered_store_copy_is_refused_before_anything_is_installed(site):
    assert site.runtime(site.sentinel) == versions_of(site.v1)
    before = site.all_starts()
    site.use(site.v2)
    site.fleet.ssh("data1", f"printf 'tampered' >> {STORE_CORAL}/{site.v2.pycoral.name}")
    try:
        for deploy_file in ("deploys/models.py", "deploys/coral.py"):
            run = site.pyinfra(deploy_file)
            assert run.returncode != 0
            assert f"{STORE_CORAL}/{site.v2.pycoral.name} differs from the registry's sha256" in run.output, run.output
            assert "nothing installed" in run.output
            for host in site.coral_hosts:
                assert site.runtime(host) == versions_of(site.v1), host
            assert site.all_starts() == before
    finally:
        site.push_coral()              # the local store's good copy replaces the tampered one
    fixed = site.deploy()
    assert fixed.returncode == 0, fixed.output
    for host in site.coral_hosts:
        assert site.runtime(host) == versions_of(site.v2), host


def test_fetch_over_http_refuses_a_checksum_mismatch(site, http_dir, tmp_path):
    mirror, url = http_dir
    store = tmp_path / "store"
    good = site.cli("coral", "fetch", "--from", url, "--store", str(store), "-i", str(site.inventory))
    assert good.returncode == 0, good.output
    check = subprocess.run(["sha256sum", "-c", "--strict", "MANIFEST.sha256"], cwd=store / "coral_packages",
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    snapshot = {p.name: p.read_bytes() for p in (store / "coral_packages").iterdir()}

    (mirror / site.v2.deb.name).write_bytes(b"<html>not a package</html>")
    (store / "coral_packages" / site.v2.deb.name).unlink()   # must be fetched again, and fails
    del snapshot[site.v2.deb.name]
    bad = site.cli("coral", "fetch", "--from", url, "--store", str(store), "-i", str(site.inventory))
    assert bad.returncode == 1
    assert bad.output.strip().count("\n") == 0, bad.output
    assert bad.output.startswith(f"error: {site.v2.deb.name}: sha256 ") and "nothing stored" in bad.output
    assert {p.name: p.read_bytes() for p in (store / "coral_packages").iterdir()} == snapshot

    missing = site.cli("coral", "fetch", "--from", url + "/nothing-here", "--store", str(store), "-i", str(site.inventory))
    assert missing.returncode == 1 and "HTTP 404" in missing.output and "nothing stored" in missing.output
    assert {p.name: p.read_bytes() for p in (store / "coral_packages").iterdir()} == snapshot
