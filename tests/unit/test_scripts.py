"""The node-side shell bodies (operations/scripts/*.sh), run for real on this machine.

Pulls go through the datasink's real forced command: an ``ssh`` stand-in on PATH runs
``rrsync -ro STORE`` with the requested command, exactly as ``authorized_keys``'
``command="rrsync -ro STORE"`` does on a datasink (the rsync package ships rrsync).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from facts.node import NodeState
from facts.shell import body, script, sequence
from operations import configs
from sentinelcam_models.core.manifest import format_manifest
from sentinelcam_models.core.untrusted import as_text
from sentinelcam_models.store.local import LocalStore
from tests.support.models import valid

RRSYNC = shutil.which("rrsync") or "/usr/bin/rrsync"
pytestmark = pytest.mark.skipif(
    not (shutil.which("rsync") and os.path.exists(RRSYNC)),
    reason="needs rsync with rrsync (Debian's rsync package)",
)
OWNED = "facelist.csv facedata.hdf5"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_script(
    name: str, env_path: Path | None = None, **assignments: str
) -> subprocess.CompletedProcess:
    command = script(name, {"what": name, "tries": "1", **assignments}).get_raw_value()
    env = dict(os.environ)
    if env_path is not None:
        env["PATH"] = f"{env_path}:{env['PATH']}"
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env)


@pytest.fixture
def store(tmp_path) -> Path:
    root = tmp_path / "store"
    root.mkdir()
    return root


@pytest.fixture
def shim(tmp_path, store) -> Path:
    """A PATH directory whose ``ssh`` behaves like a node key restricted to ``rrsync -ro STORE``."""
    return rrsync_shim(tmp_path, store)


def publish(store: Path, model: str, version: str, files: dict[str, bytes]) -> str:
    src = store.parent / f"src-{model}-{version}"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    return LocalStore(store).publish(model, version, src, list(files)).manifest_digest


def pull(
    shim: Path, root: Path, items: list[tuple[str, str, str, str, int]]
) -> subprocess.CompletedProcess:
    lines = "\n".join(" ".join(str(part) for part in item) for item in items)
    return run_script(
        "pull.sh",
        shim,
        root=str(root),
        stage=f"{root}/.sentinelcam-pull",
        src="ops@data1",
        port="22",
        ssh="ssh -o BatchMode=yes",
        owned=OWNED,
        items=lines,
    )


def test_pull_installs_verified_versions_in_one_session(tmp_path, store, shim):
    a = publish(store, "haarcascades", "2025-01-01", {"eye.bin": b"eye" * 1000})
    b = publish(store, "openface_torch", "2025-01-01", {"net.bin": b"net" * 1000})
    root = tmp_path / "models"
    done = pull(
        shim,
        root,
        [("haarcascades", "2025-01-01", a, "-", 0), ("openface_torch", "2025-01-01", b, "-", 0)],
    )
    assert done.returncode == 0, done.stderr
    assert (root / "haarcascades/2025-01-01/eye.bin").read_bytes() == b"eye" * 1000
    assert (root / "openface_torch/2025-01-01/net.bin").read_bytes() == b"net" * 1000
    assert done.stdout.count("Number of files:") == 1  # one rsync session for both versions
    received = int(done.stdout.split("sentinelcam: received ")[1].split()[0])
    assert 6000 < received < 6000 + 2000  # both files' bytes, and rsync's lists and checksums
    assert not (root / ".sentinelcam-pull").exists()


def test_pull_hard_links_unchanged_files_from_the_installed_version(tmp_path, store, shim):
    same = os.urandom(200_000)
    a = publish(store, "openface_torch", "2025-01-01", {"big.bin": same, "small": b"1"})
    b = publish(store, "openface_torch", "2025-02-01", {"big.bin": same, "small": b"2"})
    root = tmp_path / "models"
    assert pull(shim, root, [("openface_torch", "2025-01-01", a, "-", 0)]).returncode == 0
    done = pull(shim, root, [("openface_torch", "2025-02-01", b, "2025-01-01", 0)])
    assert done.returncode == 0, done.stderr
    old, new = (
        root / "openface_torch/2025-01-01/big.bin",
        root / "openface_torch/2025-02-01/big.bin",
    )
    assert old.stat().st_ino == new.stat().st_ino
    assert (
        root / "openface_torch/2025-01-01/small"
    ).read_bytes() == b"1"  # the basis is never modified
    assert (
        "Total transferred file size: " in done.stdout
        and int(done.stdout.split("Total transferred file size: ")[1].split()[0].replace(",", ""))
        < 1000
    )


def test_pull_refuses_a_store_manifest_that_changed(tmp_path, store, shim):
    a = publish(store, "haarcascades", "2025-01-01", {"eye.bin": b"eye"})
    done = pull(shim, tmp_path / "models", [("haarcascades", "2025-01-01", "0" * 64, "-", 0)])
    assert done.returncode == 1 and "store manifest changed during the deploy" in done.stderr
    assert a != "0" * 64 and not (tmp_path / "models/haarcascades/2025-01-01").exists()


@pytest.mark.parametrize("final_newline", [True, False])
def test_pull_repairs_a_damaged_basis_file_with_its_store_size_and_mtime(
    tmp_path, store, shim, final_newline
):
    # The damaged file is the manifest's last line, which may lack its newline (parse_manifest
    # and the store accept that): it is checked all the same.
    data = os.urandom(5000)
    a = publish(store, "m", "2025-01-01", {"g": b"1", "z": data})
    b = publish(store, "m", "2025-02-01", {"g": b"2", "z": data})
    if not final_newline:
        manifest = store / "m/2025-02-01/MANIFEST.sha256"
        text = manifest.read_bytes()
        assert text.endswith(b"  z\n")
        manifest.chmod(0o644)
        manifest.write_bytes(text.rstrip(b"\n"))
        b = sha(text.rstrip(b"\n"))
    root = tmp_path / "models"
    assert pull(shim, root, [("m", "2025-01-01", a, "-", 0)]).returncode == 0
    damaged = root / "m/2025-01-01/z"
    st = damaged.stat()
    damaged.write_bytes(bytes([data[0] ^ 1]) + data[1:])  # same size, mtime put back below
    os.utime(damaged, ns=(st.st_atime_ns, st.st_mtime_ns))
    done = pull(shim, root, [("m", "2025-02-01", b, "2025-01-01", 0)])
    assert done.returncode == 0, done.stderr
    assert (root / "m/2025-02-01/z").read_bytes() == data


@pytest.mark.parametrize("hostile", ["symlink", "setuid", "dotdot"])
def test_pull_never_installs_links_setuid_bits_or_paths_outside_the_version(
    tmp_path, store, shim, hostile
):
    digest = publish(store, "m", "2025-01-01", {"f": b"model", "g": b"labels"})
    version = store / "m/2025-01-01"
    if hostile == "symlink":  # the store was tampered with after publish
        (version / "g").unlink()
        (version / "g").symlink_to("/etc/hostname")
    elif hostile == "setuid":
        (version / "f").chmod(0o4755)
    else:
        manifest = version / "MANIFEST.sha256"
        manifest.write_text(manifest.read_text() + f"{sha(b'x')}  ../../etc/hostname\n")
        digest = sha(manifest.read_bytes())
    root = tmp_path / "models"
    done = pull(shim, root, [("m", "2025-01-01", digest, "-", 0)])
    target = root / "m/2025-01-01"
    if hostile == "setuid":
        assert done.returncode == 0, done.stderr
        assert not target.joinpath("f").stat().st_mode & (
            stat.S_ISUID | stat.S_ISGID | stat.S_IXUSR
        )
    else:
        assert done.returncode == 1, done.stdout
        assert not target.exists()


def test_pull_reinstall_keeps_the_nodes_own_face_files(tmp_path, store, shim):
    files = dict(FACE_FILES)
    digest = publish(store, "face_recognition", "2025-01-01", files)
    root = tmp_path / "models"
    assert pull(shim, root, [("face_recognition", "2025-01-01", digest, "-", 0)]).returncode == 0
    version = root / "face_recognition/2025-01-01"
    (version / "facelist.csv").write_bytes(b"curated on the node")
    (version / "baselines.hdf5").unlink()  # damaged: the version is reinstalled in place
    done = pull(shim, root, [("face_recognition", "2025-01-01", digest, "-", 1)])
    assert done.returncode == 0, done.stderr
    assert (version / "facelist.csv").read_bytes() == b"curated on the node"
    assert (version / "baselines.hdf5").read_bytes() == FACE_FILES["baselines.hdf5"]


def counting(shim: Path, log: Path, *programs: str) -> None:
    """Wrap ``programs`` in the shim directory so each start is logged to ``log``."""
    for program in programs:
        real = shutil.which(program)
        assert real, program
        wrapper = shim / program
        wrapper.write_text(f'#!/bin/sh\necho {program} >> "{log}"\nexec {real} "$@"\n')
        wrapper.chmod(0o755)


def test_pull_verifies_every_version_with_one_process_of_each_kind(tmp_path, store, shim):
    # On a small node the processes cost more CPU than the bytes (issue 22.8): one mkdir per
    # kind of directory, one grep, one digest pass and one `sha256sum -c` for all versions, not
    # several per version. A node-owned face file kept in place is still left out of the check.
    files = dict(FACE_FILES)
    face = publish(store, "face_recognition", "2025-01-01", files)
    root = tmp_path / "models"
    assert pull(shim, root, [("face_recognition", "2025-01-01", face, "-", 0)]).returncode == 0
    (root / "face_recognition/2025-01-01/facelist.csv").write_bytes(b"curated on the node")
    (root / "face_recognition/2025-01-01/baselines.hdf5").unlink()  # reinstalled in place
    items = [("face_recognition", "2025-01-01", face, "-", 1)]
    for index, model in enumerate(("haarcascades", "openface_torch", "mobilenet_ssd")):
        data = os.urandom(3000 + index)
        items.append(
            (model, "2025-01-01", publish(store, model, "2025-01-01", {"f.bin": data}), "-", 0)
        )
    log = tmp_path / "started.log"
    counting(shim, log, "sha256sum", "grep", "mkdir", "cut", "sed", "tr")
    done = pull(shim, root, items)
    assert done.returncode == 0, done.stderr
    started = log.read_text().split()
    assert {p: started.count(p) for p in sorted(set(started))} == {
        "grep": 1,
        "mkdir": 3,
        "sha256sum": 2,
    }
    assert done.stdout.count("sentinelcam: installed ") == 4
    assert (
        root / "face_recognition/2025-01-01/facelist.csv"
    ).read_bytes() == b"curated on the node"
    assert (root / "face_recognition/2025-01-01/baselines.hdf5").read_bytes() == FACE_FILES[
        "baselines.hdf5"
    ]
    for model, version, _, _, _ in items[1:]:
        assert (root / model / version / "f.bin").stat().st_size >= 3000


def test_pull_checks_each_version_alone_when_one_does_not_match(tmp_path, store, shim):
    # The one-pass check failing (a store manifest that changed) falls back to each version's own
    # check: the good one is installed, the bad one refused by name, nothing half-installed.
    good = publish(store, "haarcascades", "2025-01-01", {"eye.bin": b"eye" * 100})
    publish(store, "openface_torch", "2025-01-01", {"net.bin": b"net" * 100})
    root = tmp_path / "models"
    done = pull(
        shim,
        root,
        [
            ("haarcascades", "2025-01-01", good, "-", 0),
            ("openface_torch", "2025-01-01", "0" * 64, "-", 0),
        ],
    )
    assert done.returncode != 0
    assert "openface_torch 2025-01-01: store manifest changed" in done.stderr
    assert (root / "haarcascades/2025-01-01/eye.bin").read_bytes() == b"eye" * 100
    assert not (root / "openface_torch").exists()  # not even an empty model directory


@pytest.mark.parametrize("with_another", [False, True])
def test_pull_refuses_a_version_whose_manifest_checks_nothing(tmp_path, store, shim, with_another):
    # A store version with an empty manifest and an unlisted file has nothing to check: refused,
    # also when pulled with a good version whose check lines would pass the one-pass check.
    items = []
    if with_another:
        items.append(
            (
                "haarcascades",
                "2025-01-01",
                publish(store, "haarcascades", "2025-01-01", {"eye.bin": b"eye"}),
                "-",
                0,
            )
        )
    empty = store / "openface_torch/2025-01-01"
    empty.mkdir(parents=True)
    (empty / "MANIFEST.sha256").write_bytes(b"")
    (empty / "junk").write_bytes(b"?")
    items.append(("openface_torch", "2025-01-01", sha(b""), "-", 0))
    root = tmp_path / "models"
    done = pull(shim, root, items)
    assert done.returncode != 0
    assert "openface_torch 2025-01-01: verification against MANIFEST.sha256 failed" in done.stderr
    assert not (root / "openface_torch").exists()
    if with_another:
        assert (root / "haarcascades/2025-01-01/eye.bin").read_bytes() == b"eye"


def facelist(shim: Path, directory: Path, version: str, switch: str) -> subprocess.CompletedProcess:
    return run_script(
        "facelist.sh",
        shim,
        dir=str(directory),
        v=version,
        src="ops@data1",
        port="22",
        ssh="ssh -o BatchMode=yes",
        switch=switch,
    )


def original_copy(root: Path, files: dict[str, bytes]) -> Path:
    """A version directory as the original's deploys left it: the files, no manifest."""
    version = root / "face_recognition/2025-01-01"
    version.mkdir(parents=True)
    for name, data in files.items():
        (version / name).write_bytes(data)
    return version


FACE_FILES = {
    "facemodel.pickle": valid("facemodel.pickle"),
    "baselines.hdf5": valid("baselines.hdf5", os.urandom(8).hex(), size=50_000),
    "facelist.csv": valid("facelist.csv", "store list"),
    "facedata.hdf5": valid("facedata.hdf5", "store data"),
}


def test_facelist_places_the_files_in_the_pull_then_only_switches(tmp_path, store, shim):
    publish(store, "face_recognition", "2025-01-01", FACE_FILES)
    directory = tmp_path / "faces"
    fetched = facelist(shim, directory, "2025-01-01", "0")  # in the pull operation
    assert fetched.returncode == 0, fetched.stderr
    assert (directory / "facelist_2025-01-01.csv").read_bytes() == FACE_FILES["facelist.csv"]
    assert (directory / "facedata_2025-01-01.hdf5").read_bytes() == FACE_FILES["facedata.hdf5"]
    assert not os.path.lexists(directory / "facelist_current.csv")  # not switched yet
    shutil.rmtree(store / "face_recognition")  # the switch needs no datasink
    switched = facelist(shim, directory, "2025-01-01", "1")
    assert switched.returncode == 0, switched.stderr
    assert os.readlink(directory / "facelist_current.csv") == "facelist_2025-01-01.csv"
    assert sorted(p.name for p in directory.iterdir()) == [
        "facedata_2025-01-01.hdf5",
        "facelist_2025-01-01.csv",
        "facelist_current.csv",
    ]


def test_pull_adopts_a_manifest_less_copy_with_the_store_s_bytes_in_place(tmp_path, store, shim):
    digest = publish(store, "face_recognition", "2025-01-01", FACE_FILES)
    version = original_copy(tmp_path / "models", {**FACE_FILES, "facelist.csv": b"curated"})
    inode = (version / "facemodel.pickle").stat().st_ino
    done = pull(shim, tmp_path / "models", [("face_recognition", "2025-01-01", digest, "-", 1)])
    assert done.returncode == 0, done.stderr
    assert "sentinelcam: adopted face_recognition 2025-01-01" in done.stdout
    assert (version / "facemodel.pickle").stat().st_ino == inode  # the same file: nothing re-pulled
    assert int(done.stdout.split("sentinelcam: received ")[1].split()[0]) < 5_000  # the manifest
    assert (version / "MANIFEST.sha256").read_bytes() == (
        store / "face_recognition/2025-01-01/MANIFEST.sha256"
    ).read_bytes()
    assert (version / "facelist.csv").read_bytes() == b"curated"  # node-owned: kept as it is
    assert not (tmp_path / "models/.sentinelcam-pull").exists()


def test_pull_repairs_a_manifest_less_copy_that_differs_from_the_store(tmp_path, store, shim):
    digest = publish(store, "face_recognition", "2025-01-01", FACE_FILES)
    damaged = {**FACE_FILES, "baselines.hdf5": b"not the store's"}
    version = original_copy(tmp_path / "models", damaged)
    done = pull(shim, tmp_path / "models", [("face_recognition", "2025-01-01", digest, "-", 1)])
    assert done.returncode == 0, done.stderr
    assert "sentinelcam: installed face_recognition 2025-01-01" in done.stdout
    assert (version / "baselines.hdf5").read_bytes() == FACE_FILES["baselines.hdf5"]


def node_state(root: Path, *configs: Path, deep: bool = False):
    fact = NodeState()
    command = fact.command(
        roots=[str(root)],
        configs=[str(c) for c in configs],
        services=[],
        deep=deep,
        owned=OWNED.split(),
    )
    done = subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return fact.process(done.stdout.splitlines())


def install(root: Path, model: str, version: str, files: dict[str, bytes]) -> str:
    target = root / model / version
    target.mkdir(parents=True)
    for name, data in files.items():
        (target / name).write_bytes(data)
    manifest = format_manifest({name: sha(data) for name, data in files.items()}).encode()
    (target / "MANIFEST.sha256").write_bytes(manifest)
    return sha(manifest)


def test_node_state_reports_versions_face_files_configs_and_deep_checks(tmp_path):
    root = tmp_path / "models"
    digest = install(
        root,
        "face_recognition",
        "2025-01-01",
        {"facelist.csv": b"a", "facedata.hdf5": b"b", "facemodel.pickle": b"c"},
    )
    install(root, "haarcascades", "2025-01-01", {"haarcascade_eye.xml": b"x"})
    (root / "haarcascades/2025-02-02").mkdir()  # no manifest: not a version anyone can trust
    (root / "face_recognition/.2025-03-03.partial").mkdir()
    (root / "face_recognition/2025-01-01/facelist.csv").write_bytes(b"curated")
    (root / "haarcascades/2025-01-01/haarcascade_eye.xml").write_bytes(b"y")  # corrupt
    config = tmp_path / "FaceRecon.yaml"
    config.write_text("facemodel: x\r\n")
    state = node_state(root, config, tmp_path / "absent.yaml", deep=True)
    face = state.installed[str(root)]["face_recognition"]["2025-01-01"]
    assert (face.digest, face.complete, face.intact, face.node_modified) == (
        digest,
        True,
        True,
        ("facelist.csv",),
    )
    assert state.installed[str(root)]["haarcascades"]["2025-01-01"].intact is False
    assert state.installed[str(root)]["haarcascades"]["2025-02-02"].digest is None
    assert state.staging[str(root)] == (("face_recognition", ".2025-03-03.partial"),)
    assert state.configs == {str(config): "facemodel: x\r\n", str(tmp_path / "absent.yaml"): None}
    assert state.problems == ()


def test_node_state_cannot_be_forged_by_a_directory_name(tmp_path):
    root = tmp_path / "models"
    install(root, "face_recognition", "2025-01-01", {"facemodel.pickle": b"c"})
    forged = f"x\nV 0 face_recognition 2026-06-06 {'a' * 64} 1"
    (root / "face_recognition" / forged).mkdir()
    (root / forged.replace("\n", "")).mkdir()
    (root / "face_recognition" / ".git").mkdir()
    state = node_state(root)
    assert sorted(state.installed[str(root)]["face_recognition"]) == ["2025-01-01"]
    assert state.staging[str(root)] == ()


def test_prune_archives_node_modified_face_files_then_removes_the_version(tmp_path):
    root = tmp_path / "models"
    install(
        root,
        "face_recognition",
        "2025-01-01",
        {"facelist.csv": b"store", "facedata.hdf5": b"d", "facemodel.pickle": b"c"},
    )
    (root / "face_recognition/2025-01-01/facelist.csv").write_bytes(b"40 curated faces")
    (root / "face_recognition/2024-01-01").mkdir()  # no manifest: not ours to remove
    done = run_script(
        "prune.sh",
        root=str(root),
        model="face_recognition",
        versions="2025-01-01 2024-01-01",
        owned=OWNED,
    )
    assert done.returncode == 0, done.stderr
    assert not (root / "face_recognition/2025-01-01").exists()
    assert (root / "face_recognition/2024-01-01").exists()
    [archive] = sorted((root / "face_recognition").glob("2025-01-01.faces-*"))
    assert (archive / "facelist.csv").read_bytes() == b"40 curated faces"
    assert not (archive / "facedata.hdf5").exists()  # equal to the store's copy: nothing to keep


def test_carry_copies_working_files_and_archives_the_targets_own_curated_copies(tmp_path):
    root = tmp_path / "models"
    files = {"facelist.csv": b"store", "facedata.hdf5": b"data", "facemodel.pickle": b"c"}
    install(root, "face_recognition", "2025-01-01", files)
    install(root, "face_recognition", "2025-06-01", files)
    (root / "face_recognition/2025-01-01/facelist.csv").write_bytes(b"working list")
    (root / "face_recognition/2025-06-01/facelist.csv").write_bytes(b"older curation of the target")
    done = run_script(
        "faces_carry.sh",
        dir=str(root / "face_recognition"),
        **{"from": "2025-01-01"},
        to="2025-06-01",
        files=OWNED,
    )
    assert done.returncode == 0, done.stderr
    assert (root / "face_recognition/2025-06-01/facelist.csv").read_bytes() == b"working list"
    [archive] = sorted((root / "face_recognition").glob("2025-06-01.faces-*"))
    assert (archive / "facelist.csv").read_bytes() == b"older curation of the target"


def config_write(dest: Path, data: bytes, env: dict[str, str] | None = None):
    """``data`` written to ``dest`` by the command configs.file gives (config_stage.sh, then
    config_commit.sh)."""
    return run_configs([(dest, data)], env)


def run_configs(writes: list[tuple[Path, bytes]], env: dict[str, str] | None = None, digests=None):
    """One command writing each ``(dest, data)`` as configs.files does; ``digests`` in place of
    the data's own (a file whose bytes arrive other than rendered)."""
    parts = [configs.stage(str(dest), as_text(data)) for dest, data in writes]
    for (_, inputs), digest in zip(parts, digests or [], strict=False):
        inputs["digest"] = digest
    command = sequence([*parts, configs.COMMIT]).get_raw_value()
    return subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def test_config_write_is_exact_and_keeps_the_mode(tmp_path):
    dest = tmp_path / "imagenode.yaml"
    dest.write_text("old\n")
    dest.chmod(0o640)
    for content in ("a: 1\r\nb: '%s' $HOME `x`\n\n", "# caf\xe9\n"):  # text, then base64
        data = content.encode("latin-1")
        done = config_write(dest, data)
        assert done.returncode == 0, done.stderr
        assert dest.read_bytes() == data and stat.S_IMODE(dest.stat().st_mode) == 0o640
    bad = run_configs([(dest, b"other\n")], digests=["0" * 64])
    assert bad.returncode == 1 and "differ from the rendered config" in bad.stderr
    assert dest.read_bytes() == data and sorted(p.name for p in tmp_path.iterdir()) == [
        "imagenode.yaml"
    ]


def test_configs_of_one_command_go_in_place_together_or_not_at_all(tmp_path):
    # Several files: each keeps its own mode (a new one 0644); one whose bytes differ from the
    # rendered ones stops them all before any rename, and no temp file is left.
    kept, other, new = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "sub" / "c.yaml"
    for path, mode in ((kept, 0o640), (other, 0o600)):
        path.write_text("old\n")
        path.chmod(mode)
    writes = [(kept, b"a: 1\n"), (other, b"b: 2\n"), (new, b"c: 3\n")]
    bad = run_configs(writes, digests=[sha(b"a: 1\n"), "0" * 64, sha(b"c: 3\n")])
    assert bad.returncode == 1
    assert kept.read_text() == other.read_text() == "old\n" and not new.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.yaml", "b.yaml", "sub"]
    done = run_configs(writes)
    assert done.returncode == 0, done.stderr
    assert [p.read_bytes() for p, _ in writes] == [data for _, data in writes]
    assert [stat.S_IMODE(p.stat().st_mode) for p, _ in writes] == [0o640, 0o600, 0o644]


def test_a_config_command_that_fails_renames_nothing_and_leaves_no_temp_file(tmp_path):
    # A later file that cannot be staged (its directory is a file), a place that is a directory,
    # a file whose bytes differ (named in the error): nothing renamed, no temp file left.
    first, blocked, directory = tmp_path / "a.yaml", tmp_path / "f" / "b.yaml", tmp_path / "d"
    (tmp_path / "f").write_text("a file\n")
    directory.mkdir()
    second = tmp_path / "c.yaml"
    for writes, digests, says in (
        ([(first, b"a: 1\n"), (blocked, b"b: 1\n")], None, "cannot create"),
        ([(first, b"a: 1\n"), (directory, b"d: 1\n")], None, "is a directory"),
        ([(first, b"a: 1\n"), (second, b"c: 1\n")], [sha(b"a: 1\n"), "0" * 64], f" {second} "),
    ):
        done = run_configs(writes, digests=digests)
        assert done.returncode == 1 and says in done.stderr, done.stderr
        assert sorted(p.name for p in tmp_path.rglob("*")) == ["d", "f"]


def test_a_config_keeps_its_mode_through_a_link_and_its_special_bits(tmp_path):
    # As chmod --reference did: a link's target's mode (the link becomes the file), setuid and
    # sticky bits included; bytes with a NUL travel in base64, exactly.
    target, link, special = tmp_path / "target", tmp_path / "link.yaml", tmp_path / "s.yaml"
    target.write_text("old\n")
    target.chmod(0o600)
    link.symlink_to(target)
    special.write_text("old\n")
    special.chmod(0o4751)
    data = "a: 1\n\x00b: \u00e9\n".encode()
    done = run_configs([(link, data), (special, b"s: 1\n")])
    assert done.returncode == 0, done.stderr
    assert not link.is_symlink() and link.read_bytes() == data and target.read_text() == "old\n"
    assert stat.S_IMODE(link.stat().st_mode) == 0o600
    assert stat.S_IMODE(special.stat().st_mode) == 0o4751


def test_config_staging_ignores_what_the_environment_calls_staged(tmp_path):
    # The list of staged temp files starts empty in every command: a "staged" from the login's
    # environment is never checked, renamed or removed.
    victim = tmp_path / "victim"
    victim.write_text("theirs\n")
    dest = tmp_path / "x.yaml"
    env = {"staged": f"{victim}\n", "wanted": f"{sha(b'theirs')}  {victim}\n"}
    bad = run_configs([(dest, b"x: 1\n")], env, digests=["0" * 64])
    assert bad.returncode == 1 and victim.read_text() == "theirs\n"
    done = config_write(dest, b"x: 1\n", env)
    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == b"x: 1\n" and victim.read_text() == "theirs\n"


def test_config_write_gives_a_new_file_0644_over_a_leftover_temp_file_or_link(tmp_path):
    # A temp file left by an interrupted write (any mode) or a link in its place is removed
    # first, never written through; the new config is 0644.
    outside = tmp_path / "outside"
    outside.write_text("not ours\n")
    for leftover in ("file", "link"):
        dest = tmp_path / f"new-{leftover}.yaml"
        tmp = tmp_path / f".new-{leftover}.yaml.sentinelcam-tmp"
        if leftover == "file":
            tmp.write_text("half")
            tmp.chmod(0o777)
        else:
            tmp.symlink_to(outside)
        done = config_write(dest, b"a: 1\n")
        assert done.returncode == 0, done.stderr
        assert dest.read_bytes() == b"a: 1\n" and stat.S_IMODE(dest.stat().st_mode) == 0o644
        assert not tmp.exists() and not tmp.is_symlink()
    assert outside.read_text() == "not ours\n"


def test_a_new_config_or_health_record_is_0644_under_a_directory_s_default_acl(tmp_path):
    # A default ACL (other roles may set one on a real Pi) overrides the umask: a new file would
    # get the ACL's 0664. The config and the health record are created 0644 all the same.
    directory = tmp_path / "node"
    directory.mkdir()
    entries = ((0x01, 6), (0x04, 6), (0x20, 4))  # user::rw- group::rw- other::r--
    acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, 0xFFFFFFFF) for t, p in entries)
    os.setxattr(directory, "system.posix_acl_default", acl)
    config, record = directory / "sentinel.yaml", directory / "health.json"
    done = config_write(config, b"a: 1\n")
    assert done.returncode == 0, done.stderr
    done = run_script("health_record.sh", record=str(record), head='{"time": "', tail='"}')
    assert done.returncode == 0, done.stderr
    unprotected = directory / "plain"
    unprotected.touch()
    assert stat.S_IMODE(unprotected.stat().st_mode) == 0o664  # what the ACL alone gives
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    assert stat.S_IMODE(record.stat().st_mode) == 0o644


def test_node_state_gives_no_digest_to_a_malformed_or_linked_manifest(tmp_path):
    root = tmp_path / "models"
    good = install(root, "haarcascades", "2025-01-01", {"haarcascade_eye.xml": b"x"})
    install(root, "haarcascades", "2025-02-02", {"haarcascade_eye.xml": b"y"})
    with open(root / "haarcascades/2025-02-02/MANIFEST.sha256", "a") as manifest:
        manifest.write("not a manifest line\n")  # one bad line: the whole manifest is refused
    linked = root / "haarcascades/2025-03-03"
    linked.mkdir()
    (linked / "MANIFEST.sha256").symlink_to(root / "haarcascades/2025-01-01/MANIFEST.sha256")
    state = node_state(root)
    versions = state.installed[str(root)]["haarcascades"]
    assert versions["2025-01-01"].digest == good and versions["2025-01-01"].complete
    assert versions["2025-02-02"].digest is None and not versions["2025-02-02"].complete
    assert versions["2025-03-03"].digest is None and not versions["2025-03-03"].complete


def test_node_state_reads_each_service_with_one_systemctl_call(tmp_path):
    """systemctl prints properties in its own order; each service is asked once."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "systemctl"
    fake.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\n'
        'case "$*" in *imagenode*) printf "NRestarts=3\\nActiveState=activating\\n" ;;\n'
        '*) printf "ActiveState=active\\nNRestarts=0\\n" ;; esac\n'
    )
    fake.chmod(0o755)
    fact = NodeState()
    command = fact.command(
        roots=[], configs=[], services=["sentinel", "imagenode"], deep=False, owned=[]
    )
    done = subprocess.run(
        ["sh", "-c", command.get_raw_value()],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    assert done.returncode == 0, done.stderr
    state = fact.process(done.stdout.splitlines())
    assert {s: (v.active, v.restarts) for s, v in state.services.items()} == {
        "sentinel": ("active", 0),
        "imagenode": ("activating", 3),
    }
    assert len(calls.read_text().splitlines()) == 2


def run_node_state(fact: NodeState, env_path: Path | None = None, **asked):
    command = fact.command(**{"roots": [], "configs": [], "services": [], **asked})
    env = dict(os.environ)
    if env_path is not None:
        env["PATH"] = f"{env_path}:{env['PATH']}"
    done = subprocess.run(
        ["sh", "-c", command.get_raw_value()], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return fact.process(done.stdout.splitlines())


def test_node_state_survives_a_hostile_health_record(tmp_path):
    """A service account that writes a deeply nested health.json (RecursionError in json.loads)
    gets its record ignored and reported; the node's answer stays usable."""
    health = tmp_path / "health.json"
    health.write_text("[" * 20_000 + "]" * 20_000)
    state = run_node_state(NodeState(), health=str(health))
    assert state.failure is None and state.health is None and state.login
    assert state.problems and "health record ignored" in state.problems[0]


@pytest.mark.parametrize(
    "printed",
    [
        '{"pycoral": "1"}, "-I": {"a": 1}',  # once a duplicate-key record of the whole answer
        '{"tflite_runtime": "2.17.1" "pycoral": null}',  # a syntax error inside the document
        "{'tflite_runtime': '2.17.1', 'pycoral': None}",  # a Python dict
        '{"tflite_runtime": "2.17.1", "pycoral": "\\q"}',
    ],
    ids=["trailing text", "missing comma", "python repr", "bad escape"],
)
def test_node_state_never_pastes_a_venv_pythons_output(tmp_path, printed):
    """A replaced ~/.opencv/bin/python prints text that once made the answer a duplicate-key JSON
    record (AttributeError for the whole run); whatever it prints, that venv fails this host with
    one line (a syntax error too, which Python 3.11's json scanner reports as SystemError when
    json.decoder is not loaded)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(printed)}\n")
    python.chmod(0o755)
    state = run_node_state(NodeState(), coral_package="libedgetpu1-std", coral_venvs=[str(venv)])
    assert state.failure is not None and str(venv) in state.failure
    assert "\n" not in state.failure


@pytest.mark.parametrize(
    "hang",
    ["exec sleep 600", "echo '{}'; exec >&-; exec sleep 600"],
    ids=["its output open", "its output closed"],
)
def test_node_state_times_out_a_hanging_venv_python(tmp_path, monkeypatch, hang):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f"#!/bin/sh\n{hang}\n")
    python.chmod(0o755)
    program = body("node_state.py").replace("PROGRAM_TIMEOUT = 20", "PROGRAM_TIMEOUT = 0.2")
    monkeypatch.setattr("facts.node.body", lambda name: program)
    state = run_node_state(NodeState(), coral_package="libedgetpu1-std", coral_venvs=[str(venv)])
    assert state.failure is not None and "timed out" in state.failure


def test_node_state_waits_for_a_program_to_exit_without_sleeping(tmp_path):
    # A program whose output ended is waited for on a pidfd (woken when it exits), not by polling
    # waitpid between sleeps, whose latency each node's answer paid (issue 22.8). The program
    # closes its output, then lingers; node_state.py runs with time.sleep refused.
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(
        '#!/bin/sh\necho \'{"tflite_runtime": "2.17.1", "pycoral": null}\'\nexec >&-\nsleep 0.3\n'
    )
    python.chmod(0o755)
    venv = str(tmp_path / "venv")
    command = NodeState().command(
        roots=[], configs=[], services=[], coral_package="libedgetpu1-std", coral_venvs=[venv]
    )
    request = shlex.split(command.get_raw_value())[-1]
    wrapper = (
        "import time\n"
        "def _slept(*args):\n"
        "    raise SystemExit('node_state.py slept')\n"
        "time.sleep = _slept\n"
        f"exec(compile({body('node_state.py')!r}, 'node_state.py', 'exec'))\n"
    )
    done = subprocess.run(
        ["python3", "-I", "-S", "-c", wrapper, request], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert json.loads(done.stdout)["coral"]["venvs"] == {
        venv: {"tflite_runtime": "2.17.1", "pycoral": None}
    }


def test_node_state_reads_a_programs_output_up_to_its_cap_and_its_exit_code(tmp_path):
    # A venv python that prints more than the cap fails that host with one line; one that exits
    # non-zero too; each is run without a shell, its stdin and stderr /dev/null.
    for name, text in (
        ("much", "#!/bin/sh\nhead -c 200000 /dev/zero | tr '\\0' x\n"),
        ("fails", '#!/bin/sh\necho \'{"tflite_runtime": null, "pycoral": null}\'; exit 3\n'),
        (
            "ok",
            '#!/bin/sh\nread -r line || true\necho "$line" >&2\n'
            'echo \'{"tflite_runtime": "2.17.1", "pycoral": null}\'\n',
        ),
    ):
        python = tmp_path / name / "bin" / "python"
        python.parent.mkdir(parents=True)
        python.write_text(text)
        python.chmod(0o755)
    venvs = [str(tmp_path / n) for n in ("much", "fails", "ok")]
    fact = NodeState()
    command = fact.command(
        roots=[], configs=[], services=[], coral_package="libedgetpu1-std", coral_venvs=venvs
    )
    done = subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    document = json.loads(done.stdout)
    assert document["coral"]["venvs"] == {
        venvs[0]: {"error": "its python failed, timed out or printed too much"},
        venvs[1]: {"error": "its python failed, timed out or printed too much"},
        venvs[2]: {"tflite_runtime": "2.17.1", "pycoral": None},
    }


def test_node_state_runs_its_programs_with_sigpipe_and_sigxfsz_at_their_defaults(tmp_path):
    # Python ignores SIGPIPE and SIGXFSZ; an ignored signal stays ignored across exec, so a
    # program run from node_state.py must get them back at their defaults (as subprocess did).
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(
        "#!/bin/sh\nwhile read -r key value; do\n"
        '  [ "$key" = SigIgn: ] && ignored=$value\ndone </proc/$$/status\n'
        "[ $((0x$ignored & 0x1001000)) = 0 ] || exit 3\n"  # bits of signals 13 and 25
        'echo \'{"tflite_runtime": "2.17.1", "pycoral": null}\'\n'
    )
    python.chmod(0o755)
    venv = str(tmp_path / "venv")
    state = run_node_state(NodeState(), coral_package="libedgetpu1-std", coral_venvs=[venv])
    assert state.failure is None, state.failure


def test_node_state_imports_no_costly_module_on_a_node_without_versions():
    # Their imports cost more CPU than the rest of the program, once per node per deploy (issue
    # 22.8): subprocess, base64 and hashlib; re and signal (each imports enum) and json (imports
    # re), 6 ms of the 33 a node spent on its answer. A node that holds no version needs none.
    request = {
        "roots": ["/nonexistent"],
        "configs": [],
        "services": [],
        "facelists": "",
        "deep": False,
        "owned": [],
        "health": "",
        "coral_package": "",
        "coral_venvs": [],
    }
    probe = body("node_state.py") + (
        "\nimport sys as _s\n_s.stderr.write(' '.join(sorted(_s.modules)))\n"
    )
    done = subprocess.run(
        ["python3", "-I", "-S", "-c", probe, json.dumps(request)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["roots"] == [{"staging": [], "versions": []}]
    modules = set(done.stderr.split())
    assert "posix" in modules  # the program ran and reported its modules
    costly = {"subprocess", "base64", "hashlib", "re", "enum", "json", "signal"}
    assert not modules & costly, modules & costly


# --- issue 23.3: each key reads only its role's served root ---------------------------------------


def rrsync_shim(tmp_path: Path, root: Path) -> Path:
    """A PATH directory whose ``ssh`` behaves like a key forced to ``rrsync -ro ROOT``."""
    bin_dir = tmp_path / f"bin-{root.name}"
    bin_dir.mkdir()
    ssh = bin_dir / "ssh"
    ssh.write_text(f"""#!/bin/sh
# skip ssh options and the destination, keep the remote command (what sshd hands the forced command)
while [ $# -gt 0 ]; do
  case $1 in -o|-p|-i|-l) shift 2 ;; -*) shift ;; *) shift; break ;; esac
done
SSH_ORIGINAL_COMMAND="$*" exec python3 {RRSYNC} -ro {root}
""")
    ssh.chmod(0o755)
    return bin_dir


def fetch(shim: Path, path: str, dest: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["rsync", "-r", "-e", "ssh", f"ops@data1:{path}", str(dest)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"},
    )


def test_an_outposts_key_cannot_fetch_face_files_and_no_key_fetches_an_upload(tmp_path, store):
    from sentinelcam_models.core.serving import root_path  # noqa: PLC0415
    from sentinelcam_models.store.served import serve  # noqa: PLC0415

    publish(
        store,
        "face_recognition",
        "2025-01-01",
        {
            "facelist.csv": FACE_FILES["facelist.csv"],
            "facedata.hdf5": FACE_FILES["facedata.hdf5"],
            "facemodel.pickle": FACE_FILES["facemodel.pickle"],
        },
    )
    publish(store, "mobilenet_ssd", "2020-12-06", {"frozen_inference_graph.pb": b"g"})
    upload = store / ".upload-0123456789abcdef"
    upload.mkdir()
    (upload / "facedata.hdf5").write_bytes(b"an upload in progress")
    serve(
        store,
        {"outpost": ["mobilenet_ssd/2020-12-06"], "sentinel": ["face_recognition/2025-01-01"]},
    )
    outpost = rrsync_shim(tmp_path, Path(root_path(str(store), "outpost")))
    sentinel = rrsync_shim(tmp_path, Path(root_path(str(store), "sentinel")))
    got = tmp_path / "got"
    got.mkdir()
    # What each role needs, it gets (the pulls' own paths, unchanged).
    assert fetch(outpost, "/mobilenet_ssd/2020-12-06/", got / "m").returncode == 0
    assert (got / "m" / "frozen_inference_graph.pb").read_bytes() == b"g"
    assert fetch(sentinel, "/face_recognition/2025-01-01/", got / "f").returncode == 0
    assert (got / "f" / "facedata.hdf5").read_bytes() == FACE_FILES["facedata.hdf5"]
    # An outpost's key cannot fetch a face file, whatever path it asks for.
    for path in (
        "/face_recognition/2025-01-01/facelist.csv",
        "/../face_recognition/2025-01-01/facedata.hdf5",
        "/../../face_recognition/",
    ):
        done = fetch(outpost, path, got / "o")
        assert done.returncode != 0 and not (got / "o").exists(), done.stderr
    # A sentinel's key cannot fetch an upload in progress.
    for path in ("/.upload-0123456789abcdef/", "/../.upload-0123456789abcdef/facedata.hdf5"):
        done = fetch(sentinel, path, got / "u")
        assert done.returncode != 0 and not (got / "u").exists(), done.stderr
    # A version no longer needed leaves the root; the store keeps it.
    serve(store, {"outpost": [], "sentinel": ["face_recognition/2025-01-01"]})
    assert fetch(outpost, "/mobilenet_ssd/2020-12-06/", got / "gone").returncode != 0
    assert (store / "mobilenet_ssd/2020-12-06/frozen_inference_graph.pb").exists()


def test_served_roots_are_hard_links_and_a_second_serve_changes_nothing(store):
    from sentinelcam_models.store.served import serve  # noqa: PLC0415

    publish(store, "haarcascades", "2020-03-25", {"haarcascade_eye.xml": valid("eye.xml")})
    first = serve(store, {"sentinel": ["haarcascades/2020-03-25"]})
    served = store / ".served/sentinel/haarcascades/2020-03-25/haarcascade_eye.xml"
    original = store / "haarcascades/2020-03-25/haarcascade_eye.xml"
    assert served.stat().st_ino == original.stat().st_ino
    assert first == {"sentinel": {"placed": 1, "removed": 0}}
    assert serve(store, {"sentinel": ["haarcascades/2020-03-25"]}) == {
        "sentinel": {"placed": 0, "removed": 0}
    }


def test_config_files_write_every_changed_file_in_one_command_and_stop_at_the_first_failure(
    tmp_path,
):
    from pyinfra.api import StringCommand  # noqa: PLC0415

    from operations import configs  # noqa: PLC0415
    from tests.unit.test_operations import run  # noqa: PLC0415

    tasks = tmp_path / "tasks"
    same, first, second = tasks / "GetFaces.yaml", tasks / "FaceRecon.yaml", tasks / "new.yaml"
    tasks.mkdir()
    same.write_text("same\n")
    first.write_text("old\n")
    writes = [
        (str(same), "same\n", "same\n"),
        (str(first), "x: '$(id)'\n", "old\n"),
        (str(second), "y: 2\n", None),
    ]
    [command], _ = run(configs.files, writes=writes)
    assert isinstance(command, StringCommand)
    done = subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (same.read_text(), first.read_text(), second.read_text()) == (
        "same\n",
        "x: '$(id)'\n",
        "y: 2\n",
    )
    # a file where the first one's directory should be: it fails, and the second is not written
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    [command], _ = run(
        configs.files,
        writes=[(str(blocked / "a.yaml"), "a\n", None), (str(tasks / "b.yaml"), "b\n", None)],
    )
    done = subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True, text=True)
    assert done.returncode == 1 and "a.yaml" in done.stderr
    assert not (tasks / "b.yaml").exists()
    nothing, noop = run(configs.files, writes=writes[:1])
    assert nothing == [] and "up to date" in noop
