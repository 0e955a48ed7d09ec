"""Staged rollouts (canary, then waves): carrying out core/waves.py's stages on the fleet.

Every step edits the registry or host pins, writes the rollout's state beside the inventory
(``inventories/rollouts/MODEL.json``) and commits them together in one Edit (fleet/edit.py: every
file locked in the global order, restored on failure), logs the step, then deploys the step's
hosts (each gated: a failing node reverts itself) and judges them by what they report: a host
passed when its configs name the new version after its gate. A pin the inventory as written does
not show refuses its step (pins that act).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..core import drift, untrusted
from ..core.changes import pin_text, require_pin_shows
from ..core.problems import BadInput, one_line
from ..core.validation import CheckedInventory
from ..core.waves import Rollout
from ..core.yamlpatch import set_values
from ..paths import host_data_file
from ..store.files import own_host_file
from .edit import Edit
from .query import query_fleet
from .session import Session

ROLLOUTS_DIR = "rollouts"
Say = Callable[[str], None]


def rollouts_dir(registry_file: str | Path) -> Path:
    """``inventories/rollouts/`` (beside group_data/ and host_data/)."""
    return Path(registry_file).resolve().parent.parent / ROLLOUTS_DIR


def state_file(registry_file: str | Path, model: str) -> Path:
    return rollouts_dir(registry_file) / f"{model}.json"


def read_states(checked: CheckedInventory) -> dict[str, Rollout]:
    states = {}
    directory = rollouts_dir(checked.registry.path)
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            states[path.stem] = Rollout.from_json(untrusted.loads(path.read_bytes(), cap=1 << 20))
        except (OSError, ValueError, BadInput):
            continue
    return states


def pending_hosts(checked: CheckedInventory) -> dict[str, str]:
    """host -> "pending: MODEL VERSION, wave N of M" for rollouts in progress (drift shows it)."""
    pending: dict[str, str] = {}
    for rollout in read_states(checked).values():
        if not rollout.active:
            continue
        for index, wave in enumerate(rollout.waves, 1):
            for host in wave:
                if host in rollout.pending():
                    pending.setdefault(
                        host,
                        f"{rollout.model} {rollout.version}: wave {index} of {len(rollout.waves)}",
                    )
    return pending


class Runner:
    """One rollout, step by step, in one session (fleet/session.py)."""

    def __init__(self, session: Session, rollout: Rollout, say: Say, no_commit: bool = False):
        self.session, self.rollout, self.say, self.no_commit = session, rollout, say, no_commit
        self.registry = Path(session.checked.registry.path)
        self.state = state_file(self.registry, rollout.model)
        self.policy_written = False  # by the last step that changed what the store must keep
        self.back_code = 0  # the stop rule's deploy of the reached hosts back (0: ok, or none)

    # --- one step: one Edit of the registry, the pins and the state ------------------------------
    def step(
        self,
        message: str,
        registry: tuple[str, str | None] | None = None,
        pins: Mapping[str, str | None] | None = None,
    ) -> None:
        """Set the registry's current/previous and host pins (None: unpin), record the state, commit:
        one Edit (every file locked in the global order, restored on failure). A pin the reloaded
        inventory does not show refuses the step."""
        r = self.rollout
        pins = dict(pins or {})
        edit = Edit(
            f"Rollout {r.model} {r.version}: {message}",
            "rollout",
            commit=not self.no_commit,
            outcome=message,
        )
        if registry is not None:
            values: dict[tuple[str, ...], Any] = {
                ("sentinelcam_models", r.model, "current_version"): registry[0],
                ("sentinelcam_models", r.model, "previous_version"): registry[1],
            }
            edit.update(self.registry, lambda text: set_values(text or "", values))
        for host, version in sorted(pins.items()):
            path = own_host_file(self.session.inventory, host)
            edit.update(path, _pinned(path, r.model, version))
        r.steps.append(message)
        edit.set(self.state, json.dumps(r.to_json(), indent=2, sort_keys=True) + "\n")
        edit.details = {"model": r.model, "version": r.version, "stage": r.stage}
        edit.check_written = lambda: self._shows(registry is not None, pins)
        try:
            changed = edit.apply()
        except BaseException:
            r.steps.pop()
            raise
        self.say(message)
        if any(path != self.state.resolve() for path in changed):
            self.policy_written = self.session.write_policy(self.say)

    def _shows(self, registry: bool, pins: Mapping[str, str | None]) -> None:
        """The inventory as written must show the step's pins (pins that act)."""
        if not pins:
            if registry:
                self.session.recheck()
            return

        def shown(checked: CheckedInventory) -> None:
            for host, version in sorted(pins.items()):
                require_pin_shows(
                    checked,
                    self.session.inventory,
                    host,
                    self.rollout.model,
                    version,
                    str(host_data_file(self.session.inventory, host)),
                    written=True,
                )

        self.session.reread_host_data(sorted(pins), shown)

    def deploy(self, hosts: list[str]) -> tuple[list[str], dict[str, str]]:
        """Deploy the model to ``hosts`` (gated) and judge each: (passed, failed host -> why)."""
        self.session.redeploy(hosts, self.rollout.model, self.policy_written)
        pyinfra_inventory = self.session.pyinfra_inventory
        checked = self.session.checked
        targets = [pyinfra_inventory.get_host(h) for h in hosts]
        facts = query_fleet(pyinfra_inventory, targets, checked, with_coral=False)
        passed, failed = [], {}
        for host in hosts:
            node, error = facts.get(host, (None, "no answer"))
            report = drift.assess_host(checked.settings[host], checked.plans[host], node, error)
            actives = {
                v for row in report.models if row.model == self.rollout.model for v in row.active
            }
            if not report.reachable:
                failed[host] = f"unreachable ({report.error})"
            elif actives == {self.rollout.version}:
                passed.append(host)
            else:
                gate = report.gate or {}
                failed[host] = (
                    f"{gate.get('status')}: {gate.get('detail')}"
                    if gate.get("status") in ("reverted", "failed")
                    else f"its configs name {', '.join(sorted(actives)) or 'nothing'}"
                )
        return passed, failed

    # --- the stages -----------------------------------------------------------------------------
    def run(self) -> int:
        r = self.rollout
        self.session.require_deploy_reads_this_registry()  # every step deploys: refuse before any
        if r.stage == "canary":
            if not self.gate_hosts(r.canary, "canary", pins=dict.fromkeys(r.canary, r.version)):
                return self.stop("the canaries failed")
            r.stage = "promote"
        if r.stage == "promote":
            holds = dict.fromkeys(r.pending(), r.old_current)
            unpins = dict.fromkeys(r.canary)
            r.held = sorted(holds)
            r.stage = "wave-1" if r.waves else "done"
            self.step(
                f"registry moves to {r.version}; {len(holds)} host(s) held at {r.old_current}",
                registry=(r.version, r.old_current),
                pins={**unpins, **holds},
            )
        while r.wave_index is not None:
            index = r.wave_index
            wave = [h for h in r.waves[index] if h in r.pending()]
            r.held = [h for h in r.held if h not in wave]
            if wave and not self.gate_hosts(
                wave, f"wave {index + 1} of {len(r.waves)}", pins=dict.fromkeys(wave, None)
            ):
                return self.stop(f"wave {index + 1} failed")
            r.stage = f"wave-{index + 2}" if index + 1 < len(r.waves) else "done"
        if r.stage == "done":
            self.step(f"done: {len(r.passed)} host(s) on {r.version}")
        return 0

    def gate_hosts(self, hosts: list[str], what: str, pins: Mapping[str, str | None]) -> bool:
        r = self.rollout
        self.step(f"{what}: {', '.join(hosts)}", pins=pins)
        passed, failed = self.deploy(hosts)
        r.passed = sorted(set(r.passed) | set(passed))
        r.failed.update(failed)
        for host, why in failed.items():
            self.say(f"{host}: failed: {why}")
        return len(failed) <= r.max_failed

    def stop(self, why: str, stage: str = "stopped") -> int:
        """The stop rule: registry back, temporary pins gone, the hosts reached deployed back."""
        r = self.rollout
        back = r.reached()
        temporary = dict.fromkeys(set(r.canary) | set(r.held))
        r.stage, r.held = stage, []
        self.step(
            f"{stage} ({why}): registry at {r.old_current}, temporary pins removed",
            registry=(r.old_current, r.old_previous),
            pins=temporary,
        )
        self.back_code = 0
        if back:
            self.say(f"--> Deploying {', '.join(back)} back to {r.old_current}")
            self.back_code = self.session.redeploy(back, r.model, self.policy_written)
        return 1


def _pinned(path: Path, model: str, version: str | None) -> Callable[[str | None], str | None]:
    """The edit of one host data file: ``model`` pinned to ``version`` (None: unpinned)."""
    return lambda text: pin_text(str(path), text, model, version)


def load(session: Session, model: str) -> Rollout:
    path = state_file(session.checked.registry.path, model)
    if not path.exists():
        raise BadInput(f"{path}: no rollout of {model}")
    try:
        data = untrusted.loads(path.read_bytes(), cap=1 << 20)
        rollout = Rollout.from_json(data)
    except (untrusted.Untrusted, BadInput) as exc:
        raise BadInput(one_line(f"{path}: {exc}")) from None
    if rollout.model != model:
        raise BadInput(f"{path}: names model {rollout.model}, not {model}")
    return rollout


def describe(rollout: Rollout) -> dict[str, Any]:
    return {**rollout.to_json(), "pending": rollout.pending()}
