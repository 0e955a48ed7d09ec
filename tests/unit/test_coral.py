"""Coral EdgeTPU runtime: the pure core (files, roles, drift entry), `coral fetch` from a directory and
over HTTP, the facts' commands run for real, and the operations' decisions and scripts."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from facts.coral import CoralRuntime, StoreCoralFiles
from operations import coral as coral_ops
from sentinelcam_models import coral
from sentinelcam_models.cli import main
from sentinelcam_models.problems import OperatorError
from sentinelcam_models.registry import parse_registry
from tests.support.coral import build_set, set_coral_section

from tests.support.units import REGISTRY, ROOT, host
from .test_facts import run_fact
from .test_operations import commands

SHIPPED, _ = parse_registry(REGISTRY)
VENV = "/home/ops/.virtualenvs/py3cv4"


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    return build_set(tmp_path_factory.mktemp("coral") / "v1", "1.0-1", "2.17.1", "2.0.3")


@pytest.fixture
def registry(packages, tmp_path):
    """A registry copy whose coral_packages names the built files."""
    path = tmp_path / "model_registry.yaml"
    shutil.copy(REGISTRY, path)
    set_coral_section(path, packages)
    parsed, problems = parse_registry(path)
    assert problems == []
    return dict(parsed.coral_packages)


# --- the pure core ----------------------------------------------------------------------------

def test_files_of_the_shipped_registry_deb_first_dev_beside_it():
    files = coral.coral_files(SHIPPED.coral_packages)
    assert [(f.package, f.kind) for f in files] == [("libedgetpu", "deb"), ("libedgetpu", "dev"),
                                                    ("tflite_runtime", "wheel"), ("pycoral", "wheel")]
    dev = files[1]
    assert dev.url == ("https://github.com/feranick/libedgetpu/releases/download/16.0TF2.17.1-1/"
                       "libedgetpu-dev_16.0tf2.17.1-1.bookworm_arm64.deb")
    assert all(len(f.sha256) == 64 for f in files)
    assert [f.kind for f in coral.coral_files(SHIPPED.coral_packages, with_dev=False)] == ["deb", "wheel", "wheel"]
    assert coral.deb_package_name(files[0].name) == "libedgetpu1-std"


@pytest.mark.parametrize("groups, data, expected", [
    (("sentinels",), {"sentinel_accelerator_type": "coral"}, [("sentinel", VENV)]),
    (("sentinels",), {}, []),
    (("outposts",), {"imagenode_accelerator_type": "coral", "imagenode_venv_path": "/opt/venv"}, [("imagenode", "/opt/venv")]),
    (("outposts",), {"sentinel_accelerator_type": "coral"}, []),        # a sentinel setting on an outpost: nothing
    (("datasinks",), {"sentinel_accelerator_type": "coral", "imagenode_accelerator_type": "coral"}, []),
    (("sentinels", "outposts"), {"sentinel_accelerator_type": "coral", "imagenode_accelerator_type": "coral"},
     [("sentinel", VENV), ("imagenode", VENV)]),
])
def test_coral_roles(groups, data, expected):
    h = host("x", *groups, **data)
    roles = coral.coral_roles(h.groups, h.data)
    assert [(r.service, r.venv) for r in roles] == expected
    assert coral.venvs_of(roles) == list(dict.fromkeys(v for _, v in expected))


def _fact(deb="16.0tf2.17.1-1", tflite="2.17.1", pycoral="2.0.3", venv=VENV):
    return {"libedgetpu": deb, "venvs": {venv: {"tflite_runtime": tflite, "pycoral": pycoral}}}


def test_assess_ok_drift_missing_unreachable_and_none():
    roles = [coral.CoralRole("sentinel", VENV)]
    ok = coral.assess(SHIPPED.coral_packages, roles, _fact())
    assert ok["status"] == "ok" and ok["installed"][VENV]["pycoral"] == "2.0.3"
    assert ok["desired"] == {"libedgetpu": "16.0tf2.17.1-1", "tflite_runtime": "2.17.1", "pycoral": "2.0.3"}
    old = coral.assess(SHIPPED.coral_packages, roles, _fact(deb="16.0tf2.16.1-1"))
    assert (old["status"], old["detail"]) == ("drift", "libedgetpu 16.0tf2.16.1-1, want 16.0tf2.17.1-1")
    bare = coral.assess(SHIPPED.coral_packages, roles, {"libedgetpu": None, "venvs": {}})
    assert bare["status"] == "missing" and "pycoral not installed" in bare["detail"]
    assert coral.assess(SHIPPED.coral_packages, roles, None)["status"] == "unreachable"
    assert coral.assess(SHIPPED.coral_packages, [], _fact()) is None


def test_udev_rule_names_both_usb_ids_and_the_group():
    rule = coral.udev_rule("ops")
    assert 'ATTRS{idVendor}=="1a6e", ATTRS{idProduct}=="089a"' in rule
    assert 'ATTRS{idVendor}=="18d1", ATTRS{idProduct}=="9302"' in rule
    assert rule.count('GROUP="ops"') == 2


# --- coral fetch ------------------------------------------------------------------------------

def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_fetch_from_a_directory_stores_verified_files_with_a_manifest(tmp_path, packages, registry):
    store = tmp_path / "store"
    result = coral.fetch(store, registry, str(packages.deb.path.parent))
    directory = store / "coral_packages"
    assert sorted(result.stored) == sorted(p.name for p in packages.files) and result.present == []
    assert sorted(p.name for p in directory.iterdir()) == sorted([p.name for p in packages.files] + ["MANIFEST.sha256"])
    check = subprocess.run(["sha256sum", "-c", "--strict", "MANIFEST.sha256"], cwd=directory, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert oct((directory / packages.deb.name).stat().st_mode)[-3:] == "644"
    again = coral.fetch(store, registry, str(packages.deb.path.parent))
    assert again.stored == [] and len(again.present) == 3


def test_fetch_refuses_a_checksum_mismatch_and_leaves_the_store_unchanged(tmp_path, packages, registry):
    store = tmp_path / "store"
    coral.fetch(store, registry, str(packages.deb.path.parent))
    before = _tree(store)
    mirror = tmp_path / "mirror"
    shutil.copytree(packages.deb.path.parent, mirror)
    (mirror / packages.pycoral.name).write_bytes(b"not the wheel the registry names")
    (store / "coral_packages" / packages.pycoral.name).unlink()   # so pycoral must be fetched again
    before = _tree(store)
    with pytest.raises(OperatorError) as err:
        coral.fetch(store, registry, str(mirror))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{packages.pycoral.name}: sha256 ") and "does not match the registry's" in message
    assert message.endswith("nothing stored")
    assert _tree(store) == before                                   # no temp file, no partial manifest


def test_fetch_is_all_or_nothing(tmp_path, packages, registry):
    mirror = tmp_path / "mirror"
    shutil.copytree(packages.deb.path.parent, mirror)
    (mirror / packages.pycoral.name).write_bytes(b"bad")   # the last file fails: the first two must not land
    store = tmp_path / "store"
    with pytest.raises(OperatorError):
        coral.fetch(store, registry, str(mirror))
    assert [p.name for p in (store / "coral_packages").iterdir()] == []


def test_fetch_replaces_an_altered_store_copy(tmp_path, packages, registry):
    store = tmp_path / "store"
    coral.fetch(store, registry, str(packages.deb.path.parent))
    (store / "coral_packages" / packages.deb.name).write_bytes(b"altered in the store")
    result = coral.fetch(store, registry, str(packages.deb.path.parent))
    assert result.stored == [packages.deb.name]
    assert (store / "coral_packages" / packages.deb.name).read_bytes() == packages.deb.path.read_bytes()
    assert coral.verify_stored(store, registry) == []


def test_fetch_from_a_missing_directory_or_file(tmp_path, registry):
    with pytest.raises(OperatorError, match="not a directory nor an http"):
        coral.fetch(tmp_path / "store", registry, str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(OperatorError, match="no such file; nothing stored"):
        coral.fetch(tmp_path / "store", registry, str(tmp_path / "empty"))


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/html/"):
            body = b"<html><body>rate limited</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@pytest.fixture
def http_mirror(packages):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(packages.deb.path.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_over_http(tmp_path, packages, registry, http_mirror):
    store = tmp_path / "store"
    result = coral.fetch(store, registry, http_mirror + "/")
    assert len(result.stored) == 3 and coral.verify_stored(store, registry) == []


def test_fetch_over_http_errors_store_nothing(tmp_path, registry, http_mirror):
    store = tmp_path / "store"
    with pytest.raises(OperatorError, match=r"^GET http://127\.0\.0\.1:\d+/missing/libedgetpu1-std_1\.0-1_all\.deb: HTTP 404 "):
        coral.fetch(store, registry, http_mirror + "/missing")
    with pytest.raises(OperatorError, match="sent an HTML page, not the package; nothing stored"):
        coral.fetch(store, registry, http_mirror + "/html")
    assert _tree(store / "coral_packages") == {}


def test_fetch_uses_each_download_url_by_default(tmp_path, packages, http_mirror):
    path = tmp_path / "model_registry.yaml"
    shutil.copy(REGISTRY, path)
    set_coral_section(path, packages, url_base=http_mirror)
    parsed, _ = parse_registry(path)
    result = coral.fetch(tmp_path / "store", dict(parsed.coral_packages))
    assert len(result.stored) == 3


def test_cli_coral_fetch(tmp_path, packages):
    shutil.copytree(ROOT / "inventories", tmp_path / "inventories")
    inventory = tmp_path / "inventories" / "production.py"
    set_coral_section(tmp_path / "inventories" / "group_data" / "model_registry.yaml", packages)
    store = tmp_path / "store"
    ok = CliRunner().invoke(main, ["coral", "fetch", "--from", str(packages.deb.path.parent), "--store", str(store),
                                   "-i", str(inventory)])
    assert ok.exit_code == 0, ok.output
    assert f"stored {packages.deb.name}" in ok.output
    registry = tmp_path / "inventories" / "group_data" / "model_registry.yaml"
    registry.write_text(registry.read_text().replace(packages.tflite_runtime.sha256, "f" * 64))
    bad = CliRunner().invoke(main, ["coral", "fetch", "--from", str(packages.deb.path.parent), "--store", str(store),
                                    "-i", str(inventory)])
    assert bad.exit_code == 1
    assert bad.output.count("\n") == 1 and bad.output.startswith(f"error: {packages.tflite_runtime.name}: sha256 ")


# --- facts ------------------------------------------------------------------------------------

def test_coral_runtime_parses_dpkg_and_pip_lines():
    lines = ["D ii  16.0tf2.17.1-1", "R " + "a" * 64, f"V 0 {VENV}", "P 0 tflite_runtime 2.17.1", "P 0 pycoral -",
             "V 1 /opt/other", "P 1 tflite_runtime 2.16.1"]
    fact = CoralRuntime().process(lines)
    assert fact == {"libedgetpu": "16.0tf2.17.1-1", "rule": "a" * 64,
                    "venvs": {VENV: {"tflite_runtime": "2.17.1", "pycoral": None}, "/opt/other": {"tflite_runtime": "2.16.1"}}}
    # removed but not purged (config files left), or half installed: not installed
    assert CoralRuntime().process(["D rc  16.0tf2.17.1-1"])["libedgetpu"] is None
    assert CoralRuntime().process(["D iU  16.0tf2.17.1-1"])["libedgetpu"] is None
    assert CoralRuntime.default() == {"libedgetpu": None, "venvs": {}}


def test_coral_runtime_runs_for_real(tmp_path, packages):
    venv = tmp_path / "venv with space"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3.*")) / "site-packages"
    import zipfile
    zipfile.ZipFile(packages.tflite_runtime.path).extractall(site)
    rule = tmp_path / "99-coral.rules"
    rule.write_text("x\n")
    fact = run_fact(CoralRuntime(), package="sentinelcam-no-such-package", venvs=[str(venv), str(tmp_path / "absent")],
                    pip_packages=["tflite_runtime", "pycoral"], rule=str(rule))
    assert fact == {"libedgetpu": None, "rule": hashlib.sha256(b"x\n").hexdigest(),
                    "venvs": {str(venv): {"tflite_runtime": "2.17.1", "pycoral": None}}}


def test_store_coral_files_reports_digests_and_missing(tmp_path, packages):
    shutil.copy(packages.deb.path, tmp_path)
    fact = run_fact(StoreCoralFiles(), directory=str(tmp_path), files=[packages.deb.name, "absent.whl"])
    assert fact == {packages.deb.name: packages.deb.sha256, "absent.whl": None}
    assert run_fact(StoreCoralFiles(), directory=str(tmp_path / "nope"), files=["a"]) == {}


# --- operations: decisions ----------------------------------------------------------------------

PACKAGE = "libedgetpu1-std"
DESIRED = {"libedgetpu": "16.0tf2.17.1-1", "tflite_runtime": "2.17.1", "pycoral": "2.0.3"}
WHEELS = [("tflite_runtime", "2.17.1", "tflite_runtime-2.17.1-py3-none-any.whl", "b" * 64),
          ("pycoral", "2.0.3", "pycoral-2.0.3-py3-none-any.whl", "c" * 64)]


def runtime_facts(fact, venvs=(VENV,)):
    key = f"package={PACKAGE}, pip_packages={['tflite_runtime', 'pycoral']}, rule={coral.UDEV_RULE_PATH}, venvs={list(venvs)}"
    return {"coral.CoralRuntime": {key: fact}}


def stage_kwargs(**over):
    kwargs = dict(directory="/home/ops/sentinelcam/coral_packages", source="ops@127.0.0.101:/store",
                  wanted={"libedgetpu1-std_1_all.deb": "a" * 64, WHEELS[0][2]: "b" * 64}, package=PACKAGE,
                  venvs=[VENV], versions=DESIRED, user="ops")
    kwargs.update(over)
    return kwargs


def test_fact_key_matches_what_the_operations_ask_for():
    # The harness looks facts up by their argument string: prove the key format once.
    cmds, h = commands(coral_ops.libedgetpu, runtime_facts(_fact()), package=PACKAGE, version="16.0tf2.17.1-1",
                       deb="x.deb", digest="a" * 64, directory="/d", venvs=[VENV])
    assert cmds == [] and h.noop_description == f"{PACKAGE} 16.0tf2.17.1-1 is installed"


def test_stage_is_a_noop_when_every_version_matches():
    cmds, h = commands(coral_ops.packages_staged, runtime_facts(_fact()), **stage_kwargs())
    assert cmds == [] and "nothing to stage" in h.noop_description


@pytest.mark.parametrize("fact", [_fact(deb="15.0-1"), _fact(pycoral=None), {"libedgetpu": "16.0tf2.17.1-1", "venvs": {}}])
def test_stage_pulls_when_anything_differs(fact):
    [cmd], _ = commands(coral_ops.packages_staged, runtime_facts(fact), **stage_kwargs())
    text = str(cmd)
    assert "src=ops@127.0.0.101:/store/coral_packages/\n" in text
    assert "files='libedgetpu1-std_1_all.deb tflite_runtime-2.17.1-py3-none-any.whl'" in text
    assert f"{'a' * 64}  libedgetpu1-std_1_all.deb\n{'b' * 64}  tflite_runtime" in text


@pytest.mark.parametrize("installed", ["15.0-1", "17.0-1", None])  # downgrade, upgrade, absent
def test_libedgetpu_installs_when_the_version_differs(installed):
    [cmd], _ = commands(coral_ops.libedgetpu, runtime_facts(_fact(deb=installed)), package=PACKAGE,
                        version="16.0tf2.17.1-1", deb="libedgetpu1-std_16.0tf2.17.1-1_all.deb", digest="a" * 64,
                        directory="/d", venvs=[VENV])
    assert cmd.connector_arguments == {"_sudo": True}
    text = str(cmd)
    assert "deb=libedgetpu1-std_16.0tf2.17.1-1_all.deb\n" in text and "version=16.0tf2.17.1-1\n" in text
    assert 'dpkg -i "$deb"' in text


def test_wheels_install_only_what_differs_in_order():
    cmds, h = commands(coral_ops.wheels, runtime_facts(_fact()), venv=VENV, packages=WHEELS, directory="/d",
                       package=PACKAGE, venvs=[VENV], user="ops")
    assert cmds == [] and h.noop_description == f"tflite_runtime 2.17.1, pycoral 2.0.3 installed in {VENV}"
    [cmd], _ = commands(coral_ops.wheels, runtime_facts(_fact(pycoral="2.0.2")), venv=VENV, packages=WHEELS,
                        directory="/d", package=PACKAGE, venvs=[VENV], user="ops")
    assert "wheels=pycoral-2.0.3-py3-none-any.whl\n" in str(cmd) and "expect=pycoral=2.0.3\n" in str(cmd)
    [cmd], _ = commands(coral_ops.wheels, runtime_facts({"libedgetpu": None, "venvs": {}}), venv=VENV, packages=WHEELS,
                        directory="/d", package=PACKAGE, venvs=[VENV], user="ops")
    assert "wheels='tflite_runtime-2.17.1-py3-none-any.whl pycoral-2.0.3-py3-none-any.whl'" in str(cmd)


def test_operations_quote_every_value():
    [cmd], _ = commands(coral_ops.packages_staged, runtime_facts({}, venvs=["/v x"]),
                        **stage_kwargs(directory="/d; rm -rf /", venvs=["/v x"], source="ops@h:/s$(id)"))
    assert "dir='/d; rm -rf /'" in str(cmd) and "src='ops@h:/s$(id)/coral_packages/'" in str(cmd)


# --- operations: the scripts, run for real against a local store ------------------------------------

def _run(cmd, cwd=None):
    return subprocess.run(["sh", "-c", cmd.get_raw_value()], capture_output=True, text=True, cwd=cwd)


def _stage(tmp_path, packages, registry, store):
    wanted = {f.name: f.sha256 for f in coral.coral_files(registry, with_dev=False)}
    [cmd], _ = commands(coral_ops.packages_staged, runtime_facts({}), **stage_kwargs(
        directory=str(tmp_path / "staging"), source=str(store), wanted=wanted))
    return _run(cmd)


def test_stage_script_pulls_and_verifies(tmp_path, packages, registry):
    store = tmp_path / "store"
    coral.fetch(store, registry, str(packages.deb.path.parent))
    (tmp_path / "staging").mkdir()
    # The staging directory may be shared: files the deploy did not name are left alone.
    (tmp_path / "staging" / "operator-notes.txt").write_text("not ours")
    proc = _stage(tmp_path, packages, registry, store)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "staging").iterdir()) == sorted(
        [p.name for p in packages.files] + ["operator-notes.txt"])


def test_stage_script_refuses_an_altered_store_copy(tmp_path, packages, registry):
    store = tmp_path / "store"
    coral.fetch(store, registry, str(packages.deb.path.parent))
    (store / "coral_packages" / packages.tflite_runtime.name).write_bytes(b"tampered")
    proc = _stage(tmp_path, packages, registry, store)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"sentinelcam: Coral packages: {packages.tflite_runtime.name} differs from the "
                                   "registry's sha256 (altered or damaged copy in the store); nothing installed")
    assert not (tmp_path / "staging" / packages.tflite_runtime.name).exists()


def test_wheels_script_creates_the_venv_and_installs_in_order(tmp_path, packages):
    staging = tmp_path / "staging"
    staging.mkdir()
    for built in packages.files:
        shutil.copy(built.path, staging)
    venv = tmp_path / "venv"
    wheels = [(n, b.version, b.name, b.sha256) for n, b in (("tflite_runtime", packages.tflite_runtime),
                                                             ("pycoral", packages.pycoral))]
    [cmd], _ = commands(coral_ops.wheels, runtime_facts({}, venvs=[str(venv)]), venv=str(venv), packages=wheels,
                        directory=str(staging), package=PACKAGE, venvs=[str(venv)])
    proc = _run(cmd)
    assert proc.returncode == 0, proc.stderr
    fact = run_fact(CoralRuntime(), package=PACKAGE, venvs=[str(venv)], pip_packages=["tflite_runtime", "pycoral"])
    assert fact["venvs"][str(venv)] == {"tflite_runtime": "2.17.1", "pycoral": "2.0.3"}
    # a wheel altered in staging after the pull is refused, and nothing changes
    (staging / packages.pycoral.name).write_bytes(b"altered")
    proc = _run(cmd)
    assert proc.returncode == 1 and "a wheel differs from the registry's sha256; not installed" in proc.stderr


def test_drift_table_shows_the_coral_column_once_per_host(capsys):
    from sentinelcam_models import cli, drift
    from sentinelcam_models.plan import plan_host
    from .test_drift import healthy_fact

    plan = plan_host(host("sentinel1", "sentinels", sentinel_accelerator_type="coral"), parse_registry(REGISTRY)[0])
    report = drift.assess_host(plan, healthy_fact(plan))
    report.coral = coral.assess(SHIPPED.coral_packages, [coral.CoralRole("sentinel", VENV)], _fact(tflite="2.16.1"))
    cli._print_drift([report], drift)
    out = capsys.readouterr().out
    assert out.count("drift (tflite_runtime 2.16.1, want 2.17.1)") == 1
    assert "coral drift: 1" in out
