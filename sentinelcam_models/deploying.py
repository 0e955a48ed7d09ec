"""Glue between pyinfra's deploy run and the pure core: validation and pre-flight, once per run.

deploys/models.py runs once per host; the checks here run once for the whole selection, before any
operation executes, and stop the run (nothing changed anywhere) with every problem listed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from pyinfra.api.exceptions import PyinfraError

from . import names
from .plan import HostInfo, HostPlan
from .retention import policy_for
from .validation import check_inventory


@dataclass
class DeployContext:
    plans: dict[str, HostPlan]
    selected_hosts: list[str]
    models: tuple[str, ...] | None          # --data models=… (None: all)
    digests: dict[str, str]                  # "model/version" -> store manifest digest
    source: str                              # user@datasink:/store
    primary: str
    pull_concurrency: int
    pull_tries: int = 6
    previous: dict = field(default_factory=dict)      # model -> registry previous_version
    retention_policy: dict = field(default_factory=dict)  # what the datasink's weekly cleanup keeps
    placement_keys: tuple[tuple[str, str], ...] = ()   # (role, model) for every placement, fleet-wide order
    problems: list[str] = field(default_factory=list)

    def wants(self, plan: HostPlan) -> bool:
        return self.models is None or any(plan.uses(m) for m in self.models)

    def selects(self, model: str) -> bool:
        return self.models is None or model in self.models


_contexts: dict[tuple[int, str], tuple[object, object]] = {}
# pyinfra prepares hosts concurrently (gevent patches threading): one build, the others wait for it.
_build_lock = threading.Lock()


def once_per_run(state, name: str, build):
    """``build()`` once per pyinfra run (per State); its result, or its PyinfraError, is reused."""
    current = state._get_module() if hasattr(state, "_get_module") else state
    key = (id(current), name)
    with _build_lock:
        cached = _contexts.get(key)
        if cached and cached[0] is current:
            if isinstance(cached[1], PyinfraError):
                raise cached[1]
            return cached[1]
        try:
            result = build(current)
        except PyinfraError as exc:
            _contexts[key] = (current, exc)
            raise
        _contexts[key] = (current, result)
        return result


@dataclass(frozen=True)
class Datasink:
    """Where nodes pull from: the primary datasink's store, as ``user@address:/store``."""

    name: str
    host: object
    store: str
    source: str
    pull_concurrency: int
    pull_tries: int


def primary_datasink(inventory, host) -> Datasink:
    name = host.data.get("primary_datasink")
    primary = inventory.get_host(name)
    store = primary.data.get("sentinelcam_model_registry")
    address = primary.data.get("model_registry_host") or primary.data.get("ssh_hostname") or primary.name
    user = primary.data.get("sentinelcam_user")
    if not names.is_safe_path(store) or not names.HOST_NAME.match(str(address)):
        raise _fail([f"host {name}: sentinelcam_model_registry/model_registry_host are not safe to use"])
    return Datasink(name, primary, store, f"{user}@{address}:{store}",
                    int(primary.data.get("model_pull_concurrency", 10)), int(primary.data.get("model_pull_tries", 6)))


def parse_models_filter(value) -> tuple[str, ...] | None:
    if value in (None, "", False):
        return None
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(i.strip() for i in items if str(i).strip())


def host_info(host) -> HostInfo:
    return HostInfo(host.name, tuple(host.groups), host.data.dict())


def _fail(lines: list[str]) -> PyinfraError:
    return PyinfraError("\n".join(["sentinelcam-models: deploy refused, nothing was changed:"] + [f"  {line}" for line in lines]))


def deploy_context(state, inventory, host) -> DeployContext:
    """Validate and pre-flight the whole selection once per run; raise listing every problem."""
    return once_per_run(state, "models", lambda current: _build(current, inventory, host))


def _build(state, inventory, host) -> DeployContext:
    from facts.models import StoreManifests

    all_hosts = list(inventory)
    selected = [h for h in all_hosts if state.limit_hosts is None or h in state.limit_hosts]
    registry_file = host.data.get("model_registry_file")
    checked = check_inventory(registry_file, [host_info(h) for h in all_hosts], "inventory")
    if checked.problems:
        raise _fail([str(p) for p in checked.problems])
    registry = checked.registry

    models = parse_models_filter(host.data.get("models"))
    problems = [f"--data models: unknown model {m!r} (known: {', '.join(registry.models)})"
                for m in models or () if m not in registry.models]
    if problems:
        raise _fail(problems)

    datasink = primary_datasink(inventory, host)
    primary, primary_name, store = datasink.host, datasink.name, datasink.store

    plans = {h.name: checked.plans[h.name] for h in selected}
    wanted = sorted({
        f"{p.model}/{p.version}"
        for plan in plans.values()
        for p in plan.placements
        if models is None or p.model in models
    } | {
        f"face_recognition/{plan.facelist.version}"
        for plan in plans.values()
        if plan.facelist and (models is None or "face_recognition" in models)
    })
    try:
        digests = primary.get_fact(StoreManifests, store=store, wanted=wanted) if wanted else {}
    except Exception as exc:  # connection errors come in many types
        raise _fail([f"host {primary_name}: cannot reach the primary datasink to check the store: {exc}"])
    if not digests and wanted:  # the fact prints a line per item: nothing means it failed
        raise _fail([f"host {primary_name}: cannot reach the primary datasink to check the store"])
    if "__nostore__" in digests:
        raise _fail([f"host {primary_name}: store {store} does not exist"])
    missing = [item for item in wanted if not digests.get(item)]
    if missing:
        needed_by = {
            item: sorted(name for name, plan in plans.items()
                         if any(f"{p.model}/{p.version}" == item for p in plan.placements)
                         or (plan.facelist and f"face_recognition/{plan.facelist.version}" == item))
            for item in missing
        }
        raise _fail([
            f"host {primary_name}: {item} is not in the store {store} (or has no MANIFEST.sha256); needed by {', '.join(needed_by[item])}"
            for item in missing
        ])
    return DeployContext(
        plans=plans,
        selected_hosts=[h.name for h in selected],
        models=models,
        digests=digests,
        source=datasink.source,
        primary=primary_name,
        pull_concurrency=datasink.pull_concurrency,
        pull_tries=datasink.pull_tries,
        previous={name: entry.previous_version for name, entry in registry.models.items()},
        retention_policy=policy_for(registry, checked.hosts, int(primary.data.get("sentinelcam_model_retention", 5))),
        placement_keys=tuple(sorted({(p.role, p.model) for plan in checked.plans.values() for p in plan.placements})),
    )
