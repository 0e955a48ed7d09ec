"""The store on this machine: atomic writes, locks, publish, verify, check, cleanup, adopt, coral.

Expected values come from the specification: the manifest is ``sha256sum`` format (every file,
relative paths, sorted), computed here with hashlib, independently of the store's code.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from sentinelcam_models.core.manifest import MANIFEST, content_mtime
from sentinelcam_models.core.problems import BadInput, CheckFailed
from sentinelcam_models.core.retention import parse_policy
from sentinelcam_models.store import safefs
from sentinelcam_models.store.atomic import file_lock, store_lock, write_atomically
from sentinelcam_models.store.local import LocalStore
from tests.support.models import valid

FR = "face_recognition"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_below(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.name != ".lock"
    }


def expected_manifest(directory: Path) -> str:
    entries = {rel: sha(data) for rel, data in files_below(directory).items() if rel != MANIFEST}
    return "".join(f"{entries[rel]}  {rel}\n" for rel in sorted(entries))


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def hidden(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".") and p.name != ".lock")


def entries(root: Path) -> list[str]:
    """What a store holds besides its lock file (created by the first locked operation)."""
    return sorted(p.name for p in root.iterdir() if p.name != ".lock")


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "store"
    path.mkdir()
    return path


@pytest.fixture
def store(root):
    return LocalStore(root)


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    (d / "sub").mkdir(parents=True)
    (d / "facemodel.pickle").write_bytes(valid("facemodel.pickle"))
    (d / "baselines.hdf5").write_bytes(valid("baselines.hdf5", os.urandom(8).hex()))
    (d / "sub" / "labels.txt").write_text("person\n")
    return d


@pytest.fixture(autouse=True)
def no_hook():
    yield
    safefs._before_open = None


# --- atomic writes and locks ------------------------------------------------------------------


def test_write_atomically_keeps_crlf_and_writes_bytes_exactly(tmp_path):
    path = tmp_path / "registry.yaml"
    write_atomically(path, "a: 1\r\nb: é\r\n")
    assert path.read_bytes() == "a: 1\r\nb: é\r\n".encode()
    write_atomically(path, b"\xff\x00raw\r\n")
    assert path.read_bytes() == b"\xff\x00raw\r\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.yaml"]


def test_write_atomically_keeps_the_existing_mode_and_sets_a_new_files_mode(tmp_path):
    existing = tmp_path / "existing"
    existing.write_text("old")
    existing.chmod(0o640)
    write_atomically(existing, "new", mode=0o600)
    assert existing.read_text() == "new" and mode(existing) == 0o640
    write_atomically(tmp_path / "given", "x", mode=0o600)
    assert mode(tmp_path / "given") == 0o600
    old_umask = os.umask(0o027)
    try:
        write_atomically(tmp_path / "default", "x")
    finally:
        os.umask(old_umask)
    assert mode(tmp_path / "default") == 0o666 & ~0o027


def test_write_atomically_removes_its_temp_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "file"
    path.write_text("old")

    def fail(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_atomically(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def _locked_elsewhere(lock_path: Path) -> bool:
    fd = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_file_lock_is_exclusive_on_a_sibling_lock_file(tmp_path):
    path = tmp_path / "model_registry.yaml"
    path.write_text("x")
    with file_lock(path):
        assert _locked_elsewhere(tmp_path / ".model_registry.yaml.lock")
    assert not _locked_elsewhere(tmp_path / ".model_registry.yaml.lock")


def test_store_lock_never_creates_a_store(tmp_path, root):
    missing = tmp_path / "not_a_store"
    with pytest.raises(BadInput) as exc, store_lock(missing):
        pass
    assert one_line(exc) == f"{missing}: no model store here"
    assert not missing.exists()
    with store_lock(root):
        assert _locked_elsewhere(root / ".lock")


# --- publish ----------------------------------------------------------------------------------


def test_publish_writes_a_sealed_version_with_its_manifest(store, root, src):
    (src / "facemodel.pickle").chmod(0o755)
    (src / "baselines.hdf5").chmod(0o640)
    (src / "sub" / "labels.txt").chmod(0o4755)
    result = store.publish(FR, "2026-02-02", src, ["facemodel.pickle"])
    target = root / FR / "2026-02-02"
    assert result.path == target
    manifest = (target / MANIFEST).read_bytes()
    assert manifest.decode() == expected_manifest(src)
    assert result.manifest_digest == sha(manifest)
    assert files_below(target) == {**files_below(src), MANIFEST: manifest}
    # (mode & 0o644) | 0o600: private stays private, never exec or setuid.
    assert mode(target / "facemodel.pickle") == 0o644
    assert mode(target / "baselines.hdf5") == 0o640
    assert mode(target / "sub" / "labels.txt") == 0o644
    assert mode(target) == mode(target / "sub") == 0o755
    for rel, data in files_below(src).items():
        assert os.stat(target / rel).st_mtime == content_mtime(sha(data))
    subprocess.run(["sha256sum", "-c", "--quiet", MANIFEST], cwd=target, check=True)
    assert hidden(root) == []  # no upload directory left


def test_publish_never_overwrites_a_version(store, root, src):
    store.publish("haarcascades", "2020-12-06", src, [])
    before = files_below(root / "haarcascades" / "2020-12-06")
    (src / "facemodel.pickle").write_bytes(b"changed")
    with pytest.raises(BadInput) as exc:
        store.publish("haarcascades", "2020-12-06", src, [])
    assert "versions are never overwritten (publish a new date)" in one_line(exc)
    assert "haarcascades/2020-12-06" in str(exc.value)
    assert files_below(root / "haarcascades" / "2020-12-06") == before
    assert hidden(root) == []


def test_publish_refuses_a_version_lacking_required_files_naming_them_all(store, root, src):
    with pytest.raises(BadInput) as exc:
        store.publish(FR, "2026-03-01", src, ["facelist.csv", "facedata.hdf5", "facemodel.pickle"])
    assert one_line(exc) == (
        "face_recognition/2026-03-01 lacks facelist.csv, facedata.hdf5 (the configs name them)"
    )
    assert exc.value.exit_code == 2
    assert not (root / FR / "2026-03-01").exists()
    assert hidden(root) == []


@pytest.mark.parametrize(
    ("model", "version", "expected"),
    [
        ("../evil", "2020-02-03", "model names must match"),
        ("Face", "2020-02-03", "model names must match"),
        ("haarcascades", "2020-02-30", "not a valid version"),
        ("haarcascades", "2020-2-3", "not a valid version"),
    ],
)
def test_publish_refuses_bad_model_and_version_names(store, root, src, model, version, expected):
    with pytest.raises(BadInput) as exc:
        store.publish(model, version, src, [])
    assert expected in one_line(exc) and exc.value.exit_code == 2
    assert entries(root) == []


def _symlink(src: Path) -> None:
    (src / "escape").symlink_to("/etc/passwd")


def _fifo(src: Path) -> None:
    os.mkfifo(src / "pipe")


def _hidden_name(src: Path) -> None:
    (src / ".DS_Store").write_bytes(b"x")


def _dash_name(src: Path) -> None:
    (src / "sub" / "-rf").write_bytes(b"x")


def _dir_symlink(src: Path) -> None:
    (src / "etc").symlink_to("/etc")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_symlink, "escape: is a symlink"),
        (_fifo, "pipe: is not a regular file"),
        (_hidden_name, ".DS_Store: not a plain file name"),
        (_dash_name, "sub/-rf: not a plain file name"),
        (_dir_symlink, "etc: is a symlink"),
    ],
)
def test_stage_copy_refuses_links_specials_and_odd_names(store, root, src, make, expected):
    make(src)
    with pytest.raises(BadInput) as exc:
        store.publish("haarcascades", "2020-12-06", src, [])
    assert expected in one_line(exc) and str(src) in str(exc.value)
    assert entries(root) == []  # no version, no upload left


def test_stage_copy_refuses_an_empty_or_missing_source(store, root, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(BadInput, match="holds no files"):
        store.stage_copy(tmp_path / "empty")
    with pytest.raises(BadInput, match="source is not a directory"):
        store.stage_copy(tmp_path / "missing")
    assert hidden(root) == []


def _swap(path: Path, target: str):
    def hook(rel: str) -> None:
        if rel == path.name or rel.endswith("/" + path.name):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            path.symlink_to(target)

    return hook


def test_a_file_swapped_for_a_symlink_mid_copy_is_refused_not_followed(store, root, src):
    # The race: the listing saw a regular file; the source's writer swaps in a symlink to
    # /etc/passwd right before the copy opens it.
    safefs._before_open = _swap(src / "baselines.hdf5", "/etc/passwd")
    with pytest.raises(BadInput) as exc:
        store.publish(FR, "2026-02-02", src, [])
    assert "baselines.hdf5: is a symlink or special file" in one_line(exc)
    assert (src / "baselines.hdf5").is_symlink()  # the swap did happen
    assert entries(root) == []
    passwd = Path("/etc/passwd").read_bytes()
    assert all(passwd not in p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_a_directory_swapped_for_a_symlink_mid_copy_is_refused(store, root, src, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "labels.txt").write_text("secret\n")
    swap = _swap(src / "sub", str(outside))

    def swap_the_parent(rel: str) -> None:
        if rel == "sub/labels.txt":
            swap("sub")

    safefs._before_open = swap_the_parent
    with pytest.raises(BadInput) as exc:
        store.publish(FR, "2026-02-02", src, [])
    assert "sub/labels.txt: is a symlink or special file" in one_line(exc)
    assert (src / "sub").is_symlink()
    assert entries(root) == []


def test_a_file_swapped_for_a_fifo_mid_copy_is_refused_without_hanging(store, root, src):
    def to_fifo(rel: str) -> None:
        if rel == "baselines.hdf5":
            (src / rel).unlink()
            os.mkfifo(src / rel)

    safefs._before_open = to_fifo
    with pytest.raises(BadInput, match=r"baselines\.hdf5: is not a regular file"):
        store.publish(FR, "2026-02-02", src, [])
    assert entries(root) == []


def _upload(root: Path, name: str = ".upload-test") -> Path:
    """An upload directory as a remote uploader's rsync leaves it."""
    staged = root / name
    (staged / "sub").mkdir(parents=True)
    (staged / "model.bin").write_bytes(b"weights")
    (staged / "sub" / "labels.txt").write_bytes(b"person\n")
    return staged


def test_finish_publish_seals_an_rsynced_upload_and_replaces_an_uploaded_manifest(store, root):
    staged = _upload(root)
    (staged / MANIFEST).write_text("not the store's manifest\n")
    (staged / "model.bin").chmod(0o775)
    result = store.finish_publish("mobilenet_ssd", "2025-01-01", staged, ["model.bin"])
    target = root / "mobilenet_ssd" / "2025-01-01"
    assert result.path == target and not staged.exists()
    labels = sha(b"person\n")
    assert (target / MANIFEST).read_text() == (
        f"{sha(b'weights')}  model.bin\n{labels}  sub/labels.txt\n"
    )
    assert result.manifest_digest == sha((target / MANIFEST).read_bytes())
    assert mode(target / "model.bin") == 0o644


def _setgid_file(staged: Path) -> None:
    (staged / "sub" / "x").write_bytes(b"")
    (staged / "sub" / "x").chmod(0o2644)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda s: (s / "link").symlink_to("/etc/passwd"), "link: is a symlink"),
        (lambda s: (s / "model.bin").chmod(0o4644), "model.bin: is setuid/setgid"),
        (_setgid_file, "sub/x: is setuid/setgid"),
        (lambda s: os.mkfifo(s / "fifo"), "fifo: is not a regular file"),
        (lambda s: (s / ".partial.XYZ").write_bytes(b""), ".partial.XYZ: not a plain file name"),
    ],
)
def test_finish_publish_refuses_an_unsafe_upload_and_removes_it(store, root, make, expected):
    staged = _upload(root)
    make(staged)
    with pytest.raises(BadInput) as exc:
        store.finish_publish("mobilenet_ssd", "2025-01-01", staged, [])
    assert one_line(exc).startswith("mobilenet_ssd/2025-01-01: ")
    assert expected in str(exc.value)
    assert entries(root) == []


def test_finish_publish_removes_the_upload_when_the_version_exists(store, root, src):
    store.publish("mobilenet_ssd", "2025-01-01", src, [])
    staged = _upload(root)
    with pytest.raises(BadInput, match="never overwritten"):
        store.finish_publish("mobilenet_ssd", "2025-01-01", staged, [])
    assert not staged.exists()
    assert store.verify("mobilenet_ssd", "2025-01-01").ok


def test_finish_publish_touches_nothing_outside_the_store(store, root, tmp_path):
    elsewhere = _upload(tmp_path, ".upload-elsewhere")
    not_upload = _upload(root, "staging")
    for staged in (elsewhere, not_upload, root / ".upload-missing"):
        with pytest.raises(BadInput, match="not an upload directory of the store"):
            store.finish_publish("mobilenet_ssd", "2025-01-01", staged, [])
    assert (elsewhere / "model.bin").read_bytes() == b"weights"
    assert (not_upload / "model.bin").read_bytes() == b"weights"
    assert not (root / "mobilenet_ssd").exists()


def test_a_failed_rename_leaves_no_version_and_no_upload(store, root, src, monkeypatch):
    def boom(*_args, **_kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "rename", boom)
    with pytest.raises(CheckFailed) as exc:
        store.publish("haarcascades", "2020-12-06", src, [])
    assert one_line(exc).startswith("haarcascades/2020-12-06: ")
    assert not (root / "haarcascades" / "2020-12-06").exists()
    assert hidden(root) == []


# --- versions -----------------------------------------------------------------------------------


def test_versions_lists_date_directories_newest_first(store, root, src, tmp_path):
    store.publish(FR, "2025-02-25", src, [])
    store.publish(FR, "2026-02-02", src, [])
    (root / FR / "2024-01-01").mkdir()  # from the original system: no manifest
    (root / FR / "2024-01-01" / "facemodel.pickle").write_bytes(b"12345")
    (root / FR / "notes").mkdir()  # not a date
    (root / FR / "2025-13-01").mkdir()  # not a real date
    (tmp_path / "elsewhere").mkdir()
    (root / FR / "2023-01-01").symlink_to(tmp_path / "elsewhere")
    found = store.versions(FR)
    assert [(v.version, v.has_manifest) for v in found] == [
        ("2026-02-02", True),
        ("2025-02-25", True),
        ("2024-01-01", False),
    ]
    version_dir = root / FR / "2026-02-02"
    assert found[0].size == sum(len(data) for data in files_below(version_dir).values())
    assert found[2].size == 5
    assert store.versions("haarcascades") == []


def test_a_missing_store_is_bad_input_and_is_not_created(tmp_path):
    missing = tmp_path / "model_registry"
    store = LocalStore(missing)
    assert not store.exists()
    for call in (
        lambda: store.require(),
        lambda: store.versions(FR),
        lambda: store.check([], {}),
        lambda: store.coral_files(),
    ):
        with pytest.raises(BadInput) as exc:
            call()
        assert one_line(exc) == f"{missing}: no model store here"
    assert not missing.exists()


# --- verify -------------------------------------------------------------------------------------


@pytest.fixture
def published(store, root, src):
    store.publish(FR, "2026-02-02", src, [])
    return root / FR / "2026-02-02"


def test_verify_passes_an_intact_version(store, published):
    result = store.verify(FR, "2026-02-02")
    assert result.ok and result.lines() == ["face_recognition/2026-02-02: ok"]


def test_verify_catches_altered_missing_and_extra_files(store, published):
    data = bytearray((published / "facemodel.pickle").read_bytes())
    data[100] ^= 0x01
    (published / "facemodel.pickle").write_bytes(bytes(data))
    (published / "baselines.hdf5").unlink()
    (published / "extra.bin").write_bytes(b"x")
    result = store.verify(FR, "2026-02-02")
    assert (result.altered, result.missing, result.extra) == (
        ["facemodel.pickle"],
        ["baselines.hdf5"],
        ["extra.bin"],
    )
    assert not result.ok
    assert "face_recognition/2026-02-02: altered facemodel.pickle" in result.lines()[2]


def _setuid(version: Path) -> None:
    (version / "baselines.hdf5").chmod(0o4644)


def _link(version: Path) -> None:
    (version / "sub" / "labels.txt").unlink()
    (version / "sub" / "labels.txt").symlink_to("/etc/passwd")


def _dotdot_line(version: Path) -> None:
    with open(version / MANIFEST, "a") as handle:
        handle.write(f"{'0' * 64}  ../../../etc/passwd\n")


def _absolute_line(version: Path) -> None:
    with open(version / MANIFEST, "a") as handle:
        handle.write(f"{'0' * 64}  /etc/passwd\n")


def _fifo_inside(version: Path) -> None:
    os.mkfifo(version / "sub" / "pipe")


UNSAFE = [
    (_setuid, "baselines.hdf5: is setuid/setgid"),
    (_link, "sub/labels.txt: is a symlink"),
    (_dotdot_line, "'../../../etc/passwd' is not a plain relative file name"),
    (_absolute_line, "'/etc/passwd' is not a plain relative file name"),
    (_fifo_inside, "sub/pipe: is not a regular file"),
]


@pytest.mark.parametrize(("damage", "expected"), UNSAFE)
def test_verify_fails_unsafe_versions(store, published, damage, expected):
    damage(published)
    result = store.verify(FR, "2026-02-02")
    assert not result.ok
    assert any(expected in line for line in result.lines()), result.lines()
    assert all("\n" not in line for line in result.lines())


@pytest.mark.parametrize(("damage", "expected"), UNSAFE)
def test_check_fails_unsafe_versions(store, published, damage, expected):
    damage(published)
    result = store.check([f"{FR}/2026-02-02"], {})[f"{FR}/2026-02-02"]
    assert any(expected in p for p in result["problems"]), result
    assert all(p.startswith("face_recognition/2026-02-02") for p in result["problems"])


def test_verify_reports_a_missing_or_unreadable_manifest_in_one_line(store, published):
    (published / MANIFEST).write_bytes(b"\xff\xfe not utf-8\n")
    result = store.verify(FR, "2026-02-02")
    assert not result.ok and len(result.lines()) == 1
    assert "MANIFEST.sha256 is not UTF-8 text" in result.lines()[0]
    (published / MANIFEST).unlink()
    assert store.verify(FR, "2026-02-02").lines() == [
        "face_recognition/2026-02-02: has no MANIFEST.sha256"
    ]
    assert store.verify(FR, "2020-01-01").lines() == [
        "face_recognition/2020-01-01: not in the store"
    ]


def test_verify_and_check_refuse_symlinked_version_or_model_directories(store, root, published):
    (root / "haarcascades").symlink_to(root / FR)
    (root / FR / "2020-01-01").symlink_to(published)
    for model, version in (("haarcascades", "2026-02-02"), (FR, "2020-01-01")):
        assert store.verify(model, version).lines() == [
            f"{model}/{version}: is not a directory (a symlink or a file)"
        ]
        assert store.check([f"{model}/{version}"], {})[f"{model}/{version}"] == {
            "digest": None,
            "problems": [f"{model}/{version}: is not a directory (a symlink or a file)"],
        }


# --- check ----------------------------------------------------------------------------------------


def test_check_passes_intact_versions_with_their_manifest_digest(store, published):
    item = f"{FR}/2026-02-02"
    digest = sha((published / MANIFEST).read_bytes())
    assert store.check([item], {FR: ["facemodel.pickle", "sub/labels.txt"]}) == {
        item: {"digest": digest, "problems": []}
    }


def test_check_reports_each_structural_problem(store, published):
    item = f"{FR}/2026-02-02"
    (published / "baselines.hdf5").unlink()
    (published / "stray.txt").write_bytes(b"x")
    result = store.check([item, f"{FR}/2020-01-01", "nonsense"], {FR: ["facelist.csv"]})
    assert result[item]["problems"] == [
        f"{item}: missing baselines.hdf5 (listed in MANIFEST.sha256)",
        f"{item}: extra stray.txt (not in MANIFEST.sha256)",
        f"{item} lacks facelist.csv (the configs name them)",
    ]
    assert result[f"{FR}/2020-01-01"]["digest"] is None
    assert "not in the store" in result[f"{FR}/2020-01-01"]["problems"][0]
    assert "not a model/version" in result["nonsense"]["problems"][0]


def test_check_is_structural_and_hashes_no_model_file(store, published, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(safefs, "_before_open", opened.append)
    store.check([f"{FR}/2026-02-02"], {})
    assert opened == [MANIFEST]  # only the manifest is read


# --- cleanup --------------------------------------------------------------------------------------


def _version(root: Path, model: str, version: str, size: int = 10, manifest: bool = True) -> Path:
    path = root / model / version
    path.mkdir(parents=True)
    (path / "model.bin").write_bytes(version.encode() + b"x" * size)
    if manifest:
        (path / MANIFEST).write_text(f"{sha((path / 'model.bin').read_bytes())}  model.bin\n")
    return path


def _tree_size(path: Path) -> int:
    return sum(len(data) for data in files_below(path).values())


POLICY = {
    "keep": 1,
    "models": {
        "haarcascades": {
            "current_version": "2026-01-01",
            "previous_version": "2025-12-01",
            "pins": {"2024-01-01": ["sentinel2"]},
        },
    },
}


@pytest.fixture
def retained(root):
    for version in (
        "2024-01-01",
        "2024-06-01",
        "2025-01-01",
        "2025-06-01",
        "2025-12-01",
        "2026-01-01",
    ):
        _version(root, "haarcascades", version)
    _version(root, "haarcascades", "2023-01-01", manifest=False)  # not written by the store
    (root / "haarcascades" / "2025-13-01").mkdir()  # not a date
    _version(root, "images", "2025-03-01")  # a model the policy lacks
    _version(root, "coral_packages", "2020-01-01")
    policy, problems = parse_policy(POLICY)
    assert not problems
    return policy


def test_cleanup_keeps_current_previous_pins_and_newest_and_nothing_foreign(store, root, retained):
    doomed = ["2025-06-01", "2025-01-01", "2024-06-01"]
    sizes = {v: _tree_size(root / "haarcascades" / v) for v in doomed}
    log: list[str] = []
    freed = store.cleanup(retained, 0, False, log.append)
    # keep 0 newest others: current, previous and the pin stay.
    assert sorted(p.name for p in (root / "haarcascades").iterdir()) == [
        "2023-01-01",
        "2024-01-01",
        "2025-12-01",
        "2025-13-01",
        "2026-01-01",
    ]
    assert freed == sum(sizes.values())
    assert (root / "images" / "2025-03-01" / "model.bin").exists()
    assert (root / "coral_packages" / "2020-01-01" / "model.bin").exists()
    assert "keep   haarcascades/2024-01-01 (pinned by sentinel2)" in log
    assert "keep   haarcascades/2025-12-01 (previous)" in log
    assert f"remove haarcascades/2025-06-01 ({sizes['2025-06-01']} bytes)" in log
    assert log[-1] == f"freed {freed} bytes"
    assert hidden(root / "haarcascades") == []


def test_cleanup_keeps_the_newest_n_others(store, root, retained):
    store.cleanup(retained, 1, False, lambda _line: None)
    assert (root / "haarcascades" / "2025-06-01").is_dir()
    assert not (root / "haarcascades" / "2025-01-01").exists()


def test_cleanup_dry_run_changes_nothing(store, root, retained):
    before = files_below(root)
    log: list[str] = []
    freed = store.cleanup(retained, 0, True, log.append)
    assert files_below(root) == before
    assert freed > 0 and log[-1] == f"would free {freed} bytes"
    assert any(line.startswith("would remove haarcascades/2025-01-01") for line in log)


@pytest.mark.parametrize("keep", [-3, True, "2"])
def test_cleanup_refuses_a_bad_keep(store, root, retained, keep):
    before = files_below(root)
    with pytest.raises(BadInput, match="keep must be a whole number >= 0"):
        store.cleanup(retained, keep, False, lambda _line: None)
    assert files_below(root) == before


def test_cleanup_sweeps_only_leftovers_the_store_creates(store, root, retained):
    model = root / "haarcascades"
    for name in (".2025-01-01.deleting", ".2025-01-01.publish-4242"):
        (model / name).mkdir()
        (model / name / "f").write_bytes(b"x")
    (root / "images" / ".2025-01-01.deleting").mkdir()  # not a policy model: untouched
    (model / ".git").mkdir()  # not a store name: untouched
    stale = _upload(root, ".upload-stale")
    old = time.time() - 3 * 24 * 3600
    for path in [stale, *stale.rglob("*")]:
        os.utime(path, (old, old), follow_symlinks=False)
    _upload(root, ".upload-fresh")  # may be an rsync in progress
    (root / "coral_packages" / MANIFEST).write_text("")
    (root / ".coral_packages.new-abc").mkdir()
    log: list[str] = []
    store.cleanup(retained, 5, False, log.append)
    assert hidden(model) == [".git"]
    assert (root / "images" / ".2025-01-01.deleting").is_dir()
    assert hidden(root) == [".upload-fresh"]
    assert "remove leftover .upload-stale" in log
    assert "remove leftover haarcascades/.2025-01-01.deleting" in log


# --- adopt ----------------------------------------------------------------------------------------


@pytest.fixture
def ansible_store(root):
    """Versions the original Ansible system left: no manifests, modes as they came."""
    version = root / FR / "2025-02-25"
    (version / "sub").mkdir(parents=True)
    (version / "facemodel.pickle").write_bytes(valid("facemodel.pickle"))
    (version / "facemodel.pickle").chmod(0o755)
    (version / "facelist.csv").write_bytes(FACELIST)
    (version / "facelist.csv").chmod(0o600)
    (version / "sub" / "baselines.hdf5").write_bytes(valid("baselines.hdf5"))
    return version


FACELIST = valid("facelist.csv")


def test_adopt_writes_the_manifest_of_a_clean_manifest_less_version(store, ansible_store):
    results = store.adopt({FR: ["facelist.csv"]}, [FR], dry_run=False)
    assert [(r.model, r.version, r.status) for r in results] == [(FR, "2025-02-25", "adopted")]
    assert (ansible_store / MANIFEST).read_text() == expected_manifest(ansible_store)
    assert mode(ansible_store / "facemodel.pickle") == 0o644
    assert mode(ansible_store / "facelist.csv") == 0o600
    assert os.stat(ansible_store / "facelist.csv").st_mtime == content_mtime(sha(FACELIST))
    assert store.verify(FR, "2025-02-25").ok
    assert hidden(ansible_store) == []
    # Adopted versions have a manifest now: a second run leaves them alone.
    assert store.adopt({FR: ["facelist.csv"]}, [FR], dry_run=False) == []


def test_adopt_dry_run_writes_nothing(store, ansible_store):
    results = store.adopt({}, [FR], dry_run=True)
    assert [(r.status, r.detail) for r in results] == [("would adopt", "3 files")]
    assert not (ansible_store / MANIFEST).exists()


def test_adopt_refuses_unsafe_or_incomplete_versions_and_skips_manifested(
    store, root, ansible_store, src
):
    (ansible_store / "link").symlink_to("/etc/passwd")
    lacking = root / FR / "2025-06-01"
    lacking.mkdir()
    (lacking / "facemodel.pickle").write_bytes(b"x")
    store.publish(FR, "2026-02-02", src, [])
    manifest_before = (root / FR / "2026-02-02" / MANIFEST).read_bytes()
    results = {
        r.version: r
        for r in store.adopt({FR: ["facelist.csv", "facedata.hdf5"]}, [FR], dry_run=False)
    }
    assert set(results) == {"2025-02-25", "2025-06-01"}
    assert results["2025-02-25"].status == "refused"
    assert "link: is a symlink" in results["2025-02-25"].detail
    assert results["2025-06-01"].status == "refused"
    assert results["2025-06-01"].detail == (
        "lacks facelist.csv, facedata.hdf5 (the configs name them)"
    )
    assert not (ansible_store / MANIFEST).exists() and not (lacking / MANIFEST).exists()
    assert (root / FR / "2026-02-02" / MANIFEST).read_bytes() == manifest_before


def test_adopt_refuses_a_version_whose_file_is_not_its_format(store, ansible_store):
    (ansible_store / "facemodel.pickle").write_bytes(b"not a pickle at all\n")
    for dry_run in (True, False):
        (result,) = store.adopt({FR: ["facelist.csv"]}, [FR], dry_run=dry_run)
        assert result.status == "refused"
        assert result.detail.startswith("facemodel.pickle: not a valid face model pickle: ")
    assert not (ansible_store / MANIFEST).exists()


# --- format checks at publish and verify --deep -----------------------------------------------


@pytest.mark.parametrize(
    "model, name, data, fault",
    [
        (
            "mobilenet_ssd",
            "MobileNetSSD_deploy.caffemodel",
            valid("MobileNetSSD_deploy.caffemodel", size=4096)[:3000],
            "not a valid Caffe model (protobuf NetParameter): field 100 at byte",
        ),
        (
            "face_detection_edgetpu",
            "ssd_mobilenet_v2_face_quant_postprocess_edgetpu.tflite",
            valid("model.tflite"),
            "not a valid EdgeTPU TFLite model: no edgetpu-custom-op: a CPU model",
        ),
        (FR, "facemodel.pickle", b"svm,labels\n1,2\n", "not a valid face model pickle: "),
        (
            FR,
            "baselines.hdf5",
            b"<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n",
            "not a valid HDF5 file: no HDF5 signature",
        ),
        (FR, "facemodel.pickle", b"cos\nsystem\n(S'id'\ntR.", "refers to os.system"),
    ],
)
def test_publish_refuses_a_file_that_is_not_its_format_in_one_line(
    store, root, tmp_path, model, name, data, fault
):
    source = tmp_path / "bad"
    source.mkdir()
    (source / name).write_bytes(data)
    with pytest.raises(BadInput) as exc:
        store.publish(model, "2026-12-01", source, [name])
    line = one_line(exc)
    assert line.startswith(f"{model}/2026-12-01: {name}: ") and fault in line, line
    assert line.endswith("; nothing published")
    assert not (root / model / "2026-12-01").exists() and hidden(root) == []


def test_verify_deep_checks_formats_and_plain_verify_does_not(store, root, src):
    store.publish(FR, "2026-02-02", src, [])
    target = root / FR / "2026-02-02"
    assert store.verify(FR, "2026-02-02", deep=True).ok
    # A file damaged with its manifest line (as an old tool might have left it): hashes match.
    damaged = b"<html>gateway timeout</html>"
    (target / "baselines.hdf5").chmod(0o644)
    (target / "baselines.hdf5").write_bytes(damaged)
    text = (target / MANIFEST).read_text()
    lines = [
        f"{sha(damaged)}  baselines.hdf5" if line.endswith("  baselines.hdf5") else line
        for line in text.splitlines()
    ]
    (target / MANIFEST).write_text("\n".join(lines) + "\n")
    assert store.verify(FR, "2026-02-02").ok
    deep = store.verify(FR, "2026-02-02", deep=True)
    assert not deep.ok
    assert deep.lines() == [
        f"{FR}/2026-02-02: baselines.hdf5: not a valid HDF5 file: no HDF5 signature "
        "(starts b'<html>ga')"
    ]


# --- coral packages -------------------------------------------------------------------------------

DEB = "libedgetpu1-std_16.0tf2.17.1-1.bookworm_arm64.deb"
WHEEL = "tflite_runtime-2.17.1-cp311-cp311-linux_aarch64.whl"


@pytest.fixture
def staged(tmp_path):
    d = tmp_path / "coral_download"
    d.mkdir()
    (d / DEB).write_bytes(b"deb v1")
    (d / WHEEL).write_bytes(b"wheel v1")
    return d


def coral_manifest(files: dict[str, bytes]) -> str:
    return "".join(f"{sha(files[name])}  {name}\n" for name in sorted(files))


def test_install_coral_stores_every_file_with_a_manifest(store, root, staged):
    files = {DEB: sha(b"deb v1"), WHEEL: sha(b"wheel v1")}
    assert store.install_coral(staged, files) == sorted(files)
    coral = root / "coral_packages"
    assert files_below(coral) == {
        DEB: b"deb v1",
        WHEEL: b"wheel v1",
        MANIFEST: coral_manifest({DEB: b"deb v1", WHEEL: b"wheel v1"}).encode(),
    }
    assert mode(coral / DEB) == 0o644 and mode(coral) == 0o755
    assert store.coral_files() == files
    inode = os.stat(coral).st_ino
    # Everything already stored: nothing taken, nothing swapped.
    assert store.install_coral(None, files) == []
    assert os.stat(coral).st_ino == inode
    assert hidden(root) == []


def test_install_coral_refuses_a_mismatch_and_leaves_the_store_as_it_was(store, root, staged):
    store.install_coral(staged, {DEB: sha(b"deb v1"), WHEEL: sha(b"wheel v1")})
    before = files_below(root / "coral_packages")
    (staged / WHEEL).write_bytes(b"<html>Not Found</html>")
    with pytest.raises(CheckFailed) as exc:
        store.install_coral(staged, {DEB: sha(b"deb v1"), WHEEL: sha(b"wheel v2")})
    assert one_line(exc).startswith(
        f"{WHEEL}: sha256 {sha(b'<html>Not Found</html>')} does not "
        f"match the registry's {sha(b'wheel v2')}"
    )
    assert files_below(root / "coral_packages") == before
    assert hidden(root) == []


def test_install_coral_replaces_an_altered_copy(store, root, staged):
    files = {DEB: sha(b"deb v1"), WHEEL: sha(b"wheel v1")}
    store.install_coral(staged, files)
    (root / "coral_packages" / DEB).write_bytes(b"tampered")
    assert store.coral_files()[DEB] == sha(b"tampered")
    assert store.install_coral(staged, files) == [DEB]
    assert store.coral_files() == files


def test_a_failure_mid_swap_leaves_the_old_directory_whole(store, root, staged, monkeypatch):
    old_files = {DEB: b"deb v1", WHEEL: b"wheel v1"}
    store.install_coral(staged, {name: sha(data) for name, data in old_files.items()})
    (staged / WHEEL).write_bytes(b"wheel v2")
    calls = []
    real_rename = os.rename

    def rename_failing_the_second_time(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        return real_rename(*args, **kwargs)

    monkeypatch.setattr(os, "rename", rename_failing_the_second_time)
    with pytest.raises(CheckFailed, match="Input/output error"):
        store.install_coral(staged, {DEB: sha(b"deb v1"), WHEEL: sha(b"wheel v2")})
    monkeypatch.undo()
    assert len(calls) >= 2  # the old directory had been renamed away when the failure hit
    assert files_below(root / "coral_packages") == {
        **old_files,
        MANIFEST: coral_manifest(old_files).encode(),
    }
    assert hidden(root) == []


def test_an_install_cut_between_its_renames_is_completed_by_the_next_run(store, root, staged):
    store.install_coral(staged, {DEB: sha(b"deb v1"), WHEEL: sha(b"wheel v1")})
    shutil.copytree(root / "coral_packages", staged.parent / "old")
    (staged / WHEEL).write_bytes(b"wheel v2")
    new_files = {DEB: b"deb v1", WHEEL: b"wheel v2"}
    store.install_coral(staged, {name: sha(data) for name, data in new_files.items()})
    # The crash: old renamed away, the complete new one not yet renamed in.
    os.rename(root / "coral_packages", root / ".coral_packages.new-T")
    os.rename(staged.parent / "old", root / ".coral_packages.old-T")
    log: list[str] = []
    policy, _ = parse_policy({"keep": 1, "models": {}})
    assert policy is not None
    store.cleanup(policy, 1, False, log.append)
    assert files_below(root / "coral_packages") == {
        **new_files,
        MANIFEST: coral_manifest(new_files).encode(),
    }
    assert hidden(root) == []
    assert any("restore coral_packages from .coral_packages.new-T" in line for line in log)


def test_cleanup_keeps_coral_leftovers_it_cannot_tell_apart_when_nothing_is_in_place(store, root):
    for token in ("A", "B"):
        (root / f".coral_packages.old-{token}").mkdir()
        (root / f".coral_packages.old-{token}" / DEB).write_bytes(token.encode())
    policy, _ = parse_policy({"keep": 1, "models": {}})
    assert policy is not None
    store.cleanup(policy, 1, False, lambda _line: None)
    # They may be the only copies left: kept for the operator (or the next install) to settle.
    assert hidden(root) == [".coral_packages.old-A", ".coral_packages.old-B"]
    assert not (root / "coral_packages").exists()


def test_install_coral_sweeps_leftovers_of_an_interrupted_build(store, root, staged):
    store.install_coral(staged, {DEB: sha(b"deb v1"), WHEEL: sha(b"wheel v1")})
    (root / ".coral_packages.new-dead").mkdir()
    (root / ".coral_packages.new-dead" / DEB).write_bytes(b"half")
    store.install_coral(None, {DEB: sha(b"deb v1"), WHEEL: sha(b"wheel v1")})
    assert hidden(root) == []


def test_install_coral_refuses_bad_names_and_files_it_cannot_find(store, root, staged):
    with pytest.raises(BadInput, match="not a plain file name"):
        store.install_coral(staged, {"../evil.deb": sha(b"x")})
    with pytest.raises(BadInput, match="is not a sha256"):
        store.install_coral(staged, {DEB: "abc"})
    with pytest.raises(BadInput, match=r"pycoral\.whl: not in"):
        store.install_coral(staged, {"pycoral.whl": sha(b"x")})
    assert entries(root) == []


def test_coral_files_names_what_is_not_a_regular_file(store, root):
    assert store.coral_files() == {}
    coral = root / "coral_packages"
    coral.mkdir()
    (coral / DEB).write_bytes(b"deb")
    (coral / "odd").symlink_to("/etc/passwd")
    (coral / MANIFEST).write_text("")
    assert store.coral_files() == {DEB: sha(b"deb"), "odd": None}


# --- the retention policy file --------------------------------------------------------------------


def test_write_policy_writes_the_checked_document(store, tmp_path):
    data_path = tmp_path / "sentinelcam"
    data_path.mkdir()
    path = data_path / "state" / "model_retention_policy.json"
    assert store.write_policy(path, POLICY, data_path) == path
    assert json.loads(path.read_text()) == POLICY
    assert mode(path) == 0o644


def test_write_policy_refuses_bad_documents_and_paths_outside_the_data_path(store, tmp_path):
    data_path = tmp_path / "sentinelcam"
    data_path.mkdir()
    with pytest.raises(BadInput, match="keep must be a whole number"):
        store.write_policy(data_path / "p.json", {**POLICY, "keep": -3}, data_path)
    with pytest.raises(BadInput, match="not inside the data path"):
        store.write_policy(tmp_path / "elsewhere" / "p.json", POLICY, data_path)
    with pytest.raises(BadInput, match="not inside the data path"):
        store.write_policy(data_path / ".." / "x" / "p.json", POLICY, data_path)
    with pytest.raises(BadInput, match="no such directory"):
        store.write_policy(tmp_path / "missing" / "p.json", POLICY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sentinelcam", "store"]
    assert list(data_path.iterdir()) == []
