"""One command's view of the fleet: the inventory loaded and checked once, one store connection.

A use case (fleet/usecases.py) takes a Session and asks it for what it needs: the checked
inventory (loaded on first use, warnings reported once), the store (opened on first use and kept:
every call of the command goes over the same connection), the state of a version in the store as a
typed value, the retention policy written (the only place a command writes it) and the redeploy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..core import catalog
from ..core.policy import data_path, policy_for, policy_path
from ..core.problems import BadInput, OperatorError, Refused
from ..core.validation import CheckedInventory, RawHost
from ..core.validation import check_inventory as check_hosts
from ..paths import REPO_ROOT, checkout, deploy_file, host_data_file
from ..store.files import HOST_DATA_KEYS, PROBLEMS_KEY, host_data, read_text, recording_host_data
from .answers import StoredVersion, Verified, check_answer, version_names
from .inventory import check as check_inventory
from .inventory import load_pyinfra_inventory, raw_hosts
from .preflight import Given
from .pyinfrarun import run_deploy_file
from .remote import RemoteStore
from .stores import RemoteClient, Store, open_store

Say = Callable[[str], None]


class Session:
    def __init__(
        self,
        inventory: str,
        store: str | None = None,
        on_load: Callable[[CheckedInventory], None] | None = None,
    ):
        self.inventory = inventory
        self.store_dir = store
        self.on_load = on_load
        self._checked: CheckedInventory | None = None
        self._pyinfra: Any = None
        self._store: Store | None = None
        self._merged: dict[tuple[str, str], dict[str, Any]] = {}  # host data files the load merged
        self.loads = 0  # pyinfra inventory loads (user code in inventory files runs each time)
        self.rereads = 0  # host data files read again into the loaded inventory (after a pin)
        self.deploys = 0  # redeploys run (in this process, on the loaded inventory)

    # --- the inventory --------------------------------------------------------------------------
    @property
    def checked(self) -> CheckedInventory:
        if self._checked is None:
            self.reload()
        assert self._checked is not None
        return self._checked

    @property
    def pyinfra_inventory(self) -> Any:
        if self._pyinfra is None:
            self.reload()
        return self._pyinfra

    def reload(self) -> CheckedInventory:
        """Load the inventory files (again: host data files changed) and check them."""
        first = self._pyinfra is None
        with recording_host_data() as merged:
            self._pyinfra = load_pyinfra_inventory(self.inventory)
        self._merged = merged
        self.loads += 1
        self._checked = None
        checked = self.recheck()
        if first and self.on_load is not None:
            self.on_load(checked)
        return checked

    def reread_host_data(self, hosts: Iterable[str]) -> CheckedInventory:
        """The inventory as it is after these hosts' host data files were written (pins).

        When the loaded inventory merged each host's file through ``store.files.host_data`` and
        the host's data holds exactly what that read, loading the inventory again would only read
        the files again: they are read into the loaded data, and the hosts checked again. Any
        other inventory (one that merges the files its own way, or not at all) is loaded again.
        """
        if self._pyinfra is None:
            return self.reload()
        keys = (*HOST_DATA_KEYS, PROBLEMS_KEY)
        data: dict[str, dict[str, Any]] = {}
        for host in hosts:
            seen = self._merged.get((str(host_data_file(self.inventory, host)), host))
            loaded = self._pyinfra.host_data.get(host) if host in self._pyinfra.host_data else None
            if seen is None or loaded is None or any(loaded.get(k) != seen.get(k) for k in keys):
                return self.reload()
            data[host] = loaded
        before = {
            host: {k: loaded[k] for k in keys if k in loaded} for host, loaded in data.items()
        }
        for host, loaded in data.items():
            new = host_data(self.inventory, host)
            for key in keys:
                loaded.pop(key, None)
            loaded.update(new)
            self._merged[(str(host_data_file(self.inventory, host)), host)] = dict(new)
        self.rereads += 1
        try:
            return self.recheck()
        except BaseException:  # the files are restored (fleet/edit.py): so is the loaded data
            for host, loaded in data.items():
                for key in keys:
                    loaded.pop(key, None)
                loaded.update(before[host])
                self._merged[(str(host_data_file(self.inventory, host)), host)] = dict(before[host])
            raise

    def hosts_inventory(self) -> Any:
        """The pyinfra inventory to query hosts with: the loaded one (a new pyinfra State keeps
        the store's connection, fleet/pyinfrarun.new_state)."""
        return self.pyinfra_inventory

    def recheck(self) -> CheckedInventory:
        """Check the same hosts against the registry file as it is now (after a registry edit)."""
        if self._pyinfra is None:
            return self.reload()
        checked = check_inventory(self.inventory, raw_hosts(self._pyinfra))
        if isinstance(checked, Refused):
            raise checked
        self._checked = checked
        return checked

    def registry_text(self) -> str:
        text, problems = read_text(Path(self.checked.registry.path))
        if text is None:
            raise BadInput("; ".join(str(p) for p in problems))
        return text

    def required_files(self, model: str) -> list[str]:
        entry = self.checked.registry.model(model)
        return list(catalog.spec(model).required_files(entry.variants if entry else None))

    # --- the store ------------------------------------------------------------------------------
    def store(self) -> Store:
        """``--store DIR`` (no inventory needed), else the primary datasink's; opened once."""
        if self._store is None:
            if self.store_dir:
                self._store = open_store(None, self.store_dir)
            else:
                self._store = open_store(self.checked, None, self.pyinfra_inventory)
        return self._store

    def stored(self, model: str, version: str, deep: bool = False) -> StoredVersion:
        """Is ``model/version`` in the store, whole (and, ``deep``, does it verify re-hashed)?"""
        store = self.store()
        item = f"{model}/{version}"
        digest, problems = check_answer(
            store.call("check", wanted=[item], required={}), item, store.where
        )
        present = digest is not None or version in version_names(
            store.call("versions", model=model), store.where
        )
        if present and not problems and deep:
            verified = self.verify(model, version)
            problems = () if verified.ok else verified.lines
        return StoredVersion(model, version, present, digest, problems)

    def verify(self, model: str, version: str, deep: bool = False) -> Verified:
        store = self.store()
        answer = store.call("verify", model=model, version=version, deep=deep)
        return Verified.from_answer(answer, model, version, store.where)

    def versions(self, model: str) -> list[str]:
        store = self.store()
        return sorted(version_names(store.call("versions", model=model), store.where))

    # --- after a change -------------------------------------------------------------------------
    def write_policy(self, say: Say) -> bool:
        """Rewrite the primary's retention policy from the inventory as it now is. The one place a
        command writes it; False (and a warning) when it could not."""
        if self.store_dir:
            say(
                "note: with --store, the primary datasink's retention policy is not refreshed "
                "(the next deploy refreshes it)"
            )
            return False
        checked = self.checked
        try:
            self.store().call(
                "write_policy",
                path=policy_path(checked),
                policy=policy_for(checked),
                data_path=data_path(checked),
            )
        except OperatorError as exc:
            say(f"warning: the retention policy on the primary datasink was not refreshed: {exc}")
            return False
        say(f"retention policy refreshed on {checked.primary}")
        return True

    def redeploy(self, hosts: list[str], model: str, policy_written: bool) -> int:
        """Config redeploy of one model to exactly these hosts (versions already there move no
        bytes): pyinfra's run of deploys/models.py in this process, as ``pyinfra -y INVENTORY
        deploys/models.py --data models=MODEL --limit HOST...`` prints and exits, on the inventory
        loaded once; its pre-flight is given that inventory checked with the run's ``models``
        filter, this command's store connection and whether the policy was written."""
        if not hosts:
            return 0
        given = Given(self.deploy_checked(model), self._remote_store(), policy_written)
        self.deploys += 1
        repo = checkout() or REPO_ROOT
        return run_deploy_file(
            self.pyinfra_inventory, deploy_file("models.py"), list(hosts), repo, given
        )

    def deploy_checked(self, model: str) -> CheckedInventory:
        """The loaded hosts checked with the models filter ``models=MODEL`` (what ``--data
        models=MODEL`` gives a pyinfra run), against the registry as the command last read it:
        no new load, no new read of the registry."""
        registry = self.checked.registry  # read and found sound (else the check refused)
        hosts = [
            RawHost(h.name, h.groups, {**h.data, "models": model})
            for h in raw_hosts(self.pyinfra_inventory)
        ]
        checked = check_hosts(registry, [], hosts, self.inventory)
        if isinstance(checked, Refused):
            raise checked
        return checked

    def _remote_store(self) -> RemoteStore | None:
        """The connection to the primary's store this command holds (None: none, or a store on
        this machine: the deploy's pre-flight reaches the primary itself)."""
        return self._store.remote if isinstance(self._store, RemoteClient) else None
