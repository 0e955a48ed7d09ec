"""Any checkout, any install: commands act on the checkout found from the current directory (as
git does), or on --repo DIR / $SENTINELCAM_REPO; two clones never cross; a non-editable install
(a wheel in a fresh venv, as pipx makes one) finds its deploy files and templates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from sentinelcam_models import paths
from sentinelcam_models.fleet import session as fleet_session
from tests.support.units import ROOT
from tests.unit.cli_support import git, invoke, make_checkout


@pytest.fixture
def clones(tmp_path) -> tuple[Path, Path]:
    """Two clones of one fleet configuration; the second's registry is told apart by a comment."""
    first = make_checkout(tmp_path / "first")
    second = tmp_path / "second"
    subprocess.run(["git", "clone", "-q", str(first), str(second)], check=True)
    registry = second / "inventories" / "group_data" / "model_registry.yaml"
    registry.write_text("# the second clone\n" + registry.read_text())
    git(second, "commit", "-qam", "second")
    return first, second


def registry_of(repo: Path) -> str:
    return str(repo / "inventories" / "group_data" / "model_registry.yaml")


def test_a_command_acts_on_the_checkout_it_stands_in(clones, monkeypatch):
    first, second = clones
    for repo in (first, second):
        monkeypatch.chdir(repo)
        result = invoke("validate")
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"ok: {registry_of(repo)}: ")
        assert "checkout:" not in result.stderr  # the checkout is the current directory


def test_from_a_subdirectory_the_first_line_names_the_checkout(clones, monkeypatch):
    _, second = clones
    monkeypatch.chdir(second / "inventories" / "host_data")
    result = invoke("validate")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == f"checkout: {second}"
    assert result.stdout.startswith(f"ok: {registry_of(second)}: ")


@pytest.mark.parametrize("how", ["--repo", "env"])
def test_repo_or_the_environment_names_another_checkout(clones, monkeypatch, how):
    first, second = clones
    monkeypatch.chdir(second)
    if how == "--repo":
        result = invoke("--repo", str(first), "validate")
    else:
        result = invoke("validate", env={"SENTINELCAM_REPO": str(first)})
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == f"checkout: {first}"
    assert result.stdout.startswith(f"ok: {registry_of(first)}: ")


def test_outside_any_checkout_one_line_says_how_to_name_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("list")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert "not in a sentinelcam-models checkout" in line and "--repo" in line
    bad = invoke("--repo", str(tmp_path), "list")
    assert bad.exit_code == 2
    assert bad.stderr.splitlines() == [
        f"error: --repo {tmp_path}: not a sentinelcam-models checkout "
        "(no inventories/group_data/ there)"
    ]


def test_a_redeploy_runs_the_checkouts_deploy_file_there(clones, monkeypatch):
    """A checkout with deploys/ of its own deploys from them (its templates too); one without
    uses the shipped ones. The deploy runs in the checkout, told which one it is."""
    first, second = clones
    shutil.copytree(ROOT / "deploys", second / "deploys")
    calls = []

    def fake_run(inventory, deploy, hosts, cwd, given):
        calls.append((deploy, cwd, paths.checkout()))  # the checkout its templates come from
        return 0

    monkeypatch.setattr(fleet_session, "run_deploy_file", fake_run)
    monkeypatch.delenv("SENTINELCAM_REPO", raising=False)
    paths.choose_checkout(None)
    monkeypatch.chdir(second / "inventories")
    fleet_session.Session(str(second / "inventories" / "production.py")).redeploy(
        ["lab1"], "mobilenet_ssd", policy_written=False
    )
    monkeypatch.chdir(first)
    fleet_session.Session(str(first / "inventories" / "production.py")).redeploy(
        ["lab1"], "mobilenet_ssd", policy_written=False
    )
    (deploy_2, cwd_2, checkout_2), (deploy_1, cwd_1, checkout_1) = calls
    assert deploy_2 == second / "deploys" / "models.py"
    assert cwd_2 == checkout_2 == second
    assert deploy_1 == paths.DEPLOYS / "models.py"  # the first clone has no deploys/
    assert cwd_1 == checkout_1 == first


# ------------------------------------------------------------------ a non-editable install

SCRIPT = """
import json, sys
from sentinelcam_models import paths, __file__ as package
print(json.dumps({
    "package": package,
    "deploy": str(paths.deploy_file("models.py")),
    "deploy_exists": paths.deploy_file("models.py").is_file(),
    "template": paths.template_text("retention/sentinelcam-model-cleanup.timer.j2")[:40],
    "scripts": sorted(p.name for p in (paths.REPO_ROOT / "operations" / "scripts").glob("*.sh"))[:1],
}))
"""


BUILD_WHEEL = """
import sys
from setuptools import build_meta
build_meta.build_wheel(sys.argv[1])
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """This tree built as a wheel (offline, from a copy: nothing written into the tree) and
    installed into a fresh venv, whose only other path is the test venv's dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    source = work / "source"
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    # the PEP 517 build `pip wheel --no-build-isolation` makes, without pip's own process and
    # the two it starts for the backend's hooks
    subprocess.run(
        [sys.executable, "-c", BUILD_WHEEL, str(work / "dist")],
        cwd=source,
        check=True,
        capture_output=True,
    )
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    [wheel] = (work / "dist").glob("*.whl")
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the dependencies (pyinfra, click, ...) from the test venv, after the venv's own packages;
    # its editable finder for this tree is not loaded (a path in a .pth file runs no .pth files)
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def run_installed(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINELCAM_", "PYTHON"))}
    return subprocess.run(
        [*args], cwd=cwd, env={**env, "COLUMNS": "80"}, capture_output=True, text=True, timeout=120
    )


def test_a_non_editable_install_ships_what_it_needs_and_acts_on_the_checkout(installed, clones):
    first, second = clones
    probe = run_installed(installed, str(installed / "bin" / "python"), "-c", SCRIPT, cwd=first)
    assert probe.returncode == 0, probe.stderr
    import json  # noqa: PLC0415

    found = json.loads(probe.stdout)
    assert found["package"].startswith(str(installed))  # not this tree: a real install
    assert found["deploy"].startswith(str(installed)) and found["deploy_exists"]
    assert found["template"].startswith("# Managed by sentinelcam-models")
    assert found["scripts"]
    command = str(installed / "bin" / "sentinelcam-models")
    for repo in (first, second):
        result = run_installed(installed, command, "validate", cwd=repo / "inventories")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"ok: {registry_of(repo)}: ")
        assert result.stderr.splitlines()[0] == f"checkout: {repo}"
    version = run_installed(installed, command, "--version", cwd=second)
    assert version.stdout.splitlines()[0].startswith("sentinelcam-models ")
    assert version.stdout.splitlines()[-1] == f"checkout: {second}"


def test_the_checkout_is_exported_to_what_the_command_starts_and_no_longer(clones, monkeypatch):
    """A redeploy's pyinfra process inherits $SENTINELCAM_REPO: its templates come from the
    same checkout; after the command the environment is as it was (the CLI run in-process)."""
    from sentinelcam_models.cli import main  # noqa: PLC0415
    from sentinelcam_models.cli.commands import inventory as validate_module  # noqa: PLC0415
    from sentinelcam_models.core.problems import BadInput  # noqa: PLC0415

    _, second = clones
    monkeypatch.delenv("SENTINELCAM_REPO", raising=False)
    monkeypatch.chdir(second / "inventories")
    seen = []

    def fake_session(inventory, store=None):
        seen.append(os.environ.get("SENTINELCAM_REPO"))
        raise BadInput("stop here")

    monkeypatch.setattr(validate_module, "session", fake_session)
    with pytest.raises(SystemExit) as stopped:
        main.main(["validate"], prog_name="sentinelcam-models")
    assert stopped.value.code == 2
    assert seen == [str(second)]
    assert "SENTINELCAM_REPO" not in os.environ
