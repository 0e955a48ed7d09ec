"""Every command against a corpus of bad inputs: the documented exit code, one line per problem
naming the file (and line, and key where there is one), no traceback, and nothing changed (registry
and host_data bytes, the store tree, git HEAD). The deploy's own refusals are in the fleet tests
(test_deploy.py, and the fleet case at the end of this module).
"""

from __future__ import annotations

import hashlib
import os
import pty
import select
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from sentinelcam_models.cli import main
from sentinelcam_models.store.local import LocalStore
from tests.support.models import valid
from tests.support.units import ROOT

PYTHON = sys.executable
SHIPPED = (ROOT / "inventories" / "group_data" / "model_registry.yaml").read_text()
BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


@dataclass
class World:
    """A temp copy of the inventories in git, and a local store."""

    root: Path
    template: Path | None = None  # a World built before: copied (git history included)
    inventory: Path = field(init=False)
    registry: Path = field(init=False)
    store: Path = field(init=False)

    def __post_init__(self):
        self.inventory = self.root / "inventories" / "production.py"
        self.registry = self.root / "inventories" / "group_data" / "model_registry.yaml"
        self.store = self.root / "store"
        if self.template is not None:
            shutil.copytree(self.template, self.root, symlinks=True, dirs_exist_ok=True)
            return
        shutil.copytree(
            ROOT / "inventories",
            self.root / "inventories",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        self.store.mkdir()
        src = self.root / "src"
        src.mkdir()
        (src / "haarcascade_eye.xml").write_bytes(valid("haarcascade_eye.xml"))
        LocalStore(self.store).publish("haarcascades", "2020-03-25", src, ["haarcascade_eye.xml"])
        self.git("init", "-q", "--template=")  # no sample hooks: less to copy per test
        self.git("add", "-A")
        self.git("-c", "user.email=t@x.invalid", "-c", "user.name=t", "commit", "-qm", "inventory")
        self.git("repack", "-adq")  # one pack instead of a directory per object
        self.git("prune-packed")

    def git(self, *args) -> str:
        return subprocess.run(
            ["git", "-C", str(self.root), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    def host_file(self, host: str) -> Path:
        return self.root / "inventories" / "host_data" / f"{host}.yaml"

    def fingerprint(self) -> dict:
        files = sorted(
            p
            for p in (self.root / "inventories").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        )
        store = sorted(p for p in self.store.rglob("*"))
        return {
            "inventories": {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
            "store": [
                (str(p), p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest()) for p in store
            ],
            # HEAD ("# branch.oid") and every staged or unstaged change, in one git call
            "git": self.git("status", "--porcelain=v2", "--branch"),
        }

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """The command in this process (click's CliRunner: the same entry point, exit codes and
        streams, without a Python start per case); an exception that escapes it is printed as
        the traceback a real run would show."""
        env = {
            "SENTINELCAM_ACTION_LOG": str(self.root / "actions.log"),
            "SENTINELCAM_INVENTORY": str(self.inventory),
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@x.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@x.invalid",
        }
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            result = CliRunner().invoke(main, list(args), input=stdin, env=env)
        finally:
            os.chdir(cwd)
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            assert result.exc_info is not None
            stderr += "".join(traceback.format_exception(*result.exc_info))
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, stderr)


@pytest.fixture(scope="module")
def first_world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("world"))


@pytest.fixture
def world(tmp_path, first_world) -> World:
    """A fresh World per test, copied from one built once (git init and commit, the publish)."""
    return World(tmp_path, first_world.root)


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


# (id, how to break the world, command, exit code, [fragments: one per expected line])
REGISTRY_EDITS = [
    (
        "syntax",
        lambda w: w.registry.write_text("sentinelcam_models: [\n" + SHIPPED),
        ["not valid YAML"],
    ),
    (
        "list",
        lambda w: w.registry.write_text("- sentinelcam_models\n- coral_packages\n"),
        [":1: must be a mapping"],
    ),
    (
        "not-utf8",
        lambda w: w.registry.write_bytes(
            SHIPPED.encode().replace(b"# Face recognition", b"# Face \xff")
        ),
        ["not UTF-8 text"],
    ),
    (
        "billion-laughs",
        lambda w: w.registry.write_text(BILLION_LAUGHS),
        ["anchors and aliases are not allowed"],
    ),
    (
        "bad-date",
        lambda w: replace_in(
            w.registry, 'current_version: "2026-02-02"', 'current_version: "2025-02-30"'
        ),
        ["face_recognition.current_version: '2025-02-30' is not a valid version"],
    ),
    (
        "short-date",
        lambda w: replace_in(
            w.registry, 'current_version: "2026-02-02"', 'current_version: "2025-2-3"'
        ),
        ["face_recognition.current_version: '2025-2-3' is not a valid version"],
    ),
    (
        "number",
        lambda w: replace_in(
            w.registry, 'current_version: "2026-02-02"', "current_version: 20250203"
        ),
        ["face_recognition.current_version: 20250203 is not a version"],
    ),
    (
        "latest",
        lambda w: replace_in(
            w.registry, 'current_version: "2026-02-02"', "current_version: latest"
        ),
        ["face_recognition.current_version: 'latest' is not a valid version"],
    ),
    (
        "unquoted-impossible",
        lambda w: replace_in(
            w.registry, 'current_version: "2026-02-02"', "current_version: 2025-02-30"
        ),
        ["face_recognition.current_version: '2025-02-30' is not a valid version"],
    ),
    (
        "previous-equals",
        lambda w: replace_in(
            w.registry, 'previous_version: "2025-02-25"', 'previous_version: "2026-02-02"'
        ),
        ["face_recognition.previous_version: equals current_version"],
    ),
    (
        "model-name",
        lambda w: replace_in(w.registry, "  face_recognition:\n", "  Face-Recognition:\n"),
        ["sentinelcam_models.Face-Recognition: model names must match"],
    ),
    (
        "variant-path",
        lambda w: replace_in(
            w.registry,
            "short_range: face_detection_short_range_edgetpu.tflite",
            "short_range: ../../etc/passwd",
        ),
        ["variants.short_range: '../../etc/passwd' is not a plain file name"],
    ),
    (
        "duplicate-model",
        lambda w: replace_in(
            w.registry,
            "  haarcascades:\n",
            "  haarcascades:\n    current_version: "
            '"2020-03-25"\n    previous_version: null\n  haarcascades:\n',
        ),
        ["sentinelcam_models.haarcascades: duplicate key"],
    ),
    (
        "equal-keys",
        lambda w: replace_in(w.registry, "coral_packages:\n", "1: a\n1.0: b\ncoral_packages:\n"),
        ["1.0: duplicate key", "1: unknown top-level key"],
    ),
    (
        "missing-deb",
        lambda w: replace_in(
            w.registry, "    deb_package: libedgetpu1-std_16.0tf2.17.1-1.bookworm_arm64.deb\n", ""
        ),
        ["coral_packages.libedgetpu.deb_package: missing"],
    ),
    (
        "bad-digest",
        lambda w: replace_in(
            w.registry,
            "    wheel: pycoral-2.0.3-cp311-cp311-linux_aarch64.whl\n    sha256: null",
            "    wheel: pycoral-2.0.3-cp311-cp311-linux_aarch64.whl\n    sha256: B10BE118",
        ),
        ["coral_packages.pycoral.sha256: 'B10BE118' is not a sha256 digest"],
    ),
]
# Host data holds pins only (issue 23.6): a setting there is refused by name, whatever its value
# (the values themselves are checked where settings live: tests/unit/test_core_validation.py).
HOST_DATA = [
    ("pins-list", "model_version_overrides: [a]\n", ["model_version_overrides: must be a mapping"]),
    (
        "outpost-models-number",
        "outpost_models: 5\n",
        ["outpost_models: not allowed in host data"],
    ),
    (
        "accelerator-number",
        "sentinel_accelerator_type: 3\n",
        ["sentinel_accelerator_type: not allowed in host data"],
    ),
    (
        "pin-number",
        "model_version_overrides:\n  face_recognition: 20250101\n",
        ["model_version_overrides.face_recognition: 20250101 is not a version"],
    ),
    (
        "pin-unknown-model",
        'model_version_overrides:\n  yolo: "2025-01-01"\n',
        ["pins unknown model 'yolo'"],
    ),
    (
        "pin-bad-date",
        'model_version_overrides:\n  face_recognition: "2025-02-29"\n',
        ["'2025-02-29' is not a valid version"],
    ),
    (
        "unsafe-path",
        'sentinel_models_path: "/home/ops/x; rm -rf /"\n',
        ["sentinel_models_path: not allowed in host data"],
    ),
    (
        "broad-path",
        "sentinel_models_path: /home/ops\n",
        ["sentinel_models_path: not allowed in host data"],
    ),
    (
        "bad-user",
        'sentinelcam_user: "root;id"\n',
        ["sentinelcam_user: not allowed in host data"],
    ),
    (
        "tpu",
        "sentinel_accelerator_type: tpu\n",
        ["sentinel_accelerator_type: not allowed in host data"],
    ),
    (
        "variant",
        "sentinel_face_detection_model: blazeface\nsentinel_blazeface_variant: full\n",
        [
            "sentinel_blazeface_variant: not allowed in host data",
            "sentinel_face_detection_model: not allowed in host data",
        ],
    ),
    ("syntax", "model_version_overrides: {\n", ["sentinel.yaml:2: not valid YAML"]),
    ("equal-keys", "1: a\n1.0: b\n", ["sentinel.yaml:2: 1.0: duplicate key"]),
    ("aliases", "a: &x 1\nb: *x\n", ["anchors and aliases are not allowed"]),
    ("not-utf8", b"sentinelcam_user: \xff\n", ["sentinel.yaml:1: not UTF-8 text"]),
    ("a-list", "- a\n", ["must be a mapping of names to values"]),
    (
        "duplicate-pins",
        'model_version_overrides:\n  face_recognition: "2025-02-25"\nmodel_version_overrides:\n  '
        'haarcascades: "2020-03-25"\n',
        ["sentinel.yaml:3: model_version_overrides: duplicate key"],
    ),
]


def problem_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [
        line
        for line in done.stderr.splitlines()
        if line.strip() and not line.startswith("warning:")
    ]


def check(
    world: World, done: subprocess.CompletedProcess, code: int, fragments: list[str], before: dict
) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = problem_lines(done)
    assert len(lines) == len(fragments), lines
    for fragment in fragments:
        assert any(fragment in line for line in lines), (fragment, lines)
    assert world.fingerprint() == before


COMMANDS = [
    ("validate",),
    ("list",),
    ("rollback", "face_recognition", "--previous", "--yes", "--no-deploy"),
    ("pin", "sentinel", "haarcascades", "2020-03-25", "--yes", "--no-deploy"),
    ("drift",),
    ("cleanup", "--dry-run"),
    ("coral", "fetch", "--yes"),
]


@pytest.mark.parametrize(
    "name, breaks, fragments", REGISTRY_EDITS, ids=[c[0] for c in REGISTRY_EDITS]
)
def test_broken_registry(world, name, breaks, fragments):
    breaks(world)  # the registry is tracked: commit -a stages it
    world.git("-c", "user.email=t@x.invalid", "-c", "user.name=t", "commit", "-qam", "broken")
    before = world.fingerprint()
    for command in COMMANDS if name in ("syntax", "billion-laughs") else COMMANDS[:1]:
        done = world.cli(*command)
        check(world, done, 2, fragments, before)
        assert all(line.startswith(str(world.registry)) for line in problem_lines(done)), command


@pytest.mark.parametrize("name, content, fragments", HOST_DATA, ids=[c[0] for c in HOST_DATA])
def test_broken_host_data(world, name, content, fragments):
    path = world.host_file("sentinel")
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    world.git("add", "-A")
    world.git("-c", "user.email=t@x.invalid", "-c", "user.name=t", "commit", "-qm", "broken")
    before = world.fingerprint()
    for command in COMMANDS[:1] if name not in ("syntax", "pins-list") else COMMANDS:
        done = world.cli(*command)
        check(world, done, 2, fragments, before)
        assert all("sentinel" in line for line in problem_lines(done))


def test_shared_group_data_fault_is_one_line_naming_every_host(world):
    replace_in(
        world.root / "inventories" / "group_data" / "all.py",
        'sentinel_accelerator_type = "coral"',
        'sentinel_accelerator_type = "tpu"',
    )
    done = world.cli("validate")
    [line] = problem_lines(
        done
    )  # production.py's sentinel sets its own accelerator: every other host
    assert (
        done.returncode == 2
        and "host data1, lab1, alpha5, east, deepthink: sentinel_accelerator_type: 'tpu'" in line
    )


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("publish", "face\n", "src"), "is not a model name"),
        (("publish", "haarcascades", "src", "--version", "2025-01-01\n"), "is not a valid version"),
        (("pin", "sentinel", "haarcascades", "2020-03-25\n", "--yes"), "is not a valid version"),
        (("pin", "../etc", "haarcascades", "2020-03-25", "--yes"), "is not a host name"),
        (("verify", "haarcascades", "2020-13-01"), "is not a valid version"),
        (("rollback", "yolo", "--previous", "--yes"), "unknown model 'yolo'"),
        (("rollback", "face_recognition", "--yes"), "give either VERSION or --previous"),
        (("cleanup", "--keep", "-3"), "-3 is not in the range x>=0"),
        (("pin", "nosuchhost", "haarcascades", "2020-03-25", "--yes"), "no host 'nosuchhost'"),
    ],
)
def test_bad_arguments_are_one_line_and_change_nothing(world, args, fragment):
    before = world.fingerprint()
    done = (
        world.cli(
            *[str(world.root / a) if a == "src" else a for a in args], "--store", str(world.store)
        )
        if args[0] in ("publish", "verify", "cleanup")
        else world.cli(*args)
    )
    assert "Traceback" not in done.stderr and done.returncode == 2, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if fragment in line]
    assert lines, done.stderr
    assert world.fingerprint() == before
    assert not list(world.store.glob("face*"))


def test_verify_a_manifest_that_is_not_utf8_is_one_line_exit_1(world):
    manifest = world.store / "haarcascades" / "2020-03-25" / "MANIFEST.sha256"
    manifest.write_bytes(manifest.read_bytes() + b"\xff\xfe\n")
    before = world.fingerprint()
    done = world.cli("verify", "haarcascades", "--store", str(world.store))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert any("not UTF-8" in line for line in done.stderr.splitlines())
    assert world.fingerprint() == before


def test_rich_markup_and_escape_codes_are_printed_as_text(world):
    src = world.root / "weird"
    src.mkdir()
    (src / "haarcascade_eye.xml").write_bytes(valid("haarcascade_eye.xml"))
    store = world.root / "st[/]ore[bold]\x1b[31m"
    store.mkdir(parents=True)
    done = world.cli(
        "publish",
        "haarcascades",
        str(src),
        "--version",
        "2026-01-01",
        "--yes",
        "--store",
        str(store),
    )
    assert done.returncode == 0, done.stderr
    assert "[/]ore[bold]" in done.stdout and "\x1b" not in done.stdout
    replace_in(
        world.registry,
        'current_version: "2020-03-25"\n    previous_version: null\n    probe: builtin\n\n  # OpenFace',
        'current_version: "2026-01-01"\n    previous_version: "2020-03-25"\n    probe: builtin\n\n'
        "  # OpenFace",
    )
    world.git(
        "-c",
        "user.email=t@x.invalid",
        "-c",
        "user.name=[bold]x[/]",
        "commit",
        "-qam",
        "[/] promote \x1b[31m haarcascades",
    )
    done = world.cli("history", "haarcascades")
    assert done.returncode == 0, done.stderr
    assert "[/] promote" in done.stdout and "\x1b" not in done.stdout, done.stdout


def test_history_follows_merges_renames_and_a_deleted_file(world):
    registry = world.registry
    git = world.git
    ident = ("-c", "user.email=t@x.invalid", "-c", "user.name=t")
    git("checkout", "-qb", "side")
    replace_in(registry, 'current_version: "2026-02-02"', 'current_version: "2026-05-05"')
    git(*ident, "commit", "-qam", "side change")
    git("checkout", "-q", "-")
    git(*ident, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    git(
        "mv",
        "inventories/group_data/model_registry.yaml",
        "inventories/group_data/old_registry.yaml",
    )
    git(*ident, "commit", "-qm", "rename away")
    git(
        "mv",
        "inventories/group_data/old_registry.yaml",
        "inventories/group_data/model_registry.yaml",
    )
    git(*ident, "commit", "-qm", "rename back")
    git("rm", "-q", "inventories/group_data/model_registry.yaml")
    git(*ident, "commit", "-qm", "delete")
    git("checkout", "-q", "HEAD~1", "--", "inventories/group_data/model_registry.yaml")
    git(*ident, "commit", "-qm", "restore")
    done = world.cli("history", "face_recognition", "--json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert '"to": "2026-05-05"' in done.stdout


def test_declining_the_confirmation_is_exit_3_and_changes_nothing(world):
    before = world.fingerprint()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on a terminal
        os.environ.update(
            {
                "SENTINELCAM_INVENTORY": str(world.inventory),
                "SENTINELCAM_ACTION_LOG": str(world.root / "actions.log"),
            }
        )
        os.execv(
            PYTHON,
            [
                PYTHON,
                "-m",
                "sentinelcam_models",
                "pin",
                "sentinel",
                "haarcascades",
                "2020-03-25",
                "--no-deploy",
                "--store",
                str(world.store),
            ],
        )
    output = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in output and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            output += os.read(fd, 4096)
    os.write(fd, b"n\n")
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 3, output
    assert b"declined; nothing changed" in output
    assert world.fingerprint() == before


def test_billion_laughs_host_data_is_refused_quickly(world):
    world.host_file("sentinel").write_text(BILLION_LAUGHS)
    done = world.cli(
        "validate"
    )  # expanded, 9**9 elements would never finish within the CLI's timeout
    assert done.returncode == 2 and "anchors and aliases are not allowed" in done.stderr


def test_publishing_a_text_file_as_the_face_model_is_one_line_and_changes_nothing(world):
    src = world.root / "faces"
    src.mkdir()
    for name in ("facemodel.pickle", "baselines.hdf5", "facelist.csv", "facedata.hdf5"):
        (src / name).write_bytes(valid(name))
    (src / "facemodel.pickle").write_text("svm: SVC(probability=True)\nlabels: alice, bob\n")
    before = world.fingerprint()
    done = world.cli(
        "publish", "face_recognition", str(src), "--version", "2026-05-05", "--yes", "--store",
        str(world.store),
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "face_recognition/2026-05-05: facemodel.pickle: not a valid face model pickle" in line
    assert world.fingerprint() == before
