"""
Set up node-to-datasink trust, idempotently: on each node the service user's key (created if
missing) and the host keys of the datasinks it pulls from in its known_hosts (under every name and
port it uses); on each datasink, the keys of the nodes that pull from it, authorized for a
read-only rsync of its store and nothing else.

    pyinfra -y inventories/production.py deploys/trust.py

Run it without --limit (or with the datasinks included): a datasink authorizes the nodes of the
whole inventory that pull from it.
"""

from pyinfra import host, inventory, state

from facts.keys import FileText, HostKeys
from operations import configs, trust
from sentinelcam_models.core.plan import pull_sources
from sentinelcam_models.core.problems import Refused
from sentinelcam_models.core.serving import root_name, root_path
from sentinelcam_models.core.trust import known_hosts
from sentinelcam_models.fleet import remote
from sentinelcam_models.fleet.inventory import check_pyinfra
from sentinelcam_models.fleet.preflight import refusal
from sentinelcam_models.fleet.runcache import once_per_run
from sentinelcam_models.fleet.trust import operator_keys

checked = once_per_run(state, "trust", lambda _: check_pyinfra(inventory))
if isinstance(checked, Refused):
    raise refusal([str(p) for p in checked.problems])

settings = checked.settings[host.name]
plan = checked.plans[host.name]
as_service = remote.as_service(host, settings)
ssh_dir = settings.path("sentinelcam_ssh_dir")
sources = pull_sources(settings, plan, checked.primary)

if sources:
    trust.key(
        name="Service user's SSH key",
        path=f"{ssh_dir}/id_ed25519",
        comment=f"sentinelcam-pull@{host.name}",
        **as_service,
    )
    entries = {}
    for source in sources:
        datasink = checked.settings[source]
        # Read once per run: every node asking at once would open more channels on the one
        # connection to the datasink than its sshd allows (MaxSessions).
        keys = once_per_run(
            state,
            f"host keys of {source}",
            lambda _, source=source: inventory.get_host(source).get_fact(HostKeys),  # type: ignore[misc]
        )
        entries[source] = ((datasink.pull_address, source), datasink.ssh_port, keys)
    path = f"{ssh_dir}/known_hosts"
    current = host.get_fact(FileText, path=path, **as_service)
    wanted = known_hosts(current, entries)
    if wanted != current:
        configs.file(
            name="Datasink host keys in known_hosts", dest=path, content=wanted, **as_service
        )

if settings.roles.datasink:
    clients = {
        name: (
            f"{checked.settings[name].path('sentinelcam_ssh_dir')}/id_ed25519.pub",
            remote.as_service(inventory.get_host(name), checked.settings[name]),
        )
        for name in checked.settings
        if host.name in pull_sources(checked.settings[name], checked.plans[name], checked.primary)
    }
    # Every other host's keys: a node that pulls from another datasink keeps no plain line here
    # (the original authorized every node on every datasink with a full shell).
    others = {
        name: (
            f"{checked.settings[name].path('sentinelcam_ssh_dir')}/id_ed25519.pub",
            remote.as_service(inventory.get_host(name), checked.settings[name]),
        )
        for name in checked.settings
        if name != host.name and name not in clients
    }
    trust.authorize_nodes(
        name="Node keys: read-only rsync of the store",
        spare=once_per_run(state, "operator keys", lambda _: operator_keys(inventory)),
        path=f"{ssh_dir}/authorized_keys",
        store=settings.path("sentinelcam_model_registry"),
        clients=clients,
        others=others,
        # Each key reads only its role's served root (sentinelcam_models.core.serving).
        roots={
            name: root_path(
                settings.path("sentinelcam_model_registry"), root_name(checked.settings[name])
            )
            for name in clients
        },
        **as_service,
    )
