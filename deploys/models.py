"""
Roll out the model versions the registry (and host pins) ask for, then the configs that name them.

    pyinfra -y inventories/production.py deploys/models.py
    pyinfra -y inventories/production.py deploys/models.py --limit sentinels --data models=face_recognition

The decisions are pure (sentinelcam_models.core.rollout.decide); this file only turns them into
operations, in the same fleet-wide order on every host: retention policy (primary), mirror and node
pulls (one session per node, a sliding window per datasink), staging clean-up, the datasink face
list, face files carried along, the Coral runtime, config writes, restarts, the health gate (which
reverts a node's configs when its new versions fail), and pruning.
"""

from pyinfra import host, inventory, state
from pyinfra.operations.util import any_changed

from facts.node import NodeState
from operations import configs, health, models, services
from operations.notice import refuse
from sentinelcam_models.core import catalog
from sentinelcam_models.core.coral import coral_roles
from sentinelcam_models.core.policy import policy_path
from sentinelcam_models.core.rollout import CONFIG_SLOTS, SERVICE_ORDER, config_paths, decide
from sentinelcam_models.core.serving import served_roots
from sentinelcam_models.fleet.preflight import context
from sentinelcam_models.fleet.steps import coral_runtime, service_args
from sentinelcam_models.store.bundle import bundle_source

ctx = context(state, inventory)

if host.name in ctx.selected:
    settings = ctx.checked.settings[host.name]
    plan = ctx.checked.plans[host.name]
    as_service = service_args(host, settings)
    roots = sorted({p.models_path for p in plan.placements})
    coral = ctx.registry.coral
    roles = coral_roles(settings)
    node = host.get_fact(
        NodeState,
        roots=roots,
        configs=config_paths(settings),
        services=list(settings.roles.services),
        facelists=plan.facelist.directory if plan.facelist else "",
        deep=settings.deep_verify,
        owned=list(catalog.node_owned(catalog.FACE_MODEL)),
        health=f"{settings.path('sentinelcam_state_path')}/health.json",
        coral_package=coral.deb_package_name if coral and roles else "",
        coral_venvs=sorted({r.venv for r in roles}),
        _timeout=NodeState.timeout(settings.deep_verify),
        **as_service,
    )
    if node.failure:  # whatever this node answered, it fails this host alone
        refuse(name="Node state refused", reasons=(node.failure,))
    actions = decide(settings, plan, ctx.registry, ctx.digests, node, ctx.templates, ctx.previous)

    if host.name == ctx.checked.primary:
        # The weekly store cleanup keeps what this policy names (deploys/retention.py).
        path = policy_path(ctx.checked)
        if node.configs.get(path) != ctx.policy_text:
            configs.file(
                name="Retention policy (current, previous and pinned versions)",
                dest=path,
                content=ctx.policy_text,
                current=node.configs.get(path),
                **as_service,
            )

    if actions.refused:
        refuse(name="Refused", reasons=actions.refused)
    else:
        # Mirrors are filled before any node pulls; then one operation holds every node's session
        # (each in its datasink's window), so the primary and the mirrors serve at the same time.
        paths = plan.models_paths()
        fill_roots, node_roots = plan.pull_roots()
        sessions = {s.models_path: s for s in actions.pulls}
        stages = (
            ("Fill mirror stores", ctx.fill_slots, fill_roots),
            ("Install models", ctx.pull_slots, node_roots),
        )
        for stage, slots, roots_of_stage in host.loop(stages):
            for index in host.loop(slots):
                root = roots_of_stage[index] if index < len(roots_of_stage) else None
                session = sessions.get(root) if root else None
                if session is None:
                    continue
                datasink = ctx.datasinks[session.source]
                models.pull(
                    name=stage,
                    items=session.items,
                    models_path=session.models_path,
                    source=datasink.source,
                    port=datasink.port,
                    node_owned=catalog.node_owned(catalog.FACE_MODEL),
                    tries=settings.pull_tries,
                    window=(session.source, datasink.window),
                    **as_service,
                )
            if stage == "Fill mirror stores" and any(sessions.get(r) for r in fill_roots):
                # A mirror that received versions serves each role only its served root
                # (core/serving.py; the pre-flight kept them for what it held already).
                served, coral_served = served_roots(ctx.checked, host.name)
                models.serve(
                    name="Served roots of this mirror",
                    program=bundle_source(),
                    store=settings.path("sentinelcam_model_registry"),
                    roots=served,
                    coral=coral_served,
                    **as_service,
                )

        if actions.staging:
            models.clear_staging(name="Clear leftover staging", paths=actions.staging, **as_service)

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
                    **as_service,
                )
            )

        if actions.carry:
            models.carry_faces(
                name="Carry face files to the new face_recognition version",
                carry=actions.carry,
                **as_service,
            )

        coral_ops = {}
        if roles and settings.models_filter is None:
            if host.name in ctx.coral_refused:
                refuse(
                    name="Coral EdgeTPU runtime refused", reasons=(ctx.coral_refused[host.name],)
                )
            else:
                coral_ops = coral_runtime(ctx, settings, node, as_service)

        if actions.problems:
            refuse(name="Configs refused", reasons=actions.problems)
        else:
            writes = {c.slot: c for c in actions.configs}
            changed = {service: list(coral_ops.get(service, [])) for service in SERVICE_ORDER}
            if "datapump" in settings.roles.services:
                changed["datapump"].extend(placed)
            for slot in host.loop(CONFIG_SLOTS):
                write = writes.get(slot)
                if write is None:
                    continue
                op = configs.file(
                    name=f"Config {write.dest}",
                    dest=write.dest,
                    content=write.text,
                    current=write.old_text,
                    **as_service,
                )
                if write.restarts:
                    changed[write.restarts].append(op)
            for service in host.loop(SERVICE_ORDER):
                if changed[service]:
                    services.restart(
                        name=f"Restart {service} (its config, face list or Coral runtime changed)",
                        service=service,
                        _sudo=True,
                        _if=any_changed(*changed[service]),
                        # A service that will not start is the health gate's to judge (and revert).
                        _ignore_errors=actions.gate is not None,
                    )
            if actions.gate is not None:
                user = settings.user if as_service else None
                health.gate(
                    name="Health gate",
                    spec=actions.gate,
                    record=f"{settings.path('sentinelcam_state_path')}/health.json",
                    service_user=user,
                )

        prunes = {(item.models_path, item.model): item for item in actions.prune}
        for role, model in host.loop(ctx.model_slots):
            item = prunes.get((paths.get(role, ""), model))
            if item is not None:
                models.prune(
                    name=f"Prune old versions of {model}",
                    item=item,
                    node_owned=catalog.node_owned(model),
                    **as_service,
                )
