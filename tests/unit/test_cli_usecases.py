"""The change commands through click's CliRunner on a copy of the inventories in git and a local
store (--store, --no-deploy): no fleet, no SSH. What they check: one inventory load and one store
connection per command, prompts that refuse without a terminal (exit 3, one line, nothing changed),
the --json documents, pins the inventory must show, typed store answers, the retention policy
written once and announced to the redeploy.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from devfleet import demo
from sentinelcam_models.cli import main, options
from sentinelcam_models.core.problems import BadInput, Refused
from sentinelcam_models.fleet import session as session_module
from sentinelcam_models.fleet import stores as stores_module
from sentinelcam_models.fleet import usecases
from tests.support.units import ROOT

FR = "face_recognition"
HAAR = "haarcascades"


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@x.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@x.invalid",
}


_TEMPLATES: list[Path] = []


def first_site() -> Path:
    """The inventories committed to git and the store, built once per test process: each Site
    is a copy (git init, add and commit and six publishes once, not per test)."""
    if _TEMPLATES:
        return _TEMPLATES[0]
    root = Path(tempfile.mkdtemp(prefix="sentinelcam-site-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    shutil.copytree(
        ROOT / "inventories", root / "inventories", ignore=shutil.ignore_patterns("__pycache__")
    )
    store = root / "store"
    registry = demo.load_registry(root / "inventories" / "group_data" / "model_registry.yaml")
    store.mkdir()
    for model, version in [
        (FR, "2026-02-02"),
        (FR, "2025-02-25"),
        (HAAR, "2020-03-25"),
        (HAAR, "2019-01-01"),
        (HAAR, "2019-02-02"),
        (HAAR, "2026-05-05"),
    ]:
        demo.publish_version(store, registry, model, version, scale=0.0001)
    for args in (
        ["init", "-q", "--template="],  # no sample hooks: less to copy per test
        ["add", "-A", "inventories"],
        ["commit", "-qm", "inventory"],
        ["repack", "-adq"],  # one pack instead of a directory per object
        ["prune-packed"],
    ):
        subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            check=True,
            env={**os.environ, **GIT_IDENTITY},
        )
    _TEMPLATES.append(root)
    return root


class Site:
    """A temp copy of the shipped inventories in git and a local store with a few versions."""

    def __init__(self, root: Path, monkeypatch, template: Path):
        shutil.copytree(template, root, symlinks=True, dirs_exist_ok=True)
        self.root = root
        self.inventory = root / "inventories" / "production.py"
        self.registry = root / "inventories" / "group_data" / "model_registry.yaml"
        self.store = root / "store"
        self.log = root / "actions.log"
        for key, value in {
            **GIT_IDENTITY,
            "SENTINELCAM_ACTION_LOG": str(self.log),
            "SENTINELCAM_INVENTORY": str(self.inventory),
        }.items():
            monkeypatch.setenv(key, value)
        # What a command costs: pyinfra inventory loads and store connections.
        self.loads = 0
        self.opens = 0
        load, open_ = session_module.load_pyinfra_inventory, session_module.open_store

        def counting_load(*args, **kwargs):
            self.loads += 1
            return load(*args, **kwargs)

        def counting_open(*args, **kwargs):
            self.opens += 1
            return open_(*args, **kwargs)

        monkeypatch.setattr(session_module, "load_pyinfra_inventory", counting_load)
        monkeypatch.setattr(session_module, "open_store", counting_open)

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.root), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    def cli(self, *args: str, store: bool = True):
        self.loads = self.opens = 0
        extra = ["--store", str(self.store)] if store else []
        return CliRunner().invoke(main, [*args, *extra], catch_exceptions=False)

    def host_file(self, host: str) -> Path:
        return self.root / "inventories" / "host_data" / f"{host}.yaml"

    def state(self) -> dict:
        """Registry and host data bytes, the store's version directories, git HEAD."""
        files = sorted(p for p in (self.root / "inventories").rglob("*.yaml"))
        return {
            "files": {str(p): p.read_bytes() for p in files},
            "store": sorted(str(p) for p in self.store.glob("*/*/*")),
            "head": self.git("rev-parse", "HEAD"),
        }

    def actions(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def site(tmp_path, monkeypatch) -> Site:
    return Site(tmp_path, monkeypatch, first_site())


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


# --- one session: one load, one store --------------------------------------------------------


def test_rollback_previous_loads_the_inventory_once_and_opens_the_store_once(site):
    done = site.cli("rollback", FR, "--previous", "--yes", "--no-deploy")
    assert done.exit_code == 0, done.output
    assert "Rollback face_recognition from 2026-02-02 to 2025-02-25 (committed)" in done.stdout
    assert site.git("log", "-1", "--format=%s") == (
        "Rollback face_recognition from 2026-02-02 to 2025-02-25"
    )
    text = site.registry.read_text()
    assert 'current_version: "2025-02-25"' in text and 'previous_version: "2026-02-02"' in text
    assert (site.loads, site.opens) == (1, 1)
    assert [a["outcome"] for a in site.actions()] == ["changed", "ok (no deploy)"]


def test_pin_and_unpin_load_the_inventory_once_and_open_the_store_once(site):
    # no host_data/sentinel.yaml yet: the one load sees the file as the pin writes it
    done = site.cli("pin", "sentinel", HAAR, "2019-01-01", "--yes", "--no-deploy")
    assert done.exit_code == 0, done.output
    assert '"2019-01-01"' in site.host_file("sentinel").read_text()
    assert (site.loads, site.opens) == (1, 1)
    done = site.cli("pin", "sentinel", FR, "2025-02-25", "--yes", "--no-deploy")
    assert done.exit_code == 0, done.output
    assert (site.loads, site.opens) == (1, 1)
    done = site.cli("unpin", "sentinel", HAAR, "--yes", "--no-deploy")
    assert done.exit_code == 0, done.output
    assert HAAR not in site.host_file("sentinel").read_text()
    assert (site.loads, site.opens) == (1, 0)  # an unpin needs no version from the store
    # the last pin: the file goes, and the one load saw it gone
    done = site.cli("unpin", "sentinel", FR, "--yes", "--no-deploy")
    assert done.exit_code == 0, done.output
    assert not site.host_file("sentinel").exists()
    assert (site.loads, site.opens) == (1, 0)
    assert [a["outcome"] for a in site.actions()][-2:] == ["changed", "ok (no deploy)"]


def loaded_with_a_pin_then_pinned_again(site):
    """A Session loaded with sentinel's pins file holding one pin; the file then gets a second."""
    from sentinelcam_models.core.changes import pin_text  # noqa: PLC0415

    path = site.host_file("sentinel")
    path.write_text(pin_text(str(path), None, FR, "2025-02-25"))
    opened = session_module.Session(str(site.inventory), str(site.store))
    assert opened.checked.settings["sentinel"].pins == {FR: "2025-02-25"}
    path.write_text(pin_text(str(path), path.read_text(), HAAR, "2019-01-01"))
    return opened, path


def test_a_pin_read_into_the_loaded_inventory_is_checked_like_a_reload(site):
    opened, path = loaded_with_a_pin_then_pinned_again(site)
    both = {FR: "2025-02-25", HAAR: "2019-01-01"}
    assert opened.reread_host_data(["sentinel"]).settings["sentinel"].pins == both
    assert opened.pyinfra_inventory.get_host("sentinel").data.model_version_overrides == both
    path.write_text("model_version_overrides: [not, a, mapping]\n")  # refused as a load refuses it
    with pytest.raises(Refused, match="model_version_overrides"):
        opened.reread_host_data(["sentinel"])
    # the loaded data is as it was before the failed read (the Edit restores the file)
    assert opened.pyinfra_inventory.get_host("sentinel").data.model_version_overrides == both
    assert opened.checked.settings["sentinel"].pins == both
    assert (opened.loads, opened.rereads) == (1, 2)


def test_a_pin_the_caller_refuses_leaves_the_session_as_it_was(site):
    opened, _ = loaded_with_a_pin_then_pinned_again(site)

    def refuse(checked):
        assert checked.settings["sentinel"].pins[HAAR] == "2019-01-01"
        raise BadInput("refused by the caller")

    with pytest.raises(BadInput, match="refused by the caller"):
        opened.reread_host_data(["sentinel"], refuse)
    assert opened.pyinfra_inventory.get_host("sentinel").data.model_version_overrides == {
        FR: "2025-02-25"
    }
    assert opened.checked.settings["sentinel"].pins == {FR: "2025-02-25"}


# How an inventory may treat host_data/HOST.yaml: whatever it does, the pins a Session shows after a
# pin is written must be the pins a fresh load shows (else a pin that does not act is accepted).
INVENTORY_SHAPES = {
    "merges": "{**login, **data, **_host_data(__file__, name)}",
    "does not merge": "{**login, **data}",
    "mutates the pins": (
        "{**login, **data, **_mine(name)}",
        'm = _host_data(__file__, name); m.get("model_version_overrides", {}).pop("haarcascades",'
        " None); return m",
    ),
    "inspects the pins": (
        "{**login, **data, **_mine(name)}",
        'm = _host_data(__file__, name); return m if "haarcascades" not in'
        ' m.get("model_version_overrides", {}) else {}',
    ),
    "drops the key": (
        "{**login, **data, **_mine(name)}",
        'm = _host_data(__file__, name); m.pop("model_version_overrides", None); return m',
    ),
    "replaces it with {}": '{**login, **data, **_host_data(__file__, name), "model_version_overrides": {}}',
    "copies it": (
        "{**login, **data, **_mine(name)}",
        "m = _host_data(__file__, name); return {k: dict(v) if isinstance(v, dict) else v for k, v in m.items()}",
    ),
    "merges for some hosts": (
        "{**login, **data, **_mine(name)}",
        'return _host_data(__file__, name) if name != "sentinel" else {}',
    ),
    "calls it and drops the result": (
        "{**login, **data, **_mine(name)}",
        "_host_data(__file__, name); return {}",
    ),
    "merges it under its own pins": (
        "{**login, **data, **_mine(name)}",
        'return {"model_version_overrides": {"haarcascades": "2019-02-02"}, '
        "**_host_data(__file__, name)}",
    ),
    "merges it, then its own pins": (
        "{**login, **data, **_mine(name)}",
        'return {**_host_data(__file__, name), "model_version_overrides": {}}',
    ),
    "copies it with dict()": (
        "{**login, **data, **_mine(name)}",
        "return dict(_host_data(__file__, name))",
    ),
    "updates a dict with it": (
        "{**login, **data, **_mine(name)}",
        "d = {}; d.update(_host_data(__file__, name)); return d",
    ),
    "falls back to its own pins": (
        "{**login, **data, **_mine(name)}",
        'return _host_data(__file__, name) or {"model_version_overrides": {"face_recognition":'
        ' "2025-02-25"}}',
    ),
    "adds base pins where it has some": (
        "{**login, **data, **_mine(name)}",
        'm = _host_data(__file__, name); return {**m, "model_version_overrides": {"face_recognition":'
        ' "2025-02-25", **m["model_version_overrides"]}} if "model_version_overrides" in m else m',
    ),
    "looks, then merges a second call": (
        "{**login, **data, **_mine(name)}",
        'p = "model_version_overrides" in _host_data(__file__, name); m = _host_data(__file__, name);'
        ' return {**m, "model_version_overrides": {"face_recognition": "2025-02-25",'
        ' **m["model_version_overrides"]}} if p else m',
    ),
    "an earlier host asks for this host's file too": (
        '{**login, **data, **_host_data(__file__, "sentinel" if name == "data1" else name)}'
    ),
    "shares one answer with another host": (
        "{**login, **data, **_mine(name)}",
        '_SHARED["m"] = _SHARED["m"] if "m" in _SHARED else _host_data(__file__, "sentinel"); '
        'return _SHARED["m"] if name in ("sentinel", "lab1") else _host_data(__file__, name)',
    ),
}
# Where a written pin is read into the loaded inventory instead of loading it again: only where
# the inventory merged what host_data handed, as handed, by reference, for that host alone, and
# the file holds pins before and after the write (a first pin and an unpin of the last pin reload).
READ_IN_PLACE = {"merges", "copies it with dict()", "updates a dict with it"} | {
    "merges it under its own pins",  # the file's pins replace its own, in place and on a load
    "falls back to its own pins",  # a file with pins before the write and after: no fallback
}


def plain_pins(site) -> dict[str, dict]:
    """Every host's pins as plain pyinfra loads the inventory (no command recording its load)."""
    from sentinelcam_models.fleet.inventory import check, load_pyinfra_inventory, raw_hosts  # noqa: PLC0415

    loaded = load_pyinfra_inventory(str(site.inventory))
    checked = check(str(site.inventory), raw_hosts(loaded))
    return {name: s.pins for name, s in checked.settings.items()}


@pytest.mark.parametrize(
    "pinned_at_load, write",
    [(False, "pin"), (True, "pin"), (True, "unpin the last"), (True, "unpin one of two")],
    ids=["no file, pin", "a pin file, pin", "unpin its last pin", "unpin one of two"],
)
@pytest.mark.parametrize("shape", sorted(INVENTORY_SHAPES))
def test_pins_checked_for_a_write_are_what_a_fresh_load_after_it_shows(
    site, shape, pinned_at_load, write
):
    """Whatever the inventory's code does with host_data/HOST.yaml, both ways a command checks a
    pin give what plain pyinfra loads after the write: ``pin``/``unpin`` load once before writing,
    with the file as it will be (Session.plan_host_data); a rollout step reads its written file
    into the inventory it loaded before (Session.reread_host_data, or loads again)."""
    from sentinelcam_models.core.changes import pin_text  # noqa: PLC0415

    shape_inventory(site, shape)
    path = site.host_file("sentinel")
    if pinned_at_load:
        text = pin_text(str(path), None, FR, "2025-02-25")
        if write == "unpin one of two":
            text = pin_text(str(path), text, HAAR, "2019-02-02")
        path.write_text(text)
    current = path.read_text() if path.exists() else None
    model, version = (HAAR, "2019-01-01") if write == "pin" else (FR, None)
    new = pin_text(str(path), current, model, version)
    assert (new is None) == (write == "unpin the last")
    loaded = session_module.Session(str(site.inventory), str(site.store))
    # a command's recorded load shows what plain pyinfra shows
    assert {name: s.pins for name, s in loaded.checked.settings.items()} == plain_pins(site)
    planned = session_module.Session(str(site.inventory), str(site.store))
    planned_view = planned.plan_host_data({path: new})
    assert (path.read_text() if path.exists() else None) == current  # nothing written
    if new is None:
        path.unlink()
    else:
        path.write_text(new)
    fresh = plain_pins(site)
    assert_shows_a_fresh_load(fresh, planned, planned_view)
    assert planned.loads == 1
    assert_shows_a_fresh_load(fresh, loaded, loaded.reread_host_data(["sentinel"]))
    in_place = pinned_at_load and write != "unpin the last" and shape in READ_IN_PLACE
    assert loaded.loads == (1 if in_place else 2)


def assert_shows_a_fresh_load(fresh, opened, shown) -> None:
    """Every host's pins in ``shown`` and in the Session's pyinfra inventory are ``fresh``: what
    plain pyinfra loads from the files as they are now."""
    assert {name: s.pins for name, s in shown.settings.items()} == fresh
    for name, pins in fresh.items():
        loaded = opened.pyinfra_inventory.get_host(name).data.get("model_version_overrides", {})
        assert loaded == pins, name


def shape_inventory(site, shape: str) -> None:
    """The site's inventory, treating host_data/HOST.yaml as INVENTORY_SHAPES[shape] does."""
    merge = INVENTORY_SHAPES[shape]
    expr, helper = (merge, None) if isinstance(merge, str) else merge
    text = site.inventory.read_text()
    old = "    return (name, {**login, **data, **_host_data(__file__, name)})"
    assert old in text
    text = text.replace(old, f"    return (name, {expr})")
    if helper:
        text = text.replace(
            "\ndatasinks = [",
            f"\n_SHARED = {{}}\n\n\ndef _mine(name):\n    {helper}\n\n\ndatasinks = [",
        )
    site.inventory.write_text(text)


# --- safe prompts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("rollback", FR, "--previous", "--no-deploy"),
        ("promote", HAAR, "2026-05-05", "--no-deploy"),
        ("pin", "sentinel", HAAR, "2019-01-01", "--no-deploy"),
        ("cleanup", "--keep", "0"),
        ("cleanup",),
        ("publish", HAAR, "SRC", "--version", "2026-09-09"),
        ("adopt",),
        ("coral", "fetch", "--from", "SRC"),
    ],
    ids=[
        "rollback",
        "promote",
        "pin",
        "cleanup",
        "cleanup-nothing-to-remove",
        "publish",
        "adopt",
        "coral-fetch",
    ],
)
def test_without_a_terminal_and_without_yes_a_change_is_refused(site, args):
    src = site.root / "src"
    src.mkdir()
    (src / "haarcascade_eye.xml").write_text("<x/>")
    (site.store / HAAR / "2019-02-02" / "MANIFEST.sha256").unlink()  # something to adopt
    before = site.state()
    done = site.cli(*[str(src) if a == "SRC" else a for a in args])
    assert done.exit_code == 3, done.output
    [line] = error_lines(done)
    assert "no terminal to ask, and no --yes" in line and "nothing changed" in line
    assert site.state() == before


def test_unpin_refuses_without_yes_too(site):
    site.cli("pin", "sentinel", HAAR, "2019-01-01", "--yes", "--no-deploy")
    before = site.state()
    done = site.cli("unpin", "sentinel", HAAR, "--no-deploy")
    assert done.exit_code == 3 and site.state() == before


def test_the_prompt_says_what_happens_and_asks_no_redeploy_with_no_deploy(site):
    done = site.cli("rollback", FR, "--previous", "--no-deploy")
    [line] = error_lines(done)
    assert "Rollback face_recognition from 2026-02-02 to 2025-02-25" in line
    assert f"write {site.registry}" in line and "commit it" in line
    assert "no redeploy (--no-deploy)" in line and "redeploy face_recognition to" not in line
    done = site.cli("rollback", FR, "--previous", "--no-commit")
    [line] = error_lines(done)
    assert "commit it" not in line and "redeploy face_recognition to 1 host(s): sentinel" in line


def test_a_pins_prompt_shows_the_hosts_whole_pin_set_as_the_inventory_will_show_it(site):
    # other models' pins move with the file (an inventory's own pins around it, a group's pins it
    # replaces): the question shows all of the host's pins once the file is written. (The shape
    # first: pyinfra keeps an inventory file's compiled code for the process.)
    shape_inventory(site, "falls back to its own pins")  # no file: its own face_recognition pin
    done = site.cli("pin", "sentinel", HAAR, "2019-01-01", "--no-deploy")
    [line] = error_lines(done)
    assert f"(sentinel's pins then: {HAAR} 2019-01-01)" in line  # the fallback's pin goes
    done = site.cli("pin", "sentinel", HAAR, "2019-01-01", "--yes", "--no-deploy")
    assert done.exit_code == 0, done.output
    done = site.cli("pin", "sentinel", FR, "2026-02-02", "--no-deploy")
    [line] = error_lines(done)
    assert f"(sentinel's pins then: {FR} 2026-02-02, {HAAR} 2019-01-01)" in line
    done = site.cli("unpin", "sentinel", HAAR, "--no-deploy")
    [line] = error_lines(done)
    assert f"remove {site.host_file('sentinel')} (sentinel's pins then: {FR} 2025-02-25)" in line


def test_a_no_at_the_terminal_changes_nothing(site, monkeypatch):
    monkeypatch.setattr(options, "interactive", lambda: True)
    monkeypatch.setattr(options.click, "confirm", lambda *a, **k: False)
    before = site.state()
    done = site.cli("pin", "sentinel", HAAR, "2019-01-01", "--no-deploy")
    assert done.exit_code == 3 and "declined; nothing changed" in done.stderr
    assert site.state() == before


def test_cleanup_asks_naming_each_version_then_removes_them_with_yes(site):
    done = site.cli("cleanup", "--keep", "0")
    [line] = error_lines(done)
    assert "keep 0 newest others" in line
    for version in ("2019-01-01", "2019-02-02", "2026-05-05"):  # not current, previous or pinned
        assert f"remove haarcascades/{version}" in line
        assert (site.store / HAAR / version).is_dir()
    done = site.cli("cleanup", "--keep", "0", "--yes")
    assert done.exit_code == 0, done.output
    for version in ("2019-01-01", "2019-02-02", "2026-05-05"):
        assert not (site.store / HAAR / version).exists()
    assert (site.store / HAAR / "2020-03-25").is_dir() and (site.store / FR / "2025-02-25").is_dir()


# --- --json ------------------------------------------------------------------------------------


def test_rollback_dry_run_json_is_the_plan_and_changes_nothing(site):
    before = site.state()
    done = site.cli("rollback", FR, "--previous", "--dry-run", "--json")
    assert done.exit_code == 0, done.output
    plan = json.loads(done.stdout)
    assert plan["schema"] == "sentinelcam-models/change-plan/v1"
    assert plan["action"] == "rollback" and plan["model"] == FR
    assert plan["file"] == str(site.registry)
    assert '-    current_version: "2026-02-02"' in plan["diff"]
    assert '+    current_version: "2025-02-25"' in plan["diff"]
    assert plan["redeploy"] == ["sentinel"] and plan["store_versions"] == ["2025-02-25"]
    assert plan["undo"].startswith("sentinelcam-models rollback face_recognition 2026-02-02")
    assert site.state() == before


@pytest.mark.parametrize(
    "args, action",
    [
        (("pin", "sentinel", HAAR, "2019-01-01"), "pin"),
        (("promote", HAAR, "2026-05-05"), "promote"),
    ],
)
def test_pin_and_promote_dry_run_json(site, args, action):
    done = site.cli(*args, "--dry-run", "--json")
    assert done.exit_code == 0, done.output
    plan = json.loads(done.stdout)
    assert plan["action"] == action and plan["model"] == HAAR


def test_unpin_dry_run_json_removes_the_file(site):
    site.cli("pin", "sentinel", HAAR, "2019-01-01", "--yes", "--no-deploy")
    plan = json.loads(site.cli("unpin", "sentinel", HAAR, "--dry-run", "--json").stdout)
    assert plan["action"] == "unpin" and plan["removes_file"] is True


def test_json_without_dry_run_is_refused(site):
    done = site.cli("rollback", FR, "--previous", "--json", "--yes")
    assert done.exit_code == 2 and "give --dry-run too" in done.stderr


def test_validate_json_lists_file_line_key_message(site):
    text = site.registry.read_text()
    site.registry.write_text(text.replace('"2026-02-02"', '"2026-13-02"', 1))
    done = site.cli("validate", "--json", store=False)
    assert done.exit_code == 2
    document = json.loads(done.stdout)
    assert document["schema"] == "sentinelcam-models/validate/v1" and document["ok"] is False
    [problem] = document["problems"]
    line = 1 + text[: text.index('"2026-02-02"')].count("\n")
    assert problem["file"] == str(site.registry) and problem["line"] == line
    assert problem["key"] == "sentinelcam_models.face_recognition.current_version"
    assert "'2026-13-02' is not a valid version" in problem["message"]
    site.registry.write_text(text)
    document = json.loads(site.cli("validate", "--json", store=False).stdout)
    assert document["ok"] is True and document["hosts"] == 6 and document["exit_code"] == 0


def test_verify_adopt_cleanup_publish_json(site):
    document = json.loads(site.cli("verify", HAAR, "--json").stdout)
    assert document["schema"] == "sentinelcam-models/verify/v1" and document["ok"] is True
    assert {v["version"] for v in document["versions"]} == {
        "2019-01-01",
        "2019-02-02",
        "2020-03-25",
        "2026-05-05",
    }
    (site.store / HAAR / "2019-01-01" / "haarcascade_eye.xml").write_bytes(b"changed")
    bad = site.cli("verify", HAAR, "2019-01-01", "--json")
    assert bad.exit_code == 1 and json.loads(bad.stdout)["ok"] is False

    (site.store / HAAR / "2019-02-02" / "MANIFEST.sha256").unlink()
    document = json.loads(site.cli("adopt", "--dry-run", "--json").stdout)
    assert document["schema"] == "sentinelcam-models/adopt/v1" and document["dry_run"] is True
    assert [(v["model"], v["version"], v["status"]) for v in document["versions"]] == [
        (HAAR, "2019-02-02", "would adopt")
    ]

    document = json.loads(site.cli("cleanup", "--dry-run", "--json").stdout)
    assert document["schema"] == "sentinelcam-models/cleanup/v1" and document["dry_run"] is True
    assert isinstance(document["bytes_freed"], int) and document["log"]

    src = site.root / "src"
    src.mkdir()
    shutil.copytree(site.store / HAAR / "2020-03-25", src, dirs_exist_ok=True)
    (src / "MANIFEST.sha256").unlink()
    done = site.cli("publish", HAAR, str(src), "--version", "2026-09-09", "--yes", "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert document["schema"] == "sentinelcam-models/publish/v1"
    assert document["version"] == "2026-09-09" and len(document["manifest_digest"]) == 64


# --- typed store answers -----------------------------------------------------------------------


def test_a_version_not_in_the_store_and_a_broken_one_are_told_apart(site):
    before = site.state()
    done = site.cli("pin", "sentinel", HAAR, "2018-08-08", "--yes", "--no-deploy")
    assert done.exit_code == 2 and "haarcascades 2018-08-08 is not in the store" in done.stderr
    (site.store / HAAR / "2019-01-01" / "MANIFEST.sha256").write_text("not a manifest\n")
    done = site.cli("pin", "sentinel", HAAR, "2019-01-01", "--yes", "--no-deploy")
    assert done.exit_code == 2
    assert "haarcascades 2019-01-01 does not verify in the store" in done.stderr
    assert "is not in the store" not in done.stderr
    assert site.state() == before


# --- pins that act -----------------------------------------------------------------------------


def test_a_pin_the_inventory_does_not_load_is_refused_before_anything_is_written(site):
    plain = site.root / "inventories" / "plain.py"
    text = site.inventory.read_text()
    plain.write_text(text.replace("**_host_data(__file__, name)", ""))
    site.git("add", str(plain))
    site.git("commit", "-qm", "an inventory without host_data")
    before = site.state()
    done = site.cli("pin", "sentinel", HAAR, "2019-01-01", "--yes", "--no-deploy", "-i", str(plain))
    assert done.exit_code == 2, done.output
    [line] = error_lines(done)
    assert "host sentinel's data does not come from" in line and "so its pins do not act" in line
    assert "host_data/HOST.yaml" in line and "nothing changed" in line
    assert not site.host_file("sentinel").exists()
    assert site.state() == before
    assert (site.loads, site.opens) == (1, 0)  # refused on the one load, before the store
    assert site.actions() == []  # no edit began (none to restore)


def test_the_undo_of_a_pin_over_the_inventorys_own_pin_runs_and_says_what_applies(site):
    # the inventory merges the file over pins of its own (haarcascades 2019-02-02): the pin shows,
    # and its printed undo (an unpin) works, leaving the inventory's own pin, and says so
    shape_inventory(site, "merges it under its own pins")
    done = site.cli("pin", "sentinel", HAAR, "2019-01-01", "--yes", "--no-deploy")
    assert done.exit_code == 0, done.output
    [undo] = [line for line in done.stdout.splitlines() if line.startswith("To undo: ")]
    argv = shlex.split(undo.removeprefix("To undo: "))
    assert argv[:4] == ["sentinelcam-models", "unpin", "sentinel", HAAR]
    done = site.cli(*argv[1:], "--no-deploy")
    assert done.exit_code == 0, done.output
    assert (
        f"Unpin {HAAR} on sentinel (was 2019-01-01; its settings then pin 2019-02-02)"
        in done.stdout
    )
    assert not site.host_file("sentinel").exists()
    assert site.loads == 1
    # nothing of the file's left to unpin: refused by name, nothing changed
    before = site.state()
    done = site.cli("unpin", "sentinel", HAAR, "--yes", "--no-deploy")
    assert done.exit_code == 2, done.output
    [line] = error_lines(done)
    assert f"holds no {HAAR} pin to remove" in line and "2019-02-02" in line
    assert site.state() == before


@pytest.mark.parametrize("pinned", ["lab1", "sentinel"], ids=["the link's host", "its target's"])
@pytest.mark.parametrize("target_exists", [True, False], ids=["a file", "a dangling link"])
def test_a_host_data_file_shared_through_a_link_is_refused(site, pinned, target_exists):
    # two hosts' pins in one file: a pin of one would move the other, unchecked and not redeployed
    if target_exists:
        site.host_file("sentinel").write_text(f'model_version_overrides:\n  {FR}: "2025-02-25"\n')
    site.host_file("lab1").symlink_to("sentinel.yaml")
    before = site.host_file("sentinel").read_bytes() if target_exists else None
    head = site.git("rev-parse", "HEAD")
    done = site.cli("pin", pinned, HAAR, "2019-01-01", "--yes", "--no-deploy")
    assert done.exit_code == 2, done.output
    [line] = error_lines(done)
    assert "host_data/lab1.yaml: is a " in line and "link" in line
    assert site.git("rev-parse", "HEAD") == head and site.loads == 0
    assert (site.host_file("sentinel").read_bytes() if target_exists else None) == before
    assert site.host_file("sentinel").exists() == target_exists


@pytest.mark.parametrize(
    "shape",
    [
        "an earlier host asks for this host's file too",
        "shares one answer with another host",
        "looks, then merges a second call",
    ],
)
def test_a_pin_file_the_inventory_reads_for_another_host_or_twice_is_refused(site, shape):
    # data1 (or lab1) would take sentinel's new pin too, unchecked and not redeployed
    shape_inventory(site, shape)
    site.host_file("sentinel").write_text(f'model_version_overrides:\n  {FR}: "2025-02-25"\n')
    before = site.host_file("sentinel").read_bytes()
    head = site.git("rev-parse", "HEAD")
    done = site.cli("pin", "sentinel", HAAR, "2019-01-01", "--yes", "--no-deploy")
    assert done.exit_code == 2, done.output
    [line] = error_lines(done)
    assert "host_data/sentinel.yaml: the inventory" in line and "more than one host" in line
    assert (
        site.host_file("sentinel").read_bytes() == before and site.git("rev-parse", "HEAD") == head
    )
    assert site.loads == 1


@pytest.mark.parametrize("dry_run", [False, True], ids=["promote", "dry run"])
def test_a_staged_promote_refuses_a_canary_whose_pin_file_is_shared(site, dry_run):
    # the canary step would pin lab1 too (its file is a link to sentinel's): refused before the
    # rollout begins, nothing written, no rollout to resume
    site.host_file("sentinel").write_text(f'model_version_overrides:\n  {FR}: "2025-02-25"\n')
    site.host_file("lab1").symlink_to("sentinel.yaml")
    before = site.host_file("sentinel").read_bytes()
    head = site.git("rev-parse", "HEAD")
    args = ["promote", HAAR, "2026-05-05", "--canary", "sentinel", "--yes"]
    done = site.cli(*args, *(["--dry-run"] if dry_run else []))
    assert done.exit_code == 2, done.output
    [line] = error_lines(done)
    assert "host_data/lab1.yaml: is a link to" in line
    assert "rollout resume" not in done.stdout
    assert (
        site.host_file("sentinel").read_bytes() == before and site.git("rev-parse", "HEAD") == head
    )
    from sentinelcam_models.fleet.rollouts import state_file  # noqa: PLC0415

    assert not state_file(site.registry, HAAR).exists()


def test_a_pin_of_an_unknown_model_names_the_registry_and_hides_no_other_fault(site):
    before = site.state()
    done = site.cli("pin", "sentinel", "nosuchmodel", "2020-01-01", "--yes", "--no-deploy")
    assert done.exit_code == 2, done.output
    [line] = error_lines(done)
    assert f"{site.registry}: unknown model 'nosuchmodel'" in line
    assert site.state() == before
    # a broken registry is told as the registry's own fault, for a known model and an unknown one
    site.registry.write_text(
        site.registry.read_text().replace('current_version: "2020-03-25"', 'current_version: "x"')
    )
    for model in (HAAR, "nosuchmodel"):
        done = site.cli("pin", "sentinel", model, "2019-01-01", "--yes", "--no-deploy")
        assert done.exit_code == 2, done.output
        assert "unknown model" not in done.stderr and "'x'" in done.stderr, done.stderr


def test_a_registry_changed_before_the_pin_is_written_refuses_it_and_puts_the_file_back(
    site, monkeypatch
):
    # between the command's one load and its edit another command breaks the registry: the pin is
    # checked again with the registry as it is under the lock (no second load), and put back
    check = usecases.check_store

    def meanwhile(session, change):
        check(session, change)
        text = site.registry.read_text()
        site.registry.write_text(
            text.replace('current_version: "2020-03-25"', 'current_version: "x"')
        )

    monkeypatch.setattr(usecases, "check_store", meanwhile)
    done = site.cli("pin", "sentinel", HAAR, "2019-01-01", "--yes", "--no-deploy")
    assert done.exit_code == 2, done.output
    assert "'x'" in done.stderr
    assert not site.host_file("sentinel").exists()
    assert site.loads == 1
    assert site.actions()[-1]["outcome"].startswith("failed:")


def test_a_leftover_pin_of_a_model_gone_from_the_registry_can_be_unpinned(site):
    # (from a hand-made file git never had: its removal has nothing to commit, and is no error)
    site.host_file("sentinel").write_text('model_version_overrides:\n  gone_model: "2020-01-01"\n')
    done = site.cli("validate", store=False)
    assert done.exit_code == 2 and "gone_model" in done.stderr  # every command refuses it ...
    head = site.git("rev-parse", "HEAD")
    done = site.cli("unpin", "sentinel", "gone_model", "--yes", "--no-deploy")
    assert done.exit_code == 0, done.output  # ... and unpin removes it
    assert not site.host_file("sentinel").exists()
    assert site.git("rev-parse", "HEAD") == head
    assert "(committed)" not in done.stdout and "(nothing to commit: git never had" in done.stdout
    [edit] = [a for a in site.actions() if a["outcome"] == "changed"]
    assert edit["committed"] is False
    assert site.git("status", "--porcelain", "inventories/host_data/sentinel.yaml") == ""
    done = site.cli("pin", "sentinel", "gone_model", "2020-01-01", "--yes", "--no-deploy")
    assert done.exit_code == 2 and "unknown model 'gone_model'" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("pin", "sentinel", HAAR, "2019-01-01", "--dry-run"),
        ("pin", "sentinel", HAAR, "2018-08-08", "--yes"),  # not in the store: refused
        ("pin", "sentinel", HAAR, "2019-01-01", "--yes"),
    ],
    ids=["dry run", "refused", "done"],
)
def test_a_pins_planned_host_data_ends_with_its_load(site, args):
    from sentinelcam_models.store import files  # noqa: PLC0415

    site.cli(*args, "--no-deploy")
    assert files._planned == {}
    # and a Session's plan is for its next load only: a later reload reads the files
    opened = session_module.Session(str(site.inventory), str(site.store))
    path = site.host_file("sentinel")
    text = f'model_version_overrides:\n  {HAAR}: "2026-05-05"\n'
    assert opened.plan_host_data({path: text}).settings["sentinel"].pins[HAAR] == "2026-05-05"
    assert files._planned == {}
    shown = opened.reload().settings["sentinel"].pins.get(HAAR)
    assert shown == ("2019-01-01" if args[-1] == "--yes" and args[3] == "2019-01-01" else None)


# --- the retention policy: written once, and the redeploy told so ------------------------------


class FakeStore:
    where = "data1:/store"
    root = "/store"

    def __init__(self, real):
        self.real, self.calls = real, []

    def call(self, command, **arguments):
        self.calls.append(command)
        if command == "write_policy":
            return "/data/model_retention_policy.json"
        return self.real.call(command, **arguments)


def test_the_policy_is_written_once_and_the_redeploy_skips_it(site, monkeypatch):
    fake = FakeStore(stores_module.LocalClient(site.store))
    monkeypatch.setattr(session_module.Session, "store", lambda self: fake)
    runs = []

    def run_deploy_file(inventory, deploy, hosts, cwd, given):
        runs.append((inventory, deploy, hosts, given))
        return 0

    monkeypatch.setattr(session_module, "run_deploy_file", run_deploy_file)
    done = site.cli("rollback", FR, "--previous", "--yes", store=False)
    assert done.exit_code == 0, done.output
    assert fake.calls.count("write_policy") == 1
    [(inventory, deploy, hosts, given)] = runs
    assert deploy.name == "models.py" and hosts == ["sentinel"]
    assert given.policy_written is True
    # the run's models filter, as `--data models=face_recognition` gave the pyinfra process
    assert {s.models_filter for s in given.checked.settings.values()} == {(FR,)}
    assert given.checked.registry.models[FR].current_version == "2025-02-25"
    assert inventory.get_host("sentinel") is not None
    assert site.loads == 1  # the redeploy runs on the inventory the command loaded


def registry_elsewhere(site) -> Path:
    """Group data whose ``model_registry_file`` names a copy of the registry, committed."""
    other = site.root / "other_registry.yaml"
    shutil.copy(site.registry, other)
    all_py = site.root / "inventories" / "group_data" / "all.py"
    all_py.write_text(all_py.read_text() + f"\nmodel_registry_file = {str(other)!r}\n")
    site.git("commit", "-qam", "registry elsewhere")
    return other


def must_not_run(*args, **kwargs):
    raise AssertionError("the run must not start")


def test_a_registry_the_deploy_would_not_read_is_refused_before_the_edit(site, monkeypatch):
    """A deploy reads the registry ``model_registry_file`` names (as a hand-run pyinfra does):
    when that is not the registry the command would change, the change is refused before it is
    made: one line naming the key, exit non-zero, the registry, git and the action log as they
    were."""
    other = registry_elsewhere(site)
    before = site.registry.read_bytes(), site.git("rev-parse", "HEAD"), site.actions()

    monkeypatch.setattr(session_module, "run_deploy_file", must_not_run)
    done = site.cli("rollback", FR, "--previous", "--yes")
    assert done.exit_code != 0
    assert f"model_registry_file {other}" in done.stderr
    assert "(committed)" not in done.stdout
    assert (site.registry.read_bytes(), site.git("rev-parse", "HEAD"), site.actions()) == before
    # with --no-deploy nothing reads the other registry: the change is made
    assert site.cli("rollback", FR, "--previous", "--yes", "--no-deploy").exit_code == 0


def test_a_staged_promote_is_refused_before_its_first_step_when_the_deploy_reads_another_registry(
    site, monkeypatch
):
    other = registry_elsewhere(site)
    before = site.state()

    monkeypatch.setattr(session_module, "run_deploy_file", must_not_run)
    done = site.cli("promote", HAAR, "2026-05-05", "--canary", "sentinel", "--yes")
    assert done.exit_code != 0
    assert f"model_registry_file {other}" in done.stderr
    assert site.state() == before  # no canary pin, no rollout state, no commit


def test_a_rollout_undo_is_refused_before_its_edit_when_the_deploy_reads_another_registry(
    site, monkeypatch
):
    """The undo deploys the hosts the rollout reached back: with a ``model_registry_file`` that
    is not the registry it moves back, it is refused before the registry, the pins or the
    rollout state change."""
    other = registry_elsewhere(site)
    runner(site).step("canary: sentinel", pins={"sentinel": "2026-05-05"})
    before = site.state()

    monkeypatch.setattr(session_module, "run_deploy_file", must_not_run)
    done = site.cli("rollout", "undo", HAAR, "--yes", store=False)
    assert done.exit_code != 0
    [line] = error_lines(done)
    assert f"model_registry_file {other}" in line
    assert site.state() == before  # the canary pin, the rollout state and git as they were


def test_a_rollout_undo_whose_deploy_back_fails_exits_non_zero(site, monkeypatch):
    """The registry and the pins are undone (committed), but the hosts still run what the
    rollout gave them: the operator is told so, with the run to repeat, and the exit is not 0."""
    runner(site).step("canary: sentinel", pins={"sentinel": "2026-05-05"})
    runs = []

    def failing(inventory, deploy, hosts, repo, given):
        runs.append(hosts)
        return 2

    monkeypatch.setattr(session_module, "run_deploy_file", failing)
    done = site.cli("rollout", "undo", HAAR, "--yes", store=False)
    assert runs == [["sentinel"]]
    assert done.exit_code != 0
    [line] = error_lines(done)
    assert "deploying sentinel back failed (exit 2)" in line
    assert f"pyinfra -y {site.inventory} deploys/models.py --data models={HAAR}" in line
    pins = site.host_file("sentinel")
    assert not pins.exists() or HAAR not in pins.read_text()  # the canary pin is gone
    assert "undone" in site.git("log", "-1", "--format=%s")


def test_a_redeploy_refused_after_the_commit_is_logged_with_its_undo_line(site, monkeypatch):
    """A refusal that only the redeploy finds (its check of the hosts with the run's models
    filter) comes after the commit: it is the deploy's failure: logged, the undo line shown,
    exit non-zero (a rollout stops)."""

    def refuse(*args, **kwargs):
        raise BadInput("host sentinel: refused by the run's check")

    monkeypatch.setattr(session_module, "check_hosts", refuse)
    monkeypatch.setattr(session_module, "run_deploy_file", must_not_run)
    done = site.cli("rollback", FR, "--previous", "--yes")
    assert done.exit_code != 0
    assert "Rollback face_recognition from 2026-02-02 to 2025-02-25 (committed)" in done.stdout
    refused = [line for line in done.stderr.splitlines() if "redeploy is refused" in line]
    assert len(refused) == 1 and "refused by the run's check" in refused[0]
    assert "undo with: sentinelcam-models rollback" in done.stderr
    assert [a["outcome"] for a in site.actions()] == ["changed", "deploy failed (exit 1)"]


# --- rollout steps: one Edit, pins that act -----------------------------------------------------


def runner(site, inventory=None):
    from sentinelcam_models.core import waves  # noqa: PLC0415
    from sentinelcam_models.fleet import rollouts  # noqa: PLC0415

    opened = session_module.Session(str(inventory or site.inventory), str(site.store))
    plan = waves.plan(HAAR, "2026-05-05", "2020-03-25", None, ["sentinel"], ["sentinel"], "100%", 0)
    return rollouts.Runner(opened, plan, lambda line: None)


def test_a_rollout_step_writes_registry_pins_and_state_in_one_commit(site):
    step = runner(site)
    step.step("promote", registry=("2026-05-05", "2020-03-25"), pins={"sentinel": "2020-03-25"})
    assert sorted(site.git("show", "--name-only", "--format=", "HEAD").split()) == [
        "inventories/group_data/model_registry.yaml",
        "inventories/host_data/sentinel.yaml",
        "inventories/rollouts/haarcascades.json",
    ]
    assert step.session.checked.settings["sentinel"].pins == {HAAR: "2020-03-25"}
    assert step.session.checked.registry.models[HAAR].current_version == "2026-05-05"


def test_a_canary_pin_the_inventory_does_not_load_refuses_the_step(site):
    plain = site.root / "inventories" / "plain.py"
    plain.write_text(site.inventory.read_text().replace("**_host_data(__file__, name)", ""))
    site.git("add", str(plain))
    site.git("commit", "-qm", "an inventory without host_data")
    before = site.state()
    step = runner(site, plain)
    with pytest.raises(
        BadInput, match="host sentinel does not show the pin haarcascades=2026-05-05"
    ):
        step.step("canary: sentinel", pins={"sentinel": "2026-05-05"})
    assert site.state() == before
    assert not (site.root / "inventories" / "rollouts" / "haarcascades.json").exists()
    assert step.rollout.steps == []


def test_rollout_undo_faces_remove_archive_and_init_store_ask_first(site):
    step = runner(site)
    step.step("canary: sentinel", pins={"sentinel": "2026-05-05"})
    before = site.state()
    for args in (
        ("rollout", "undo", HAAR),
        ("rollout", "resume", HAAR),
        ("faces", "remove-archive", "sentinel", "2025-02-25.faces-20260101T000000Z"),
        ("init-store",),
    ):
        done = site.cli(*args, store=False)  # refused before any host is reached (no SSH here)
        assert done.exit_code == 3, (args, done.output)
        [line] = error_lines(done)
        assert "no terminal to ask, and no --yes" in line, args
    assert site.state() == before
    [line] = error_lines(site.cli("rollout", "undo", HAAR, store=False))
    assert "registry back to 2020-03-25, temporary pins removed (sentinel)" in line


def test_a_staged_promote_dry_run_json_is_the_plan(site):
    before = site.state()
    done = site.cli("promote", HAAR, "2026-05-05", "--canary", "sentinel", "--dry-run", "--json")
    assert done.exit_code == 0, done.output
    plan = json.loads(done.stdout)
    assert plan["staged"] is True and plan["canary"] == ["sentinel"]
    assert plan["version"] == "2026-05-05" and plan["from"] == "2020-03-25"
    assert site.state() == before
