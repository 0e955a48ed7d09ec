"""The health gate program and the Coral root helper, run for real with stand-ins for systemd and
dpkg on PATH (their behaviour is scripted per test; nothing here needs a fleet)."""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from facts.shell import body

GATE = body("health_gate.py")
HELPER = Path(__file__).resolve().parents[2] / "operations" / "scripts" / "sentinelcam-coral-deb"


def stand_in(bin_dir: Path, name: str, text: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)


@pytest.fixture
def systemd(tmp_path):
    """``systemctl show`` answers from a state file the test writes; ``restart`` is recorded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    stand_in(
        bin_dir,
        "systemctl",
        f"""
case $1 in
  show) for unit; do :; done; unit=${{unit%.service}}
        n=$(cat {state}/$unit.count 2>/dev/null || echo 0); echo $((n + 1)) > {state}/$unit.count
        if [ -f {state}/$unit.crash-after ] && [ $n -ge $(cat {state}/$unit.crash-after) ]; then
          printf 'ActiveState=active\\nNRestarts=1\\nActiveEnterTimestamp=later\\n'
        else
          active=$(cat {state}/$unit.state 2>/dev/null || echo active)
          printf 'ActiveState=%s\\nNRestarts=0\\nActiveEnterTimestamp=first\\n' "$active"
          printf 'SubState=%s\\n' "$(cat {state}/$unit.sub 2>/dev/null || echo running)"
        fi ;;
  restart) echo "$2" >> {state}/restarts; u=${{2%.service}}
           rm -f {state}/$u.crash-after {state}/$u.state {state}/$u.sub ;;
esac
""",
    )
    stand_in(bin_dir, "journalctl", "echo 'model file broken'\n")
    return bin_dir, state


class FakeClock:
    """The gate's clock in these tests: time moves only when the gate sleeps (no real waiting)."""

    def __init__(self) -> None:
        self.time = 1000.0
        self.lock = threading.Lock()

    def now(self) -> float:
        with self.lock:
            return self.time

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.time += seconds


def gate(bin_dir: Path, tmp_path: Path, clock: FakeClock | None = None, **spec) -> Done:
    """The gate program on ``spec``: in this process with ``clock`` (systemd and every command it
    runs are still real processes, the stand-ins on PATH), or as shipped (``python3 -c``)."""
    document = {
        "services": [],
        "settle": 1,
        "timeout": 5,
        "probes": [],
        "check": [],
        "as_service": [],
        "restart": ["systemctl", "restart"],
        "revert": [],
        "record": str(tmp_path / "state/health.json"),
        "versions": {"m": "2026-01-01"},
        **spec,
    }
    path = f"{bin_dir}:{os.environ['PATH']}"
    if clock is None:
        done = subprocess.run(
            [sys.executable, "-c", GATE, json.dumps(document)],
            capture_output=True,
            text=True,
            env={**os.environ, "PATH": path},
        )
        return Done(done.returncode, done.stdout, done.stderr)
    program: dict = {"__name__": "health_gate"}
    exec(compile(GATE, "health_gate.py", "exec"), program)
    program["CLOCK"] = clock
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, {"PATH": path}),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = program["main"]([json.dumps(document)])
    return Done(code, out.getvalue(), err.getvalue())


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def test_gate_passes_when_the_service_stays_up_and_the_probe_loads(tmp_path, systemd):
    bin_dir, state = systemd
    clock = FakeClock()
    ok = gate(
        bin_dir,
        tmp_path,
        clock,
        services=["imagenode"],
        settle=5,
        probes=[{"model": "m", "version": "2026-01-01", "argv": ["true"], "timeout": 5}],
    )
    assert ok.returncode == 0, ok.stderr
    record = json.loads((state / "health.json").read_text())
    assert record["status"] == "passed" and record["versions"] == {"m": "2026-01-01"}
    assert record["seconds"] >= 5  # it held the node at least for the settle period
    # it looked at the service all along the settle period, once per poll (0.5 s)
    assert int((state / "imagenode.count").read_text()) >= 10
    assert not (state / "restarts").exists()


def test_the_gate_as_shipped_runs_with_python3_c_and_its_json_argument(tmp_path, systemd):
    bin_dir, state = systemd
    ok = gate(bin_dir, tmp_path, services=["imagenode"], settle=0)
    assert ok.returncode == 0, ok.stderr
    assert "health gate passed (0 probe(s), services: imagenode)" in ok.stdout
    assert json.loads((state / "health.json").read_text())["status"] == "passed"


def switched_imagenode_config(tmp_path):
    """imagenode.yaml as the deploy left it ("new paths"), and the gate's entry to put back
    "old paths" and restart imagenode."""
    config = tmp_path / "imagenode.yaml"
    config.write_text("new paths\n")
    entry = {
        "dest": str(config),
        "restarts": "imagenode",
        "text": base64.b64encode(b"old paths\n").decode(),
    }
    return config, entry


def test_gate_reverts_a_service_that_restarts_within_the_settle_period(tmp_path, systemd):
    bin_dir, state = systemd
    (state / "imagenode.crash-after").write_text("2")
    config, revert_entry = switched_imagenode_config(tmp_path)
    done = gate(
        bin_dir,
        tmp_path,
        FakeClock(),
        services=["imagenode"],
        settle=3,
        revert=[revert_entry],
    )
    assert done.returncode == 1
    assert "imagenode did not stay active" in done.stderr
    assert config.read_text() == "old paths\n"  # previous config back
    assert (state / "restarts").read_text() == "imagenode.service\n"  # restarted once
    record = json.loads((state / "health.json").read_text())
    assert record["status"] == "reverted" and "did not stay active" in record["detail"]


def test_gate_fails_a_crash_loop_at_once_instead_of_waiting_for_its_timeout(tmp_path, systemd):
    """A unit with Restart= never reaches "failed" while it crash-loops: systemd shows it
    activating (auto-restart) until the timeout; the gate must not wait for that."""
    bin_dir, state = systemd
    (state / "imagenode.state").write_text("activating")
    (state / "imagenode.sub").write_text("auto-restart")
    config, revert_entry = switched_imagenode_config(tmp_path)
    clock = FakeClock()
    done = gate(
        bin_dir,
        tmp_path,
        clock,
        services=["imagenode"],
        timeout=600,
        revert=[revert_entry],
    )
    assert done.returncode == 1
    assert "imagenode is activating (crashed, restarting), not active" in done.stderr
    record = json.loads((state / "health.json").read_text())
    assert record["status"] == "reverted" and config.read_text() == "old paths\n"
    assert clock.now() - 1000.0 < 600  # judged at once, not after its timeout


def test_gate_reverts_on_a_failing_probe_and_removes_files_that_did_not_exist(tmp_path, systemd):
    bin_dir, state = systemd
    new_file = tmp_path / "GetFaces.yaml"
    new_file.write_text("first version\n")
    done = gate(
        bin_dir,
        tmp_path,
        FakeClock(),
        probes=[
            {
                "model": "face_detection",
                "version": "2026-02-02",
                "argv": ["sh", "-c", "echo BROKEN model >&2; exit 3"],
                "timeout": 5,
            }
        ],
        revert=[{"dest": str(new_file), "restarts": None, "text": None}],
    )
    assert done.returncode == 1
    assert "probe face_detection 2026-02-02 failed (exit 3): BROKEN model" in done.stderr
    assert not new_file.exists() and not (state / "restarts").exists()


def test_gate_reports_a_probe_that_hangs(tmp_path, systemd):
    bin_dir, _ = systemd
    done = gate(
        bin_dir,
        tmp_path,
        probes=[{"model": "m", "version": "v", "argv": ["sleep", "30"], "timeout": 0.2}],
    )
    assert done.returncode == 1 and "timed out after 0.2 s" in done.stderr


@pytest.fixture
def dpkg(tmp_path):
    """dpkg records the bytes it was asked to install; dpkg-query reports the version installed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in(
        bin_dir,
        "dpkg",
        f'[ "$1" = -i ] && sha256sum < "$2" | cut -c1-64 > {tmp_path}/installed && echo 1.0 > {tmp_path}/version\n',
    )
    stand_in(bin_dir, "dpkg-query", f"cat {tmp_path}/version 2>/dev/null\n")
    return bin_dir


@pytest.mark.skipif(
    os.geteuid() != 0, reason="the helper runs as root (sudo) and keeps a root-owned copy"
)
def test_coral_helper_installs_the_copy_it_verified_even_if_the_staged_file_is_swapped(
    tmp_path, dpkg
):
    good, evil = b"the registry's deb", b"an attacker's deb"
    staged = tmp_path / "libedgetpu1-std_1.0_arm64.deb"
    staged.write_bytes(good)
    # The service user swaps the staged file right after the helper copied it, before the check:
    # a sha256sum stand-in replaces the source, then checks.
    stand_in(
        dpkg,
        "sha256sum",
        f'printf %s "{evil.decode()}" > {staged} && exec /usr/bin/sha256sum "$@"\n',
    )
    env = {"PATH": f"{dpkg}:/usr/sbin:/usr/bin:/sbin:/bin"}
    script = HELPER.read_text().replace(
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"PATH={dpkg}:/usr/sbin:/usr/bin:/sbin:/bin"
    )
    done = subprocess.run(
        [
            "sh",
            "-c",
            script,
            "helper",
            str(staged),
            hashlib.sha256(good).hexdigest(),
            "1.0",
            "libedgetpu1-std",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "installed").read_text().strip() == hashlib.sha256(good).hexdigest()
    assert staged.read_bytes() == evil  # the swap happened; it changed nothing


@pytest.mark.skipif(
    os.geteuid() != 0, reason="the helper runs as root (sudo) and keeps a root-owned copy"
)
def test_coral_helper_refuses_a_staged_file_with_another_digest(tmp_path, dpkg):
    staged = tmp_path / "libedgetpu1-std_1.0_arm64.deb"
    staged.write_bytes(b"tampered")
    script = HELPER.read_text().replace(
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"PATH={dpkg}:/usr/sbin:/usr/bin:/sbin:/bin"
    )
    done = subprocess.run(
        ["sh", "-c", script, "helper", str(staged), "0" * 64, "1.0", "libedgetpu1-std"],
        capture_output=True,
        text=True,
    )
    assert (
        done.returncode == 1 and "differs from the registry's sha256; not installed" in done.stderr
    )
    assert not (tmp_path / "installed").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["relative.deb", "0" * 64, "1.0", "p"],
        ["/x/../y.deb", "0" * 64, "1.0", "p"],
        ["/x/a b.deb", "0" * 64, "1.0", "p"],
        ["/x/y.deb", "nothex", "1.0", "p"],
        ["/x/y.deb", "0" * 64, "1.0;id", "p"],
        ["/x/y.deb", "0" * 64, "1.0", "P$"],
    ],
)
def test_coral_helper_refuses_malformed_arguments(args):
    done = subprocess.run(["sh", str(HELPER), *args], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.startswith("sentinelcam-coral-deb: ")


def run_helper(dpkg: Path, staged: Path, sha: str = "0" * 64) -> subprocess.CompletedProcess:
    script = HELPER.read_text().replace(
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"PATH={dpkg}:/usr/sbin:/usr/bin:/sbin:/bin"
    )
    return subprocess.run(
        ["sh", "-c", script, "helper", str(staged), sha, "1.0", "libedgetpu1-std"],
        capture_output=True,
        text=True,
        timeout=60,  # a FIFO once hung the helper for good
    )


@pytest.mark.skipif(
    os.geteuid() != 0, reason="the helper runs as root (sudo) and keeps a root-owned copy"
)
@pytest.mark.parametrize("kind", ["link to /dev/zero", "fifo", "directory", "too large"])
def test_coral_helper_opens_the_staged_file_without_links_fifos_or_unbounded_reads(
    tmp_path, dpkg, kind
):
    """A staged file swapped for a link to /dev/zero once filled the root filesystem as root; a
    FIFO hung the run. Now each is refused with one line, nothing copied, nothing installed."""
    staged = tmp_path / "libedgetpu1-std_1.0_arm64.deb"
    if kind == "link to /dev/zero":
        staged.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(staged)
    elif kind == "directory":
        staged.mkdir()
    else:
        with open(staged, "wb") as handle:
            handle.truncate(65 << 20)  # sparse: 65 MiB over the 64 MiB cap
    done = run_helper(dpkg, staged)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("sentinelcam-coral-deb: "), done.stderr
    assert not Path("/var/cache/sentinelcam-coral", staged.name).exists()
    assert not (tmp_path / "installed").exists()


@pytest.mark.skipif(
    os.geteuid() != 0, reason="the helper runs as root (sudo) and keeps a root-owned copy"
)
def test_coral_helper_installs_the_digest_checked_copy(tmp_path, dpkg):
    staged = tmp_path / "libedgetpu1-std_1.0_arm64.deb"
    staged.write_bytes(b"the real deb")
    digest = hashlib.sha256(b"the real deb").hexdigest()
    done = run_helper(dpkg, staged, digest)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "installed").read_text().strip() == digest


def test_a_gate_with_nothing_to_judge_is_written_by_the_config_command_as_the_gate_writes_it(
    tmp_path, systemd
):
    # A sentinel's task files without probes or host check restart nothing: the gate can only pass.
    # Its record then comes from the task files' own command (health.passed_record in
    # configs.files), and drift and the rollout waves must read the same record the gate writes.
    from facts.shell import sequence  # noqa: PLC0415
    from operations.health import passed_record  # noqa: PLC0415
    from sentinelcam_models.core.rollout import Gate  # noqa: PLC0415

    bin_dir, state = systemd
    ran = gate(bin_dir, tmp_path, versions={"m": "2026-01-01", "haarcascades": "2020-03-25"})
    assert ran.returncode == 0, ran.stderr
    by_gate = json.loads((state / "health.json").read_text())

    spec = Gate((), (), (), 20, 120, (), {"m": "2026-01-01", "haarcascades": "2020-03-25"})
    assert not spec.judges
    record = tmp_path / "node/.sentinelcam/health.json"  # its directory does not exist yet
    command = sequence([passed_record(spec, str(record))]).get_raw_value()
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ran.stdout.strip()  # the line the gate prints
    written = record.read_text()
    assert written.endswith("}\n") and written.count("\n") == 1
    by_config = json.loads(written)
    assert {**by_config, "time": None, "seconds": None} == {
        **by_gate,
        "time": None,
        "seconds": None,
    }
    assert by_config["seconds"] == 0
    # the node's time, in the gate's format (UTC, whole seconds)
    assert datetime.datetime.fromisoformat(by_config["time"]).utcoffset() == datetime.timedelta(0)
    assert len(by_config["time"]) == len(by_gate["time"])
    with pytest.raises(ValueError):
        passed_record(Gate(("sentinel",), (), (), 20, 120, ()), str(record))
