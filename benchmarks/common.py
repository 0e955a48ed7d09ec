"""What the benchmarks share: a local fleet of N nodes set up as the README's checklist says, timed
runs with the controller's CPU and peak memory, the bytes each node received (the pull operation
reports rsync's count), and the datasinks' concurrent SSH sessions sampled while a run goes on.

Only ratios within one run mean anything: the machines are shared and noisy.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from devfleet import demo  # noqa: E402
from devfleet.client import Fleet  # noqa: E402
from devfleet.layout import SERVICES  # noqa: E402 - the stand-in units
from devfleet.site import Run, Site  # noqa: E402

PYTHON = sys.executable
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
RECEIVED = re.compile(r"^\s*\[(\S+)\]\s+sentinelcam: received (\d+) bytes from (\S+)\s*$")


def fleet_of(nodes: int) -> Fleet:
    """A pristine local fleet of exactly ``nodes`` nodes."""
    # Booting a few hundred nodes on two cores takes minutes: allow it (the default is 120 s).
    env = {**os.environ, "SENTINELCAM_FLEET_BOOT_TIMEOUT": str(max(120, nodes * 3))}
    up = subprocess.run(
        [PYTHON, "-m", "devfleet", "up", "--nodes", str(nodes)],
        check=True,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    print(up.stdout + up.stderr, end="", flush=True)
    if "already up" in up.stdout + up.stderr:  # a fleet left by an earlier run: make it pristine
        subprocess.run([PYTHON, "-m", "devfleet", "reset"], check=True, cwd=REPO, env=env)
    return Fleet()


def stop_failing_standins(fleet: Fleet) -> int:
    """Stop every stand-in unit that is restarting or failed (not running): how many. On a
    pristine fleet every outpost's imagenode restarts for want of its models; its first good
    start once a deploy put them in place loads them (about 0.4 s CPU here, at a moment its
    RestartSec decides) on the cores every node shares, while other nodes still deploy."""
    script = (
        f"for u in {' '.join(SERVICES)}; do "
        'case $(systemctl show -p ActiveState --value "$u.service") in '
        'activating|failed) systemctl stop "$u.service" && echo "$u";; esac; done'
    )
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outputs = pool.map(lambda n: fleet.ssh(n["name"], script, user="root").stdout, fleet.nodes)
        return sum(len(out.split()) for out in outputs)


def site_for(fleet: Fleet, scale: float, settle: int = 2, **group_data) -> Site:
    """The checklist on a private copy of the inventories: sudoers, trust, a store at ``scale``."""
    site = Site(fleet, Path(tempfile.mkdtemp(prefix="sentinelcam-bench-")))
    site.set_group_data("all.py", model_health_settle=settle, **group_data)
    site.setup(store=False)
    demo.build_store(site.store, site.registry, scale=scale)
    site.push()
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "inventory"]):
        subprocess.run(
            ["git", "-C", str(site.root), *args],
            check=True,
            capture_output=True,
            env={**os.environ, **GIT_ENV},
        )
    return site


@dataclass
class Timed:
    seconds: float
    returncode: int
    output: str
    cpu_s: float  # the controller's CPU (user + system) for this command and what it waited for
    max_rss_mb: float  # its largest process's peak resident memory
    sessions: dict[str, int] = field(default_factory=dict)  # datasink address -> peak SSH sessions
    samples: int = 0  # how many times the sessions were sampled

    def run(self) -> Run:
        return Run(self.returncode, self.output, self.output)

    def received(self) -> dict[str, tuple[int, str]]:
        """host -> (bytes its pulls received, from which datasink address)."""
        found: dict[str, tuple[int, str]] = {}
        for line in self.output.splitlines():
            match = RECEIVED.match(line)
            if match:
                host, count, source = match.group(1), int(match.group(2)), match.group(3)
                found[host] = (found.get(host, (0, source))[0] + count, source)
        return found


def ssh_sessions(addresses: set[str]) -> dict[str, int]:
    """Established SSH connections to each address now (the nodes share the host's network
    namespace, so every datasink's sshd shows here)."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", "( sport = :22 )"],
        capture_output=True,
        text=True,
        timeout=5,
    ).stdout
    counts: dict[str, int] = {}
    for line in out.splitlines():
        fields = line.split()
        local = fields[2].rsplit(":", 1)[0] if len(fields) >= 3 else ""
        if local in addresses:
            counts[local] = counts.get(local, 0) + 1
    return counts


class SessionSampler:
    """Samples the SSH sessions to ``addresses`` every 50 ms from a thread of its own while the
    caller waits for the work it measures, so the wait ends when the work does. A floor and the
    deploy compared with it run under the same sampler (an ``ss`` costs about 3 ms of CPU)."""

    def __init__(self, addresses: set[str]):
        self.addresses = addresses
        self.peak: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> SessionSampler:
        if self.addresses:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.addresses:
            self._thread.join()

    def _sample(self) -> None:
        while True:
            for address, count in ssh_sessions(self.addresses).items():
                self.peak[address] = max(self.peak.get(address, 0), count)
            self.samples += 1
            if self._stop.wait(0.05):
                return


def timed(command: list[str], env: dict | None = None, watch: list[str] | None = None) -> Timed:
    """Run ``command`` from the repository; wall time, the controller's CPU and peak RSS (wait4).

    With ``watch`` (datasink addresses), the SSH sessions to them are sampled meanwhile
    (SessionSampler), from a thread of this process: pyinfra's gevent patches threads into
    greenlets, which would not run while its own process waits.
    """
    with tempfile.TemporaryFile() as sink, SessionSampler(set(watch or [])) as sampler:
        start = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        sink.seek(0)
        output = sink.read().decode("utf-8", "replace")
    return Timed(
        seconds,
        proc.returncode,
        output,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        sampler.peak,
        sampler.samples,
    )


_SUMMARY = """
import json, sys
from sentinelcam_models.core.plan import MIRROR
from sentinelcam_models.core.serving import served_roots
from sentinelcam_models.fleet.inventory import load_checked
checked, _ = load_checked(sys.argv[1])
primary = checked.settings[checked.primary]
hosts = {
    name: {
        "source": plan.source or checked.primary,
        "user": checked.settings[name].user,
        "datasink": checked.settings[name].roles.datasink,
        "keys": sorted({p.key for p in plan.placements if p.role != MIRROR}),
    }
    for name, plan in checked.plans.items()
}
print(json.dumps({
    "primary": checked.primary,
    "primary_user": primary.user,
    "primary_store": primary.path("sentinelcam_model_registry"),
    "served": served_roots(checked, checked.primary),
    "hosts": hosts,
    "users": {m: checked.users_of(m) for m in checked.registry.models},
    "current": {m: e.current_version for m, e in checked.registry.models.items()},
}))
"""


def inventory_summary(site: Site) -> dict:
    """What the benchmarks need from the checked inventory, loaded in a child process: loading it
    here would import pyinfra's CLI, whose gevent patches would then reap our timed children."""
    proc = subprocess.run(
        [PYTHON, "-c", _SUMMARY, str(site.inventory)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def must(result: Timed, what: str) -> Timed:
    if result.returncode != 0:
        raise SystemExit(f"{what} failed (exit {result.returncode}):\n{result.output[-4000:]}")
    return result


def pyinfra(site: Site, *args: str) -> list[str]:
    return [PYTHON, "-m", "pyinfra", "-y", str(site.inventory), *args]


def cli(site: Site, *args: str) -> list[str]:
    return [PYTHON, "-m", "sentinelcam_models", *args, "-i", str(site.inventory)]


def fact_then_converged(site: Site, deploy: list[str]) -> tuple[float, float]:
    """One bare ``fact server.Hostname`` and one converged deploy, back to back (one interleaved
    repetition of the baseline and the measure); the deploy must change nothing."""
    fact = must(timed(pyinfra(site, "fact", "server.Hostname")), "fact").seconds
    run = must(timed(deploy), "converged deploy")
    if run.run().changed_ops():
        raise SystemExit(f"the converged deploy changed something: {run.run().changed_ops()}")
    return fact, run.seconds


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("inf")
