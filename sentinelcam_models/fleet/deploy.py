"""The model deploy of one host as functions (deploys/models.py calls ``deploy_models``).

``deploy_models(host, ctx)`` asks the node for its state (one fact), decides purely what it needs
(``core.rollout.decide``) and turns that into operations with ``apply(host, ctx, node, actions)``,
in the same fleet-wide order on every host: retention policy (primary), mirror and node pulls (one
session per node, a sliding window per datasink), staging clean-up, the datasink face list, face
files carried along, the Coral runtime, config writes, restarts, the health gate (which reverts a
node's configs when its new versions fail), and pruning. Both run under pyinfra's API as well as
its CLI: the unit tests call them with a host whose facts they give (tests/unit/test_deploy_models.py).
"""

from __future__ import annotations

from typing import Any

from pyinfra.operations.util import any_changed

from operations import configs, health, models, services
from operations.notice import refuse

from ..core import catalog
from ..core.coral import coral_roles
from ..core.nodestate import NodeState
from ..core.planview import plan_lines
from ..core.policy import policy_path
from ..core.problems import one_line
from ..core.rollout import CONFIG_SLOTS, TASK_FILES, HostActions, decide
from ..core.services import DATAPUMP, SERVICES
from ..core.serving import served_roots
from ..store.bundle import bundle_source
from . import nodestates
from .dryrun import showing_plan
from .preflight import RunContext
from .remote import as_service
from .runcache import once_per_run
from .steps import coral_runtime


def deploy_models(host: Any, ctx: RunContext) -> None:
    """The whole model deploy of ``host`` (nothing when the run does not select it)."""
    if host.name not in ctx.selected:
        return
    node = node_state(host, ctx)
    if node.failure:  # whatever this node answered, it fails this host alone
        refuse(name="Node state refused", reasons=(node.failure,))
        return
    actions = host_actions(ctx, host.name, node)
    if showing_plan(getattr(host, "state", None)):
        show_plan(host, ctx, node, actions)
    apply(host, ctx, node, actions)


def show_plan(host: Any, ctx: RunContext, node: NodeState, actions: HostActions) -> None:
    """``--dry`` / ``--diff``: what this host's deploy changes, one ``plan:`` line each, before it runs."""
    settings = ctx.checked.settings[host.name]
    policy = policy_path(ctx.checked)
    others = (
        [(policy, node.configs.get(policy), ctx.policy_text)]
        if host.name == ctx.checked.primary
        else []
    )
    for line in plan_lines(actions, node, DATAPUMP in settings.roles.services, others):
        host.log(f"plan: {one_line(line)}")  # configs are node text


def node_state(host: Any, ctx: RunContext) -> NodeState:
    """What the node holds (versions, configs, face lists, Coral runtime): one command, as the
    service user.

    Every selected, connected host is asked once per run, all at once (fleet/nodestates.py): in
    the background while the pre-flight reached the store, else by the first host's deploy. Each
    host's deploy takes its own answer (or its own error); a host not asked then is asked now.
    """
    state = getattr(host, "state", None)
    answers = once_per_run(state, "node states", lambda _: _answers(host.inventory, ctx))
    answer = answers.get(host.name)
    if isinstance(answer, BaseException):
        raise answer
    return answer if answer is not None else nodestates.ask(host, ctx.checked)


def _answers(inventory: Any, ctx: RunContext) -> nodestates.Answers:
    if ctx.asking is not None:
        return ctx.asking.answers()
    return nodestates.ask_all(inventory, ctx.checked, ctx.selected)


def host_actions(ctx: RunContext, name: str, node: NodeState) -> HostActions:
    """What this host needs, decided purely from the run's pre-flight and the node's state."""
    checked = ctx.checked
    return decide(
        checked.settings[name],
        checked.plans[name],
        ctx.registry,
        ctx.digests,
        node,
        ctx.templates,
        ctx.previous,
    )


def apply(host: Any, ctx: RunContext, node: NodeState, actions: HostActions) -> None:
    """The operations that carry out ``actions`` on ``host`` (none on a converged host)."""
    settings = ctx.checked.settings[host.name]
    plan = ctx.checked.plans[host.name]
    service = as_service(host, settings)

    if host.name == ctx.checked.primary:
        # The weekly store cleanup keeps what this policy names (deploys/retention.py).
        path = policy_path(ctx.checked)
        if node.configs.get(path) != ctx.policy_text:
            configs.file(
                name="Retention policy (current, previous and pinned versions)",
                dest=path,
                content=ctx.policy_text,
                current=node.configs.get(path),
                **service,
            )

    if actions.refused:
        refuse(name="Refused", reasons=actions.refused)
        return

    _pulls(host, ctx, actions, service)

    if actions.staging:
        models.clear_staging(name="Clear leftover staging", paths=actions.staging, **service)

    # The datapump reads its face list when it starts: placing or repairing the list restarts it
    # even when datapump.yaml already names it (a datapump provisioned before its list existed).
    placed = []
    if actions.facelist:
        datasink = ctx.datasinks[plan.source]
        placed.append(
            models.facelist(
                name=f"Face list {actions.facelist.version}",
                version=actions.facelist.version,
                directory=actions.facelist.directory,
                source=datasink.source,
                port=datasink.port,
                tries=settings.pull_tries,
                **service,
            )
        )

    if actions.carry:
        models.carry_faces(
            name="Carry face files to the new face_recognition version",
            carry=actions.carry,
            **service,
        )

    coral_ops: dict[str, list] = {}
    if coral_roles(settings) and settings.models_filter is None:
        if host.name in ctx.coral_refused:
            refuse(name="Coral EdgeTPU runtime refused", reasons=(ctx.coral_refused[host.name],))
        else:
            coral_ops = coral_runtime(ctx, settings, node, service)

    if actions.problems:
        refuse(name="Configs refused", reasons=actions.problems)
    else:
        _configs_restarts_gate(host, ctx, actions, service, coral_ops, placed)

    paths = plan.models_paths()
    prunes = {(item.models_path, item.model): item for item in actions.prune}
    for role, model in host.loop(ctx.model_slots):
        item = prunes.get((paths.get(role, ""), model))
        if item is not None:
            models.prune(
                name=f"Prune old versions of {model}",
                item=item,
                node_owned=catalog.node_owned(model),
                **service,
            )


def _pulls(host: Any, ctx: RunContext, actions: HostActions, service: dict[str, Any]) -> None:
    """Mirrors are filled before any node pulls (and a filled mirror's served roots updated in
    the same operation); then one operation holds every node's session (each in its datasink's
    window), so the primary and the mirrors serve at the same time."""
    settings = ctx.checked.settings[host.name]
    fill_roots, node_roots = ctx.checked.plans[host.name].pull_roots()
    sessions = {s.models_path: s for s in actions.pulls}
    stages = (
        ("Fill mirror stores", ctx.fill_slots, fill_roots),
        ("Install models", ctx.pull_slots, node_roots),
    )
    # A datasink's missing face list files come in the first node pull operation, in the same
    # window (its face list operation then only switches the link): not one more round of its own.
    facelist = actions.facelist if actions.facelist and actions.facelist.needs_files else None
    plan = ctx.checked.plans[host.name]
    for stage, slots, roots in host.loop(stages):
        for index in host.loop(slots):
            session = sessions.get(roots[index]) if index < len(roots) else None
            first_node_pull = stage == "Install models" and index == 0
            same_source = session is None or session.source == plan.source
            fetch = facelist if first_node_pull and same_source else None
            if session is None and fetch is None:
                continue
            source = session.source if session is not None else plan.source
            datasink = ctx.datasinks[source]
            then = None
            if stage == "Fill mirror stores":
                # The mirror serves each role only its served root (core/serving.py); the
                # pre-flight kept them for what it held already, this adds what it received.
                served, coral_served = served_roots(ctx.checked, host.name)
                then = models.serve_command(
                    bundle_source(),
                    settings.path("sentinelcam_model_registry"),
                    served,
                    coral_served,
                )
            models.pull(
                name=stage,
                items=session.items if session is not None else (),
                models_path=session.models_path if session is not None else "",
                source=datasink.source,
                port=datasink.port,
                node_owned=catalog.node_owned(catalog.FACE_MODEL),
                tries=settings.pull_tries,
                window=(source, datasink.window),
                then=then,
                facelist=fetch,
                **service,
            )


def _configs_restarts_gate(
    host: Any,
    ctx: RunContext,
    actions: HostActions,
    service: dict[str, Any],
    coral_ops: dict[str, list],
    placed: list,
) -> None:
    """Config writes in the fleet-wide slot order, one restart per service whose config, face
    list or Coral runtime changed, then the health gate. A gate with nothing to judge (no
    restarted service, probe or host check: a sentinel's task files without probes) on a host
    where nothing restarts can only pass: its record is written by the task files' own command,
    not by one more operation."""
    settings = ctx.checked.settings[host.name]
    record = f"{settings.path('sentinelcam_state_path')}/health.json"
    writes = {c.slot: c for c in actions.configs}
    changed = {name: list(coral_ops.get(name, [])) for name in SERVICES}
    if DATAPUMP in settings.roles.services:
        changed[DATAPUMP].extend(placed)
    # The sentinel's task files go in one operation (one round trip); every other config in its own.
    tasks = [writes[slot] for slot in TASK_FILES if slot in writes]
    gate = actions.gate
    # Folded only when nothing can restart on this host in this run: a Coral runtime or face list
    # that changes at apply time restarts its service after the configs, and a record written with
    # them would already say "passed" (the decide-time facts added those operations, so none here
    # means none can run).
    folded = gate is not None and not gate.judges and bool(tasks) and not any(changed.values())
    if tasks:
        op = configs.files(
            # One directory: "Config /…/tasks/FaceRecon.yaml, FaceSweep.yaml", as pyinfra prints it.
            name="Config " + ", ".join([tasks[0].dest] + [w.slot for w in tasks[1:]]),
            writes=[(w.dest, w.text, w.old_text) for w in tasks],
            then=[health.passed_record(gate, record)] if gate is not None and folded else [],
            **service,
        )
        for name in dict.fromkeys(w.restarts for w in tasks if w.restarts):
            changed[name].append(op)
    for slot in host.loop(CONFIG_SLOTS):
        write = writes.get(slot)
        if write is None or slot in TASK_FILES:
            continue
        op = configs.file(
            name=f"Config {write.dest}",
            dest=write.dest,
            content=write.text,
            current=write.old_text,
            **service,
        )
        if write.restarts:
            changed[write.restarts].append(op)
    for name in host.loop(SERVICES):
        if changed[name]:
            services.restart(
                name=f"Restart {name} (its config, face list or Coral runtime changed)",
                service=name,
                _sudo=True,
                _if=any_changed(*changed[name]),
                # A service that will not start is the health gate's to judge (and revert) when
                # the gate checks it; one it does not check (restarted for its Coral runtime or
                # face list only) fails the host here, never behind a "passed" record.
                _ignore_errors=gate is not None and name in gate.services,
            )
    if gate is not None and not folded:
        health.gate(
            name="Health gate",
            spec=gate,
            record=record,
            service_user=service.get("_sudo_user"),
        )
