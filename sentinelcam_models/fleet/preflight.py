"""The one pre-flight every deploy shares (models, Coral, retention), once per run, before any
operation executes.

It validates the registry and every host; asks the primary datasink whether every version the
selected hosts need is in the store, structurally sound (no links, specials or setuid files, a
well-formed manifest naming exactly the files there) and holding the files the configs name; checks
the store's Coral files for Coral hosts; reads how many SSH handshakes each datasink's sshd accepts;
and refreshes the retention policy on the primary. A problem that concerns the whole run refuses
it with every problem listed (nothing changed anywhere); one that concerns a host refuses that host.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..core import catalog
from ..core.coral import coral_roles, unset_problem
from ..core.plan import MIRROR, pull_sources
from ..core.policy import data_path, policy_for, policy_path, policy_text
from ..core.problems import OperatorError, Refused, one_line
from ..core.rollout import TASK_FILES
from ..core.serving import served_roots
from ..core.validation import CheckedInventory
from ..paths import template_text
from .answers import coral_files, store_exists
from .inventory import check_pyinfra
from .remote import RemoteStore, ensure_connected
from .runcache import once_per_run, real_state

REFUSED = "sentinelcam-models: deploy refused, nothing was changed:"
DEFAULT_MAX_STARTUPS = 10
POLICY_WRITTEN = "sentinelcam_policy_written"  # --data for a pyinfra run (a command says Given)


def refusal(lines: list[str]) -> Exception:
    """The run's refusal as pyinfra prints it: one line per problem, no traceback."""
    from pyinfra.api.exceptions import PyinfraError  # noqa: PLC0415

    return PyinfraError("\n".join([REFUSED] + [f"  {one_line(line)}" for line in lines]))


@dataclass(frozen=True)
class Datasink:
    name: str
    source: str  # user@address nodes pull from (the key is forced to rrsync -ro on the store)
    port: int
    window: int  # at most this many hosts pull from it at once


@dataclass
class RunContext:
    checked: CheckedInventory
    selected: tuple[str, ...]
    digests: dict[str, str] = field(default_factory=dict)  # model/version -> manifest digest
    datasinks: dict[str, Datasink] = field(default_factory=dict)
    coral_refused: dict[str, str] = field(
        default_factory=dict
    )  # coral host -> why its runtime step is refused
    templates: dict[str, str] = field(default_factory=dict)
    policy: dict = field(default_factory=dict)
    policy_text: str = ""
    # Pull operations, fleet-wide: mirror fills first (from the primary), then every node's
    # sessions in one operation per session index, so all datasinks serve at once.
    fill_slots: tuple[int, ...] = ()
    pull_slots: tuple[int, ...] = ()
    model_slots: tuple[tuple[str, str], ...] = ()  # (role, model), fleet-wide order
    previous: dict[str, str | None] = field(default_factory=dict)

    @property
    def registry(self):
        return self.checked.registry


@dataclass(frozen=True)
class Given:
    """What a command that runs the deploy in its own process (fleet/pyinfrarun.py) hands to the
    run's pre-flight instead of it being found again: the inventory it loaded, checked with the
    run's ``models`` filter; its connection to the primary's store (None: the pre-flight opens
    one); whether it wrote the retention policy itself."""

    checked: CheckedInventory
    store: RemoteStore | None
    policy_written: bool


_given: dict[int, tuple[Any, Given]] = {}


@contextmanager
def handed_over(state: Any, given: Given) -> Iterator[None]:
    """``given`` for the pre-flight of the run of this pyinfra State (while the deploy file runs)."""
    current = real_state(state)
    _given[id(current)] = (current, given)
    try:
        yield
    finally:
        _given.pop(id(current), None)


def context(state: Any, inventory: Any, dry: bool | None = None) -> RunContext:
    """The run's pre-flight (built by the first host that asks; shared by all)."""
    current = real_state(state)
    entry = _given.get(id(current))
    given = entry[1] if entry is not None and entry[0] is current else None
    if dry is None:
        dry = given is None and "--dry" in sys.argv  # pyinfra tells deploy code no dry-run flag
    return once_per_run(state, "preflight", lambda run: _build(run, inventory, dry, given))


def _selected(state: Any, inventory: Any) -> list:
    hosts = list(inventory)
    limit = getattr(state, "limit_hosts", None)
    return [h for h in hosts if limit is None or h in limit]


def _max_startups(host: Any) -> int:
    """The first value of sshd's MaxStartups (start:rate:full): how many handshakes it never drops."""
    from pyinfra.api import StringCommand  # noqa: PLC0415

    ensure_connected(host)
    ok, output = host.run_shell_command(
        StringCommand(
            # sshd takes the first value it meets; Debian's sshd_config includes the drop-ins
            # on its first line, so they come first (sshd -T would say, but needs root).
            "cat /etc/ssh/sshd_config.d/*.conf /etc/ssh/sshd_config 2>/dev/null | "
            "sed -n 's/^[[:space:]]*[Mm][Aa][Xx][Ss][Tt][Aa][Rr][Tt][Uu][Pp][Ss][[:space:]]\\{1,\\}\\([0-9]*\\).*/\\1/p' "  # noqa: E501 (one sed expression)
            "| head -n 1"
        )
    )
    text = (
        "".join(line.line for line in output if line.buffer_name == "stdout").strip() if ok else ""
    )
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULT_MAX_STARTUPS


def host_context(checked: CheckedInventory, selected: list[str]) -> RunContext:
    """What the run shares that needs no host: templates, previous versions, the retention policy
    and the fleet-wide operation slots (the store's digests, datasinks and Coral refusals follow)."""
    ctx = RunContext(checked, tuple(selected))
    ctx.templates = {
        f"sentinel/tasks/{name}.j2": template_text(f"sentinel/tasks/{name}.j2")
        for name in TASK_FILES
    }
    ctx.previous = {name: entry.previous_version for name, entry in checked.registry.models.items()}
    ctx.policy = policy_for(checked)
    ctx.policy_text = policy_text(ctx.policy)
    roots = [checked.plans[name].pull_roots() for name in selected]
    ctx.fill_slots = tuple(range(max((len(fills) for fills, _ in roots), default=0)))
    ctx.pull_slots = tuple(range(max((len(nodes) for _, nodes in roots), default=0)))
    ctx.model_slots = tuple(
        sorted({(p.role, p.model) for name in selected for p in checked.plans[name].placements})
    )
    return ctx


def _build(state: Any, inventory: Any, dry: bool, given: Given | None = None) -> RunContext:
    checked = given.checked if given is not None else check_pyinfra(inventory)
    if isinstance(checked, Refused):
        raise refusal([str(p) for p in checked.problems])
    selected = [h.name for h in _selected(state, inventory) if h.name in checked.settings]
    for warning in checked.warnings:  # once per run, one line each (e.g. an NCS2 host)
        if warning.host is None or warning.host in selected:
            print(f"sentinelcam-models: warning: {warning}", file=sys.stderr)
    ctx = host_context(checked, selected)

    primary_settings = checked.settings.get(checked.primary)
    if primary_settings is None:
        raise refusal([f"the primary datasink {checked.primary!r} is not in the inventory"])
    primary = inventory.get_host(checked.primary)
    store = (
        given.store
        if given is not None and given.store is not None
        else RemoteStore(primary, primary_settings)
    )

    # What the selected hosts need, and from which datasink.
    wanted: dict[str, set[str]] = {}
    for name in selected:
        plan, settings = checked.plans[name], checked.settings[name]
        for p in plan.placements:
            if (
                settings.models_filter is None
                or p.model in settings.models_filter
                or p.role == MIRROR
            ):
                wanted.setdefault(p.key, set()).add(name)
        if plan.facelist and (
            settings.models_filter is None or catalog.FACE_MODEL in settings.models_filter
        ):
            wanted.setdefault(plan.facelist.key, set()).add(name)
    required = {}
    for key in wanted:
        model = key.split("/")[0]
        entry = checked.registry.model(model)
        required[model] = list(
            catalog.spec(model).required_files(entry.variants if entry else None)
        )

    problems: list[str] = []
    if wanted:
        try:
            found = store.call("check", wanted=sorted(wanted), required=required)
        except OperatorError as exc:
            raise refusal([f"host {checked.primary}: cannot check the store: {exc}"]) from None
        except Exception as exc:  # connection errors come in many types
            raise refusal(
                [
                    f"host {checked.primary}: cannot reach the primary datasink to check the store: "
                    f"{type(exc).__name__}: {exc}"
                ]
            ) from None
        for item in sorted(wanted):
            answer = (found or {}).get(item) or {}
            if answer.get("digest") and not answer.get("problems"):
                ctx.digests[item] = answer["digest"]
                continue
            why = "; ".join(answer.get("problems") or ["not in the store"])
            problems.append(
                f"host {checked.primary}: {item}: {why} ({store.where}); "
                f"needed by {', '.join(sorted(wanted[item]))}"
            )
    if problems:
        raise refusal(problems)
    if not dry:
        # What each node key may read on the primary (core/serving.py): its role's served root.
        served, coral_served = served_roots(checked, checked.primary)
        try:
            store.call("serve", roots=served, coral=coral_served)
        except Exception as exc:  # every pull from the primary reads these roots
            raise refusal(
                [f"host {checked.primary}: cannot update the served roots: {one_line(str(exc))}"]
            ) from None

    # Datasinks the selected hosts pull from: address, port, and the sshd's handshake budget.
    sources = {
        source
        for name in selected
        for source in pull_sources(checked.settings[name], checked.plans[name], checked.primary)
    }
    for source in sorted(sources):
        settings = checked.settings[source]
        limit = settings.pull_concurrency
        if limit is None:
            host = inventory.get_host(source)
            try:
                limit = max(1, _max_startups(host) - 2)
            except Exception as exc:  # an unreachable datasink: every pull from it would fail
                raise refusal(
                    [
                        f"host {source}: cannot reach the datasink nodes pull from: "
                        f"{type(exc).__name__}: {exc}"
                    ]
                ) from None
        ctx.datasinks[source] = Datasink(
            source, f"{settings.user}@{settings.pull_address}", settings.ssh_port, limit
        )
        if not dry and source != checked.primary:
            _serve_mirror(checked, inventory, source)
    _coral(ctx, store, selected)
    # A registry change that wrote the policy itself says so (--data sentinelcam_policy_written=yes):
    # the policy is written once per command.
    written = given.policy_written if given is not None else primary.data.get(POLICY_WRITTEN)
    if not dry and checked.primary not in selected and not written:
        _write_policy(ctx, store)
    return ctx


def _serve_mirror(checked: CheckedInventory, inventory: Any, name: str) -> None:
    """A mirror's served roots, for the versions it holds now (the deploy updates them again
    after it filled the mirror). A mirror without a store yet gets them then."""
    mirror = RemoteStore(inventory.get_host(name), checked.settings[name])
    served, coral_served = served_roots(checked, name)
    try:
        if store_exists(mirror.call("exists"), mirror.where):
            mirror.call("serve", roots=served, coral=coral_served)
    except Exception as exc:  # every pull from this mirror reads these roots
        raise refusal(
            [f"host {name}: cannot update the mirror's served roots: {one_line(str(exc))}"]
        ) from None


def _coral(ctx: RunContext, store: RemoteStore, selected: list[str]) -> None:
    """Refuse Coral hosts (only them) when the registry or the store cannot give them the runtime."""
    coral = ctx.registry.coral
    hosts = [
        name
        for name in selected
        if coral_roles(ctx.checked.settings[name])
        and ctx.checked.settings[name].models_filter is None
    ]
    if not hosts or coral is None:
        return
    why = unset_problem(coral)
    if why is None:
        try:
            stored = coral_files(store.call("coral_files"), store.where)
        except Exception as exc:  # the whole Coral step depends on it
            stored, why = {}, f"cannot check the store's Coral files: {exc}"
        for item in coral.runtime_files():
            got = stored.get(item.name)
            if why:
                break
            if item.name not in stored:
                why = f"{store.where}/coral_packages/{item.name} is missing (run `sentinelcam-models coral fetch`)"
            elif got is None:
                why = (
                    f"{store.where}/coral_packages/{item.name} is not a regular file (remove it; "
                    "`sentinelcam-models coral fetch` stores it again)"
                )
            elif got != item.sha256:
                why = (
                    f"{store.where}/coral_packages/{item.name} differs from the registry's sha256 "
                    "(altered or damaged; `sentinelcam-models coral fetch` replaces it)"
                )
    if why:
        ctx.coral_refused = dict.fromkeys(hosts, why)


def _write_policy(ctx: RunContext, store: RemoteStore) -> None:
    """The primary is outside this run's --limit: refresh its retention policy now, if it changed."""
    path = policy_path(ctx.checked)
    try:
        store.call("write_policy", path=path, policy=ctx.policy, data_path=data_path(ctx.checked))
    except Exception as exc:  # the deploy itself can go on; the policy refresh is reported
        print(
            f"sentinelcam-models: warning: could not refresh the retention policy on {ctx.checked.primary}: {exc}",
            file=sys.stderr,
        )
