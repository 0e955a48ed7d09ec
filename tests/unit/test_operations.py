"""Custom operations: what they yield for given facts (pyinfra's harness), and what their commands
really do when run on this machine's filesystem with a local store as the rsync source."""

from __future__ import annotations

import subprocess

import pytest
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.util import FakeState, create_host

from operations import models
from sentinelcam_models import store

from .test_facts import run_fact
from facts.models import InstalledModels

DIGEST = "a" * 64


def commands(op, facts, data=None, **kwargs):
    state = FakeState()
    host = create_host(state, facts=facts, data=data or {})
    with ctx_state.use(state), ctx_host.use(host):
        return list(op._inner(**kwargs)), host


def installed(path, versions, staging=()):
    return {"models.InstalledModels": {f"deep=False, models_path={path}": {
        "face_recognition": {"versions": versions, "staging": list(staging)}}}}


def version_kwargs(**over):
    kwargs = dict(model="face_recognition", version="2026-02-02", models_path="/m",
                  source="ops@127.0.0.101:/store", digest=DIGEST,
                  linked_files=("facelist.csv", "facedata.hdf5"), user="ops")
    kwargs.update(over)
    return kwargs


def test_version_present_with_store_digest_is_a_noop():
    cmds, host = commands(models.version, installed("/m", {"2026-02-02": {"digest": DIGEST, "complete": True}}),
                          **version_kwargs())
    assert cmds == []
    assert host.noop_description == "face_recognition 2026-02-02 is installed and matches the store"


@pytest.mark.parametrize("info", [{"digest": "b" * 64, "complete": True}, {"digest": DIGEST, "complete": False}])
def test_version_with_other_digest_or_incomplete_is_reinstalled(info):
    cmds, _ = commands(models.version, installed("/m", {"2026-02-02": info}), **version_kwargs())
    assert len(cmds) == 1


def test_version_pulls_with_link_dest_from_newest_complete_other_version():
    facts = installed("/m", {
        "2025-02-25": {"digest": "c" * 64, "complete": True},
        "2025-11-20": {"digest": "d" * 64, "complete": True},
        "2026-01-01": {"digest": "e" * 64, "complete": False},
    })
    [cmd], _ = commands(models.version, facts, **version_kwargs())
    text = str(cmd)
    assert "link=2025-11-20\n" in text
    assert "src=ops@127.0.0.101:/store/face_recognition/2026-02-02/\n" in text
    assert "linked='facelist.csv facedata.hdf5'" in text
    assert f"digest={DIGEST}" in text


def test_version_quotes_every_value():
    [cmd], _ = commands(models.version, {"models.InstalledModels": {"deep=False, models_path=/m x": {}}},
                        **version_kwargs(models_path="/m x", source="ops@h:/s; rm -rf x"))
    assert "src='ops@h:/s; rm -rf x/face_recognition/2026-02-02/'" in str(cmd)
    assert "dir='/m x/face_recognition'" in str(cmd)


def test_version_runs_as_service_user_when_ssh_user_differs():
    [cmd], _ = commands(models.version, installed("/m", {}), data={"ssh_user": "admin"}, **version_kwargs())
    assert cmd.connector_arguments == {"_sudo": True, "_sudo_user": "ops"}
    [cmd], _ = commands(models.version, installed("/m", {}), data={"ssh_user": "ops"}, **version_kwargs())
    assert cmd.connector_arguments == {}


def test_staging_cleared_keeps_what_is_being_installed():
    facts = installed("/m", {}, staging=[".2026-02-02.partial", ".2025-01-01.partial"])
    [cmd], _ = commands(models.staging_cleared, facts, models_path="/m", keep=["face_recognition/2026-02-02"])
    assert str(cmd) == "rm -rf /m/face_recognition/.2025-01-01.partial"
    cmds, host = commands(models.staging_cleared, installed("/m", {}), models_path="/m", keep=[])
    assert cmds == [] and host.noop_description == "no leftover staging directories"


def test_facelist_noop_when_in_place_and_current():
    facts = {"models.Facelist": {"directory=/d": {"files": ["facedata_2026-02-02.hdf5", "facelist_2026-02-02.csv"],
                                                   "current": "facelist_2026-02-02.csv"}}}
    cmds, _ = commands(models.facelist, facts, version="2026-02-02", directory="/d", source="ops@h:/s")
    assert cmds == []
    facts["models.Facelist"]["directory=/d"]["current"] = "facelist_2025-02-25.csv"
    cmds, _ = commands(models.facelist, facts, version="2026-02-02", directory="/d", source="ops@h:/s")
    assert len(cmds) == 1


# --- the install script, run for real against a local store --------------------------------------

@pytest.fixture
def local_store(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "facemodel.pickle").write_bytes(b"model-v1" * 1000)
    (src / "baselines.hdf5").write_bytes(b"base")
    (src / "facelist.csv").write_text("store list\n")
    (src / "facedata.hdf5").write_bytes(b"store data")
    root = tmp_path / "store"
    store.publish(root, "face_recognition", src, "2026-02-02")
    return root


def run_install(tmp_path, root, version="2026-02-02", facts=None):
    models_path = tmp_path / "node"
    facts = facts if facts is not None else run_fact(InstalledModels(), models_path=str(models_path))
    digest = store.manifest_digest(root, "face_recognition", version)
    [cmd], _ = commands(models.version, {"models.InstalledModels": {f"deep=False, models_path={models_path}": facts}},
                        **version_kwargs(models_path=str(models_path), source=str(root), version=version, digest=digest))
    return subprocess.run(["sh", "-c", cmd.get_raw_value()], capture_output=True, text=True), models_path


def test_install_script_places_a_verified_version_and_keeps_node_owned_files(tmp_path, local_store):
    proc, node = run_install(tmp_path, local_store)
    assert proc.returncode == 0, proc.stderr
    target = node / "face_recognition" / "2026-02-02"
    assert (target / "facemodel.pickle").read_bytes() == b"model-v1" * 1000
    assert (target / "facelist.csv").read_text() == "store list\n"
    assert [p.name for p in (node / "face_recognition").iterdir()] == ["2026-02-02"]  # no staging left
    # The node curates its face list; a reinstall of the same version (e.g. a corrupted model
    # file) must keep the node's copy.
    (target / "facelist.csv").write_text("curated on the node\n")
    (target / "facemodel.pickle").write_bytes(b"corrupt")
    proc, _ = run_install(tmp_path, local_store, facts={"face_recognition": {"versions": {"2026-02-02": {"digest": "x", "complete": True}}, "staging": []}})
    assert proc.returncode == 0, proc.stderr
    assert (target / "facelist.csv").read_text() == "curated on the node\n"
    assert (target / "facemodel.pickle").read_bytes() == b"model-v1" * 1000


def test_install_script_refuses_a_store_copy_that_fails_its_manifest(tmp_path, local_store):
    (local_store / "face_recognition" / "2026-02-02" / "baselines.hdf5").write_bytes(b"tampered")
    proc, node = run_install(tmp_path, local_store)
    assert proc.returncode != 0
    assert "face_recognition 2026-02-02: verification against MANIFEST.sha256 failed" in proc.stderr
    assert not (node / "face_recognition" / "2026-02-02").exists()  # nothing points at a bad copy


def test_install_script_hard_links_unchanged_files_from_the_previous_version(tmp_path, local_store):
    proc, node = run_install(tmp_path, local_store)
    assert proc.returncode == 0, proc.stderr
    src = tmp_path / "src"
    (src / "baselines.hdf5").write_bytes(b"base v2")
    store.publish(local_store, "face_recognition", src, "2026-03-01")
    proc, _ = run_install(tmp_path, local_store, version="2026-03-01")
    assert proc.returncode == 0, proc.stderr
    old = node / "face_recognition" / "2026-02-02" / "facemodel.pickle"
    new = node / "face_recognition" / "2026-03-01" / "facemodel.pickle"
    assert old.stat().st_ino == new.stat().st_ino
    assert (node / "face_recognition" / "2026-03-01" / "baselines.hdf5").read_bytes() == b"base v2"


def test_pruned_keeps_protected_referenced_and_newest_spares():
    versions = {v: {"digest": "x", "complete": True} for v in
                ("2024-01-01", "2024-06-01", "2025-01-01", "2025-02-25", "2025-06-01", "2026-02-02")}
    facts = {
        "models.InstalledModels": {"deep=False, models_path=/m": {"face_recognition": {"versions": versions, "staging": []}}},
        "models.ConfigReferences": {"configs=['/c.yaml']": ["/m/face_recognition/2024-01-01/", "facelist_2024-01-01.csv"]},
    }
    [cmd], _ = commands(models.pruned, facts, models_path="/m", keep={"face_recognition": ["2026-02-02", "2025-02-25"]},
                        configs=["/c.yaml"], retain=1)
    assert str(cmd) == ("mv -T /m/face_recognition/2025-01-01 /m/face_recognition/.2025-01-01.deleting && "
                        "rm -rf /m/face_recognition/.2025-01-01.deleting && "
                        "mv -T /m/face_recognition/2024-06-01 /m/face_recognition/.2024-06-01.deleting && "
                        "rm -rf /m/face_recognition/.2024-06-01.deleting")
    cmds, host = commands(models.pruned, facts, models_path="/m", keep={"face_recognition": ["2026-02-02"]},
                          configs=["/c.yaml"], retain=5)
    assert cmds == [] and host.noop_description == "nothing to prune under /m"


def test_staging_cleared_removes_old_swaps_even_of_wanted_versions():
    facts = installed("/m", {}, staging=[".2026-02-02.partial", ".2026-02-02.old", ".2025-01-01.deleting"])
    [cmd], _ = commands(models.staging_cleared, facts, models_path="/m", keep=["face_recognition/2026-02-02"])
    assert str(cmd) == "rm -rf /m/face_recognition/.2026-02-02.old /m/face_recognition/.2025-01-01.deleting"


def test_version_reinstalls_a_present_version_whose_files_no_longer_match():
    facts = installed("/m", {"2026-02-02": {"digest": DIGEST, "complete": True, "intact": False}})
    cmds, _ = commands(models.version, facts, **version_kwargs())
    assert len(cmds) == 1
