"""
Roll out the model versions the registry (and host pins) ask for, then the configs that use them.

    pyinfra -y inventories/production.py deploys/models.py
    pyinfra -y inventories/production.py deploys/models.py --limit sentinels --data models=face_recognition

Order on each host: install every needed version (verified, atomic), clear leftover staging, place
the datasink face list, re-template changed configs, then restart each service whose configs
changed, once. A host whose pull fails stops before its configs change, so it keeps running what it
ran before.
"""

import json
from hashlib import sha256
from io import StringIO

from pyinfra import host, inventory, state
from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.files import File
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from facts.configs import FileDigests
from facts.models import installed_models
from operations import coral, models
from sentinelcam_models.configs import TEMPLATE_SLOTS, config_files, render
from sentinelcam_models.plan import DATAPUMP, IMAGENODE, SENTINEL
from sentinelcam_models.deploying import deploy_context
from sentinelcam_models.retention import POLICY_FILE

ROLES = (SENTINEL, IMAGENODE)

context = deploy_context(state, inventory, host)

if host.name == context.primary:
    # The weekly store cleanup (deploys/retention.py) keeps what this policy names: refresh it with
    # the registry and pins of this deploy, so it never removes a version that became needed.
    policy_path = f"{host.data.get('sentinelcam_data_path')}/{POLICY_FILE}"
    if host.get_fact(File, path=policy_path):
        files.put(
            name="Retention policy (current, previous and pinned versions)",
            src=StringIO(json.dumps(context.retention_policy, indent=2, sort_keys=True) + "\n"),
            dest=policy_path,
            user=host.data.get("sentinelcam_user"),
            group=host.data.get("sentinelcam_group", host.data.get("sentinelcam_user")),
            mode="644",
        )

plan = context.plans.get(host.name)
user = host.data.get("sentinelcam_user")
group = host.data.get("sentinelcam_group", user)

if plan is not None and context.wants(plan):
    # Models outside --data models= are not pulled; the configs still name them, so they must
    # already be on the node at the planned version.
    for p in plan.placements:
        if not context.selects(p.model):
            info = installed_models(host, p.models_path).get(p.model, {}).get("versions", {}).get(p.version)
            if not (info and info["complete"]):
                raise PyinfraError(
                    f"host {host.name}: {p.model} {p.version} is not installed and --data models= leaves it out; "
                    f"add it to models= or deploy without models="
                )

    # Loops run over fleet-wide fixed lists so that an operation at one position means the same
    # thing on every host (pyinfra orders and names operations by position).
    wanted = {(p.role, p.model): p for p in plan.placements if context.selects(p.model)}
    for key in host.loop(context.placement_keys):
        p = wanted.get(key)
        if p is None:
            continue
        models.version(
            name=f"Install {p.model} {p.version}",
            model=p.model,
            version=p.version,
            models_path=p.models_path,
            source=context.source,
            digest=context.digests[f"{p.model}/{p.version}"],
            linked_files=p.linked_files,
            user=user,
            tries=context.pull_tries,
            _parallel=context.pull_concurrency,
        )

    paths = {p.role: p.models_path for p in plan.placements}
    for role in host.loop(ROLES):
        if role not in paths:
            continue
        models_path = paths[role]
        models.staging_cleared(
            name=f"Clear leftover staging under {models_path}",
            models_path=models_path,
            keep=[f"{p.model}/{p.version}" for p in plan.placements if p.models_path == models_path],
            user=user,
        )

    if plan.facelist and context.selects("face_recognition"):
        models.facelist(
            name=f"Face list {plan.facelist.version}",
            version=plan.facelist.version,
            directory=plan.facelist.directory,
            source=context.source,
            user=user,
            tries=context.pull_tries,
            _parallel=context.pull_concurrency,
        )

    # The Coral EdgeTPU runtime (deploys/coral.py) on coral hosts, before the configs, on full
    # deploys only (not with --data models=). Its installs join the restarts below, so each service
    # still restarts once.
    coral_changes = coral.runtime(restart=False) if context.models is None else {}

    configs = config_files(plan, host.data.dict())
    current = host.get_fact(FileDigests, paths=[c.dest for c in configs]) if configs else {}
    changed = {service: list(coral_changes.get(service, [])) for service in plan.services}
    by_slot = {config.template: config for config in configs}
    for slot in host.loop(TEMPLATE_SLOTS):
        config = by_slot.get(slot)
        if config is None:
            continue
        if sha256(render(config).encode()).hexdigest() == current.get(config.dest):
            continue  # unchanged: no operation, no extra round trips
        changed[config.service].append(
            files.template(
                name=f"Config {config.dest}",
                src=str(config.template_path),
                dest=config.dest,
                user=user,
                group=group,
                mode="644",
                **config.values,
            )
        )

    for service in host.loop(ROLES + (DATAPUMP,)):
        if not changed.get(service):
            continue
        systemd.service(
            name=f"Restart {service} (its configs or Coral runtime changed)",
            service=service,
            running=True,
            restarted=True,
            _sudo=True,
            _if=any_changed(*changed[service]),
        )

    # Node-side retention: keep what the configs name, the registry's previous versions, pins and
    # node_model_retention others per model (--data prune_models=false turns it off).
    if host.data.get("prune_models", True) not in (False, "false", "no", 0):
        keep: dict = {}
        for p in plan.placements:
            keep.setdefault(p.model, set()).update({p.version} | ({context.previous[p.model]} - {None}))
        retain = int(host.data.get("node_model_retention", 2))

        def prunable(models_path):
            """Anything beyond the kept versions and the spares, judged before this run?"""
            installed = installed_models(host, models_path)
            return any(len(set(info.get("versions", {})) - keep.get(model, set())) > retain
                       for model, info in installed.items())

        for role in host.loop(ROLES):
            if role not in paths or not prunable(paths[role]):
                continue  # nothing could go: no operation, no extra round trips
            models.pruned(
                name=f"Prune old versions under {paths[role]}",
                models_path=paths[role],
                keep={model: sorted(versions) for model, versions in keep.items()},
                configs=[c.dest for c in configs],
                retain=retain,
                user=user,
            )
