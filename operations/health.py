"""
The health gate after a node switched configs: restarted services must settle, probes and the
host's check must pass; otherwise the previous configs are put back and the node reports why.
"""

from __future__ import annotations

import base64
import json

from pyinfra.api import QuoteString, StringCommand, operation

from facts.shell import body
from sentinelcam_models.core.registry import BUILTIN_PROBE
from sentinelcam_models.core.rollout import Gate, Probe
from sentinelcam_models.core.untrusted import as_bytes

SERVICE_RESTART = ("sudo", "-n", "systemctl", "restart")
# The shipped probe runs with the service's Python: its virtualenv's when there is one.
WITH_SERVICE_PYTHON = 'py="$1"; shift; [ -x "$py" ] || py=python3; exec "$py" "$@"'


def probe_argv(argv: tuple[str, ...]) -> list[str]:
    """A probe's command line; ``builtin PYTHON MODEL FILE...`` becomes the shipped probe."""
    if argv[:1] != (BUILTIN_PROBE,):
        return list(argv)
    python, model, *files = argv[1:]
    source = body("model_probe.py")
    return ["sh", "-c", WITH_SERVICE_PYTHON, "sh", python, "-c", source, model, *files]


def probe_entry(probe: Probe) -> dict:
    """A probe as the gate program reads it. The shipped probe's entries say how many of their
    last arguments are the model's own (``shared``): those with the same Python run in one
    process, which imports the loaders once (health_gate.py: ``probe_together``)."""
    entry = {
        "model": probe.model,
        "version": probe.version,
        "argv": probe_argv(probe.argv),
        "timeout": probe.timeout,
    }
    if probe.argv[:1] == (BUILTIN_PROBE,):
        entry["shared"] = len(probe.argv) - 2  # MODEL FILE...
    return entry


@operation(is_idempotent=False)
def gate(
    spec: Gate,
    record: str,
    service_user: str | None,
    restart_prefix: tuple[str, ...] = SERVICE_RESTART,
):
    """
    Prove the new versions work on this node, or revert its configs and fail with the reason.

    + spec: ``sentinelcam_models.core.rollout.Gate`` (services, probes, host check, settle, revert)
    + record: the node's health record file (``drift`` reads it)
    + service_user: run probes, checks and file writes as this user (``sudo -n -u``); None: as the login
    + restart_prefix: the command that restarts a unit (a sudoers rule names it exactly)

    **Example:**

    .. code:: python

        health.gate(spec=actions.gate, record="/home/ops/.sentinelcam/health.json", service_user="ops")
    """
    as_service = ["sudo", "-n", "-u", service_user] if service_user else []
    document = {
        "services": list(spec.services),
        "settle": spec.settle,
        "timeout": spec.timeout,
        "probes": [probe_entry(p) for p in spec.probes],
        "check": list(spec.check),
        "as_service": as_service,
        "restart": list(restart_prefix),
        "revert": [
            {
                "dest": r.dest,
                "restarts": r.restarts,
                "text": None if r.text is None else base64.b64encode(as_bytes(r.text)).decode(),
            }
            for r in spec.revert
        ],
        "record": record,
        "versions": dict(spec.versions),
    }
    yield StringCommand(
        "python3",
        "-c",
        QuoteString(body("health_gate.py")),
        QuoteString(json.dumps(document, sort_keys=True)),
    )


TIME = "\x00time\x00"  # where the node puts its time in a passed record


def passed_record(spec: Gate, record: str) -> tuple[str, dict[str, str]]:
    """
    A gate with nothing to judge (``spec.judges`` false: no restarted service, no probe, no host
    check) can only pass: its record is written by the command that wrote the configs
    (``configs.files(then=...)``), with the node's time, instead of by a gate program of its own.
    Returns ``health_record.sh`` and its inputs, for ``then``.

    + spec: the gate, with nothing to judge
    + record: the node's health record file

    The record is the one ``health_gate.py`` writes when it passes (``seconds``: 0, it held
    nothing).
    """
    if spec.judges:
        raise ValueError("this gate has something to judge: it runs as health.gate")
    entry = {
        "status": "passed",
        "detail": "no restarted service; 0 probe(s); host check: no",
        "versions": dict(spec.versions),
        "time": TIME,
        "seconds": 0.0,
    }
    head, tail = json.dumps(entry, sort_keys=True).split(json.dumps(TIME))
    return "health_record.sh", {
        "what": "health record",
        "record": record,
        "head": head + '"',
        "tail": '"' + tail,
    }
