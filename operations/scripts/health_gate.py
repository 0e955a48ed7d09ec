"""The health gate, run on a node right after its configs switched (operations/health.py: gate).

    python3 -c "$(cat health_gate.py)" '<json spec>'

It passes when every restarted service reaches ``active`` and stays there for the settle period
without restarting (systemd's NRestarts and ActiveEnterTimestamp unchanged), and every probe and
the host's own check succeed. Otherwise it writes the previous configs back, restarts the affected
services once, checks them again, records the outcome in the node's health record (``drift`` shows
it) and exits 1 with one line per failed check. Standard library only.
"""

import base64
import datetime
import json
import subprocess
import sys
import threading
import time

POLL = 0.5


class Clock:
    """Monotonic seconds and sleeping (the unit tests load this program with a fake clock)."""

    def now(self):
        return time.monotonic()

    def sleep(self, seconds):
        time.sleep(seconds)


CLOCK = Clock()


def run(argv, timeout=None, stdin=None, keep=3):
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout} s"
    except OSError as exc:
        return 127, str(exc)
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip().splitlines()
    return proc.returncode, " | ".join(out[-keep:])


def show(service):
    _code, out = run(
        [
            "systemctl",
            "show",
            "-p",
            "ActiveState",
            "-p",
            "NRestarts",
            "-p",
            "ActiveEnterTimestamp",
            "-p",
            "SubState",
            f"{service}.service",
        ],
        timeout=15,
        keep=4,
    )
    values = dict(
        line.split("=", 1) for line in out.replace(" | ", "\n").splitlines() if "=" in line
    )
    return (
        values.get("ActiveState", "unknown"),
        values.get("NRestarts", "?"),
        values.get("ActiveEnterTimestamp", ""),
        values.get("SubState", ""),
    )


def settle(service, seconds, timeout, failures):
    """Active within ``timeout``, then unchanged for ``seconds``. A service whose process already
    exited and waits to be restarted (SubState auto-restart) fails at once: a crash loop never
    reaches "failed" when systemd keeps restarting it."""
    deadline = CLOCK.now() + timeout
    state, restarts, since, sub = show(service)
    while state != "active":
        if state == "failed" or sub == "auto-restart" or CLOCK.now() > deadline:
            code, journal = run(
                ["journalctl", "-u", f"{service}.service", "-n", "3", "--no-pager", "-o", "cat"],
                timeout=10,
            )
            failures.append(
                f"{service} is {state}{' (crashed, restarting)' if sub == 'auto-restart' else ''}, not active"
                + (f": {journal}" if code == 0 and journal else "")
            )
            return
        CLOCK.sleep(POLL)
        state, restarts, since, sub = show(service)
    end = CLOCK.now() + seconds
    while CLOCK.now() < end:
        CLOCK.sleep(POLL)
        now = show(service)[:3]
        if now != (state, restarts, since):
            failures.append(
                f"{service} did not stay active for {seconds} s "
                f"(now {now[0]}, restarts {restarts} -> {now[1]})"
            )
            return


NOTES: list[str] = []  # what passing probes could not check (a library or a Coral the node lacks)


def probe(spec, as_service, failures):
    code, out = run(as_service + spec["argv"], timeout=spec["timeout"])
    judge(spec, code, out, failures)


def judge(spec, code, out, failures):
    if code != 0:
        failures.append(f"probe {spec['model']} {spec['version']} failed (exit {code}): {out}")
    elif "note: " in out:
        NOTES.append(f"probe {spec['model']} {spec['version']}: {out}")


RESULT = "sentinelcam-probe "


def probe_together(specs, as_service, failures):
    """Probes whose command lines differ only in their last ``shared`` arguments (the shipped
    probe with one Python: ``... -c PROGRAM MODEL FILE...``) run in one process, ``--each``: the
    loaders are imported once. Each model gets the exit code and output it would have had alone;
    a model the process did not reach (it timed out or died) gets the process's."""
    first = specs[0]
    prefix = first["argv"][: -first["shared"]]
    each = [p["argv"][-p["shared"] :] for p in specs]
    timeout = sum(p["timeout"] for p in specs)  # the models load one after another
    argv = as_service + prefix + ["--each", json.dumps(each)]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout)
        code, text = proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace")
    except subprocess.TimeoutExpired as exc:
        code, text = (
            124,
            ((exc.stdout or b"").decode("utf-8", "replace") + f"\ntimed out after {timeout} s"),
        )
    except OSError as exc:
        code, text = 127, str(exc)
    results: dict[int, tuple[int, str]] = {}
    other: list[str] = []
    for line in text.splitlines():
        if not line.startswith(RESULT):
            if line.strip():
                other.append(line.strip())
            continue
        try:
            result = json.loads(line[len(RESULT) :])
            index, got, out = result["index"], result["code"], result["out"]
        except (ValueError, TypeError, KeyError):
            continue
        if (
            isinstance(index, int)
            and 0 <= index < len(specs)
            and isinstance(got, int)
            and isinstance(out, str)
        ):
            results.setdefault(index, (got, out[:2000]))
    for index, spec in enumerate(specs):
        got, out = results.get(index, (code or 1, " | ".join(other[-3:])))
        judge(spec, got, out, failures)


def check_all(spec, services):
    failures: list[str] = []
    threads = [
        threading.Thread(target=settle, args=(s, spec["settle"], spec["timeout"], failures))
        for s in services
    ]
    together: dict = {}
    for p in spec["probes"]:
        key = tuple(p["argv"][: -p["shared"]]) if p.get("shared") else ("alone", id(p))
        together.setdefault(key, []).append(p)
    threads += [
        threading.Thread(target=probe_together, args=(group, spec["as_service"], failures))
        if len(group) > 1
        else threading.Thread(target=probe, args=(group[0], spec["as_service"], failures))
        for group in together.values()
    ]
    if spec["check"]:
        threads.append(
            threading.Thread(
                target=probe,
                args=(
                    {
                        "model": "host check",
                        "version": "",
                        "argv": spec["check"],
                        "timeout": spec["timeout"],
                    },
                    spec["as_service"],
                    failures,
                ),
            )
        )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def write_as_service(spec, dest, data):
    """Write ``data`` (bytes, or None to remove) at ``dest`` as the service user, atomically."""
    if data is None:
        code, out = run(spec["as_service"] + ["rm", "-f", "--", dest], timeout=30)
    else:
        tmp = f"{dest.rsplit('/', 1)[0]}/.{dest.rsplit('/', 1)[1]}.sentinelcam-tmp"
        script = (
            'cat > "$1" && { [ ! -f "$2" ] || chmod --reference="$2" "$1"; } && mv -f "$1" "$2"'
        )
        code, out = run(
            spec["as_service"] + ["sh", "-c", script, "sh", tmp, dest], timeout=30, stdin=data
        )
    if code != 0:
        raise RuntimeError(f"cannot restore {dest}: {out}")


def record(spec, status, detail, started):
    entry = {
        "status": status,
        "detail": detail,
        "versions": spec["versions"],
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seconds": round(CLOCK.now() - started, 2),  # how long the gate held this node
    }
    write_as_service(spec, spec["record"], (json.dumps(entry, sort_keys=True) + "\n").encode())


def main(argv):
    started = CLOCK.now()
    NOTES.clear()
    spec = json.loads(argv[0])
    run(spec["as_service"] + ["mkdir", "-p", spec["record"].rsplit("/", 1)[0]], timeout=30)
    failures = check_all(spec, spec["services"])
    if not failures:
        checked = ", ".join(spec["services"]) or "no restarted service"
        notes = "".join(f"; {note}" for note in NOTES)
        record(
            spec,
            "passed",
            f"{checked}; {len(spec['probes'])} probe(s); host check: {'yes' if spec['check'] else 'no'}"
            + notes,
            started,
        )
        print(
            f"sentinelcam: health gate passed ({len(spec['probes'])} probe(s), services: {checked})"
            + notes
        )
        return 0
    for line in failures:
        print(f"sentinelcam: health gate: {line}", file=sys.stderr)
    # Revert: every config this run wrote goes back to its previous bytes; the new version's files
    # stay installed (a later deploy needs no pull).
    restart = []
    for item in spec["revert"]:
        text = None if item["text"] is None else base64.b64decode(item["text"])
        write_as_service(spec, item["dest"], text)
        if item["restarts"] and item["restarts"] not in restart:
            restart.append(item["restarts"])
    for service in restart:
        code, out = run(spec["restart"] + [f"{service}.service"], timeout=spec["timeout"])
        if code != 0:
            failures.append(f"restart of {service} after the revert failed: {out}")
    again = check_all({**spec, "probes": [], "check": []}, restart)
    status = "reverted" if not again else "failed"
    detail = "; ".join(failures) + ("" if not again else "; after the revert: " + "; ".join(again))
    record(spec, status, detail, started)
    print(
        f"sentinelcam: health gate failed, previous configs restored ({status}): {detail}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
