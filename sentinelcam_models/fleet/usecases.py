"""The use cases: what each command does, in one layer, over one Session.

The CLI parses arguments, opens a Session, calls one function here and renders what it returns.
Each use case loads and checks the inventory once (the Session), reaches the store over one
connection, asks before it changes anything (``ui.confirm``: the CLI refuses without a terminal
unless --yes), writes every file through one Edit (fleet/edit.py) and the retention policy in one
place (Session.write_policy).

Registry changes (rollback, promote, pin, unpin) go: compute the change (core/changes.py), check the
store for the versions it names (typed answers), return the plan on --dry-run, ask, apply the Edit, log,
write the policy, redeploy exactly the hosts that use the model. A pin is computed on the inventory
loaded with the host's file as it will be written (a pin that would not act is refused before
anything is written); a rollout step's pins are checked after its write (else the files are put
back).
"""

from __future__ import annotations

import contextlib
import difflib
import shlex
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import names
from ..core import waves as waves_core
from ..core.changes import (
    MERGE_ADVICE,
    Change,
    NoChange,
    check_version,
    pin_change,
    pin_text,
    version_change,
)
from ..core.policy import policy_for
from ..core.problems import BadInput, CheckFailed, Refused
from ..paths import registry_file_for
from ..store.actionlog import log_action
from ..store.files import own_host_file, read_registry, read_text
from . import rollouts
from .answers import Adopted, Cleaned, Published, Verified, coral_files, coral_installed
from .edit import Edit
from .session import Session
from .stores import LocalClient

PLAN_SCHEMA = "sentinelcam-models/change-plan/v1"


@dataclass(frozen=True)
class ChangeOptions:
    """The options every change command takes."""

    inventory: str
    yes: bool = False
    dry_run: bool = False
    no_commit: bool = False
    no_deploy: bool = False
    store: str | None = None


def _quiet(label: str) -> AbstractContextManager[Any]:
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Ui:
    """How a use case talks to the operator: progress lines, a question before a change (raises
    Declined for a no, or without a terminal and without --yes), and ``work(label)``: a context
    around a long store operation (the CLI may show progress there)."""

    say: Callable[[str], None]
    confirm: Callable[[str], None]
    work: Callable[[str], AbstractContextManager[Any]] = _quiet


# --- registry changes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangePlan:
    """A change as --dry-run shows it (and --json prints it)."""

    change: Change
    deploy: bool

    @property
    def diff(self) -> str:
        c = self.change
        return "".join(
            difflib.unified_diff(
                (c.old_text or "").splitlines(True),
                (c.new_text or "").splitlines(True),
                c.file,
                c.file,
            )
        )

    def to_json(self) -> dict[str, Any]:
        c = self.change
        return {
            "schema": PLAN_SCHEMA,
            "action": c.action,
            "model": c.model,
            "message": c.message,
            "file": c.file,
            "creates_file": c.old_text is None,
            "removes_file": c.new_text is None,
            "diff": self.diff,
            "store_versions": list(c.store_versions),
            "redeploy": list(c.hosts) if self.deploy else [],
            "undo": shlex.join(c.undo),
            "details": dict(c.details),
        }


@dataclass(frozen=True)
class Applied:
    change: Change
    committed: bool
    undo: str
    policy_written: bool
    deploy_exit: int | None  # None: no redeploy (--no-deploy)


ChangeResult = NoChange | ChangePlan | Applied


def question(change: Change, opts: ChangeOptions) -> str:
    """The prompt: exactly what will happen."""
    steps = [f"{'remove' if change.new_text is None else 'write'} {change.file}"]
    if "pins" in change.details:  # a pin: the host's whole pin set as the inventory then shows it
        pins = change.details["pins"]
        shown = ", ".join(f"{m} {v}" for m, v in pins.items()) or "none"
        steps[0] += f" ({change.details['host']}'s pins then: {shown})"
    if not opts.no_commit:
        steps.append("commit it")
    if opts.no_deploy:
        steps.append("no redeploy (--no-deploy)")
    elif change.hosts:
        steps.append(
            f"redeploy {change.model} to {len(change.hosts)} host(s): {', '.join(change.hosts)}"
        )
    else:
        steps.append("no host to redeploy")
    return f"{change.message}: {'; '.join(steps)}?"


def check_store(session: Session, change: Change) -> None:
    """Every version the change names must be in the store (promote: and verify there, re-hashed)."""
    for version in change.store_versions:
        stored = session.stored(change.model, version, deep=change.deep_store_check)
        where = session.store().where
        if not stored.present:
            raise BadInput(f"{change.model} {version} is not in the store ({where})")
        if stored.problems:
            raise BadInput(
                f"{change.model} {version} does not verify in the store ({where}): "
                + "; ".join(stored.problems)
            )


def carry_out(
    session: Session, result: Change | NoChange, opts: ChangeOptions, ui: Ui
) -> ChangeResult:
    if isinstance(result, NoChange):
        return result
    check_store(session, result)
    if opts.dry_run:
        return ChangePlan(result, not opts.no_deploy)
    ui.confirm(question(result, opts))
    return apply(session, result, opts, ui)


def committed_note(edit: Edit, opts: ChangeOptions) -> str:
    """What the change's line says of its commit."""
    if edit.committed:
        return " (committed)"
    return "" if opts.no_commit else " (nothing to commit: git never had the file)"


def apply(session: Session, change: Change, opts: ChangeOptions, ui: Ui) -> Applied:
    """Edit (locked, checked unchanged, written, the registry checked as written, committed, logged), write
    the retention policy, redeploy the hosts that use the model."""
    if not opts.no_deploy and change.hosts:
        session.require_deploy_reads_this_registry()  # refused before the edit, not after it
    undo = shlex.join(change.undo)
    details = dict(change.details)
    edit = Edit(
        change.message,
        change.action,
        commit=not opts.no_commit,
        details={**details, "hosts": list(change.hosts), "undo": undo},
    )
    edit.set(Path(change.file), change.new_text, change.old_text, check=True)
    # The registry as it is under the lock, with the same hosts (a pin's load saw its file as
    # written; the registry could have moved on since).
    edit.check_written = session.recheck
    edit.apply()
    ui.say(change.message + committed_note(edit, opts))
    ui.say(f"To undo: {undo}")
    written = session.write_policy(ui.say)
    if opts.no_deploy:
        log_action(change.action, "ok (no deploy)", **details)
        return Applied(change, edit.committed, undo, written, None)
    ui.say(
        f"--> Redeploying {change.model} to {', '.join(change.hosts) if change.hosts else 'no host'}"
    )
    code = session.redeploy(list(change.hosts), change.model, written)
    log_action(
        change.action,
        "ok" if code == 0 else f"deploy failed (exit {code})",
        hosts=list(change.hosts),
        **details,
    )
    if code != 0:
        raise CheckFailed(
            f"the registry changed but the deploy failed on some hosts (exit {code}); re-run the "
            f"deploy or undo with: {undo}"
        )
    return Applied(change, edit.committed, undo, written, code)


def version_change_of(
    session: Session, action: str, model: str, version: str | None
) -> Change | NoChange:
    return version_change(
        session.checked, session.registry_text(), action, model, version, session.inventory
    )


def rollback(
    session: Session, model: str, version: str | None, opts: ChangeOptions, ui: Ui
) -> ChangeResult:
    """Make VERSION (None: the previous version) current."""
    return carry_out(session, version_change_of(session, "rollback", model, version), opts, ui)


def promote(
    session: Session, model: str, version: str, opts: ChangeOptions, ui: Ui
) -> ChangeResult:
    """Make a newly published VERSION current (it must verify in the store)."""
    return carry_out(session, version_change_of(session, "promote", model, version), opts, ui)


def _pin(
    session: Session, host: str, model: str, version: str | None, opts: ChangeOptions, ui: Ui
) -> ChangeResult:
    """The inventory is loaded once, as it will be with the host's file written (a pin it does not
    show is refused before anything is written); the redeploy runs on that load."""
    if not names.is_host_name(host):
        raise BadInput(f"{session.inventory}: {host!r} is not a valid host name")
    if not names.is_model_name(model):
        raise BadInput(f"{model!r} is not a valid model name")
    if version is not None:
        check_version(model, version)
    path = own_host_file(session.inventory, host)
    text = None
    if path.exists():
        text, problems = read_text(path)
        if text is None:
            raise BadInput("; ".join(str(p) for p in problems))
    try:
        new_text = pin_text(str(path), text, model, version)
    except BadInput:
        session.reload()  # a broken file: refused with the lines every command gives for it
        raise
    try:
        checked = session.plan_host_data({path: new_text})
    except Refused:
        registry, problems, _ = read_registry(registry_file_for(session.inventory))
        if registry is not None and not problems and registry.model(model) is None:
            raise BadInput(  # the planned pin's fault, not the registry's or the inventory's
                f"{registry.path}: unknown model {model!r} (known: {', '.join(registry.models)})"
            ) from None
        raise
    if host in checked.settings and not session.merged_host_data(host):
        raise BadInput(
            f"{session.inventory}: host {host}'s data does not come from {path} through "
            f"sentinelcam_models.store.files.host_data, so its pins do not act: {MERGE_ADVICE}; "
            "nothing changed"
        )
    if session.shared_host_data(host):
        raise BadInput(
            f"{path}: the inventory ({session.inventory}) reads it more than once, or hands its "
            f"pins to more than one host, so a pin of {host} could move another host unchecked: "
            "give each host its own file, host_data(__file__, name); nothing changed"
        )
    change = pin_change(checked, host, model, version, str(path), text, session.inventory)
    return carry_out(session, change, opts, ui)


def pin(
    session: Session, host: str, model: str, version: str, opts: ChangeOptions, ui: Ui
) -> ChangeResult:
    return _pin(session, host, model, version, opts, ui)


def unpin(session: Session, host: str, model: str, opts: ChangeOptions, ui: Ui) -> ChangeResult:
    return _pin(session, host, model, None, opts, ui)


# --- staged rollouts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RolloutPlan:
    rollout: waves_core.Rollout

    @property
    def line(self) -> str:
        r = self.rollout
        return "; ".join(
            [f"canary {', '.join(r.canary)}"]
            + [f"wave {i}: {', '.join(w)}" for i, w in enumerate(r.waves, 1)]
        )

    def to_json(self) -> dict[str, Any]:
        r = self.rollout
        return {
            "schema": PLAN_SCHEMA,
            "action": "promote",
            "model": r.model,
            "staged": True,
            "version": r.version,
            "from": r.old_current,
            "canary": list(r.canary),
            "waves": [list(w) for w in r.waves],
            "max_failed": r.max_failed,
        }


def promote_staged(
    session: Session,
    model: str,
    version: str,
    canary: list[str],
    waves: str,
    max_failed: int,
    opts: ChangeOptions,
    ui: Ui,
) -> NoChange | RolloutPlan | int:
    """Canary hosts first (pinned), then the registry moves and the others follow in waves."""
    checked = session.checked
    change = version_change_of(session, "promote", model, version)
    if isinstance(change, NoChange):
        return change
    running = rollouts.read_states(checked).get(model)
    if running is not None and running.active:
        raise BadInput(
            f"a rollout of {model} {running.version} is {running.stage}: resume or undo it first "
            f"(sentinelcam-models rollout resume|undo {model})"
        )
    check_store(session, change)
    entry = checked.registry.models[model]
    plan = RolloutPlan(
        waves_core.plan(
            model,
            version,
            entry.current_version,
            entry.previous_version,
            checked.users_of(model, unpinned_only=True),
            canary,
            waves,
            max_failed,
        )
    )
    for host in plan.rollout.canary:  # the canaries' pins go in their own files (refused now,
        own_host_file(session.inventory, host)  # not after the rollout has begun)
    if opts.dry_run:
        return plan
    ui.confirm(
        f"Roll {model} out to {version} ({plan.line}): pin the canaries in host_data/, deploy and "
        f"gate them, then move {checked.registry.path} and deploy the waves, committing each step?"
    )
    ui.say(
        f"To resume after an interruption: sentinelcam-models rollout resume {model} -i {session.inventory}"
    )
    ui.say(f"To undo: sentinelcam-models rollout undo {model} -i {session.inventory}")
    code = rollouts.Runner(session, plan.rollout, ui.say, opts.no_commit).run()
    if code:
        raise CheckFailed(
            f"the rollout of {model} {version} stopped: the registry stays at "
            f"{plan.rollout.old_current}; see the lines above"
        )
    return 0


def rollout_resume(session: Session, model: str, no_commit: bool, ui: Ui) -> int:
    rollout = rollouts.load(session, model)
    if rollout.stage in ("done", "undone"):
        raise BadInput(
            f"the rollout of {model} {rollout.version} is {rollout.stage}; nothing to resume"
        )
    where = (
        f"again from its canaries ({', '.join(rollout.canary)})"
        if rollout.stage == "stopped"
        else f"at its {rollout.stage} stage (pending: {', '.join(rollout.pending()) or 'none'})"
    )
    ui.confirm(
        f"Resume the rollout of {model} {rollout.version} {where}: deploy and gate each stage, "
        "committing each step?"
    )
    if rollout.stage == "stopped":  # start again at the canaries, with the same plan
        rollout.stage, rollout.passed, rollout.failed = "canary", [], {}
    return rollouts.Runner(session, rollout, ui.say, no_commit).run()


def rollout_undo(session: Session, model: str, no_commit: bool, ui: Ui) -> int:
    rollout = rollouts.load(session, model)
    if not rollout.active:
        raise CheckFailed(f"the rollout of {model} {rollout.version} is {rollout.stage} already")
    back = rollout.reached()
    if back:  # they are deployed back: refuse before the edit, not at that deploy
        session.require_deploy_reads_this_registry()
    ui.confirm(
        f"Undo the rollout of {model} {rollout.version}: registry back to {rollout.old_current}, "
        f"temporary pins removed ({', '.join(sorted(set(rollout.canary) | set(rollout.held))) or 'none'})"
        f", commit, and deploy {', '.join(back) or 'no host'} back?"
    )
    runner = rollouts.Runner(session, rollout, ui.say, no_commit)
    runner.stop("undone by the operator", stage="undone")
    if runner.back_code:
        raise CheckFailed(
            f"the rollout of {model} {rollout.version} is undone in the registry and host data, "
            f"but deploying {', '.join(back)} back failed (exit {runner.back_code}); re-run the "
            f"deploy: pyinfra -y {session.inventory} deploys/models.py --data models={model}"
        )
    return 0


# --- the store ----------------------------------------------------------------------------------


def publish(session: Session, model: str, src: Path, version: str, ui: Ui) -> Published:
    required = session.required_files(model)
    store = session.store()
    ui.confirm(
        f"Publish {src} as {model}/{version} into the store {store.where} (never overwrites)?"
    )
    with ui.work(f"publish {model}/{version}"):
        answer = store.publish(model, version, src, required)
    result = Published.from_answer(answer, model, version, store.where)
    log_action("publish", "ok", model=model, version=version, store=store.where)
    return result


@dataclass(frozen=True)
class Verification:
    where: str
    named: bool  # a MODEL was named: a model without versions is then a failure
    results: list[Verified] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)  # models with no version in the store

    @property
    def bad(self) -> int:
        return (len(self.empty) if self.named else 0) + sum(not r.ok for r in self.results)


def store_models(session: Session) -> list[str]:
    """Every model a whole-store command covers: the registry's (with --store, the checkout's
    registry file, read without loading the inventory) and, for a store on this machine, every
    model directory in it."""
    if session.store_dir:
        registry, _, _ = read_registry(registry_file_for(session.inventory))
        found = set(registry.models) if registry is not None else set()
    else:
        found = set(session.checked.registry.models)
    store = session.store()
    if isinstance(store, LocalClient):
        root = Path(store.root)
        if root.is_dir():
            found |= {
                entry.name
                for entry in root.iterdir()
                if names.is_model_name(entry.name) and entry.is_dir() and not entry.is_symlink()
            }
    return sorted(found)


def verify(
    session: Session, model: str | None, version: str | None, ui: Ui, deep: bool = False
) -> Verification:
    """Re-hash store versions against their manifests (MODEL, else every version in the store);
    ``deep``: check each file's format too."""
    models = [model] if model else store_models(session)
    report = Verification(session.store().where, named=model is not None)
    for name in models:
        versions = [version] if version else session.versions(name)
        if not versions:
            report.empty.append(name)
        for item in versions:
            with ui.work(f"verify {name}/{item}"):
                report.results.append(session.verify(name, item, deep=deep))
    return report


def _required(session: Session) -> dict[str, list[str]]:
    return {m: session.required_files(m) for m in sorted(session.checked.registry.models)}


def adopt(session: Session, dry_run: bool, ui: Ui) -> tuple[str, list[Adopted], bool]:
    """Write the manifests of versions that have none: (store, results, dry_run)."""
    store = session.store()
    models = sorted(session.checked.registry.models)

    def run(dry: bool) -> list[Adopted]:
        answer = store.call("adopt", required=_required(session), models=models, dry_run=dry)
        return Adopted.from_answer(answer, store.where)

    with ui.work(f"adopt: checking manifest-less versions in {store.where}"):
        plan = run(True)
    todo = [a for a in plan if not a.refused]
    if dry_run or not todo:
        log_action("adopt", "dry-run" if dry_run else "ok", store=store.where, adopted=[])
        return store.where, plan, dry_run
    ui.confirm(
        f"Write MANIFEST.sha256 into {len(todo)} version(s) of {store.where}: "
        f"{', '.join(f'{a.model}/{a.version}' for a in todo)}?"
    )
    with ui.work(f"adopt: writing manifests in {store.where}"):
        results = run(False)
    log_action(
        "adopt",
        "ok",
        store=store.where,
        adopted=[f"{a.model}/{a.version}" for a in results if not a.refused],
    )
    return store.where, results, False


def cleanup(
    session: Session, keep: int | None, dry_run: bool, ui: Ui
) -> tuple[str, int, Cleaned, bool]:
    """Apply the retention policy to the store: (store, keep, result, dry_run)."""
    policy = policy_for(session.checked)
    keep = policy["keep"] if keep is None else keep
    store = session.store()

    def run(dry: bool) -> Cleaned:
        return Cleaned.from_answer(
            store.call("cleanup", policy=policy, keep=keep, dry_run=dry), store.where
        )

    with ui.work(f"cleanup of {store.where} (dry run)"):
        plan = run(True)
    if dry_run:
        log_action("cleanup", "dry-run", store=store.where, keep=keep, bytes_freed=plan.freed)
        return store.where, keep, plan, True
    # Always asked (a no-op run too): what is said here is the dry run's log, for the operator
    # to read; nothing is decided on its wording.
    doomed = [line.removeprefix("would ") for line in plan.log if line.startswith("would remove ")]
    ui.confirm(
        f"Apply the retention policy to {store.where} (keep {keep} newest others): "
        + (
            f"{'; '.join(doomed)}, for good"
            if doomed
            else "no version would be removed, only leftovers of interrupted store operations"
        )
        + f" ({plan.freed} bytes)?"
    )
    with ui.work(f"cleanup of {store.where}"):
        result = run(False)
    log_action("cleanup", "ok", store=store.where, keep=keep, bytes_freed=result.freed)
    return store.where, keep, result, False


def init_store(session: Session, ui: Ui) -> tuple[str, bool]:
    """Create the (empty) store directory on the primary datasink: (where, created)."""
    primary = session.checked.settings[session.checked.primary]
    where = f"{primary.name}:{primary.path('sentinelcam_model_registry')}"
    ui.confirm(f"Create the store directory {where}, as {primary.user} (if it is not there)?")
    store = session.store()
    return store.where, store.init()


@dataclass(frozen=True)
class CoralFetched:
    where: str
    notes: tuple[str, ...]
    skipped: tuple[str, ...]
    stored: tuple[str, ...]


def coral_fetch(session: Session, source: str | None, with_dev: bool, ui: Ui) -> CoralFetched:
    """The Coral runtime files into the store, each checked against the registry; all or nothing.
    Downloaded and checked here first, outside any lock; the store takes them in one step."""
    # urllib.request and http.client only here: about 15 ms of every other command's start
    from ..store.coral_fetch import fetch_to  # noqa: PLC0415

    coral = session.checked.registry.coral
    if coral is None:
        raise BadInput(f"{session.checked.registry.path}: no coral_packages section")
    store = session.store()
    present = coral_files(store.call("coral_files"), store.where)
    ui.confirm(
        f"Download the Coral runtime files coral_packages names ({'with' if with_dev else 'without'} "
        f"the dev package) from {source or 'each download_url'}, check each sha256, and store "
        f"the missing ones in {store.where}/coral_packages/?"
    )
    with tempfile.TemporaryDirectory(prefix="sentinelcam-coral-") as tmp:
        with ui.work("coral fetch"):
            result = fetch_to(Path(tmp), coral, source, with_dev=with_dev, present=present)
        with ui.work(f"storing the Coral files in {store.where}"):
            staged = Path(tmp) if result.staged else None
            stored = coral_installed(store.install_coral(staged, dict(result.files)), store.where)
    log_action("coral fetch", "ok", store=store.where, stored=stored)
    return CoralFetched(store.where, tuple(result.problems), tuple(result.skipped), tuple(stored))
