"""One command's view of the fleet: the inventory loaded and checked once, one store connection.

A use case (fleet/usecases.py) takes a Session and asks it for what it needs: the checked
inventory (loaded on first use, warnings reported once), the store (opened on first use and kept:
every call of the command goes over the same connection), the state of a version in the store as a
typed value, the retention policy written (the only place a command writes it) and the redeploy.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..core import catalog
from ..core.policy import data_path, policy_for, policy_path
from ..core.problems import BadInput, OperatorError, Refused, one_line
from ..core.untrusted import short
from ..core.validation import CheckedInventory, RawHost
from ..core.validation import check_inventory as check_hosts
from ..paths import REPO_ROOT, checkout, deploy_file, host_data_file
from ..store.files import (
    HOST_DATA_KEYS,
    PINS,
    PROBLEMS_KEY,
    Handed,
    WatchedPins,
    host_data,
    plain,
    planned_host_data,
    read_text,
    recording_host_data,
)
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
        self._merged: dict[tuple[str, str], Handed | None] = {}  # host data files the load merged
        self.loads = 0  # pyinfra inventory loads (user code in inventory files runs each time)
        self.rereads = 0  # host data read again into the loaded inventory (a rollout step's pins)
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

    def plan_host_data(self, files: Mapping[Path, str | None]) -> CheckedInventory:
        """The inventory loaded (once) and checked as it will be when these host data files hold
        these texts (None: removed), before they are written: a pin is checked against what a load
        after its write gives (every host's data, whatever the inventory's code does with the
        file), and refused with nothing written. Not seen: inventory code that reads the pin
        files other than through ``store.files.host_data``."""
        return self.reload(files)

    def merged_host_data(self, host: str) -> bool:
        """The last load asked ``store.files.host_data`` for this host's file, for this host."""
        return self._host_key(host) in self._merged

    def shared_host_data(self, host: str) -> bool:
        """The last load asked for this host's file more than once (for another host too?), or
        the pins it answered are held, as they are, by more than one host or group: a pin of
        this host could move another one."""
        key = self._host_key(host)
        if key not in self._merged:
            return False
        handed = self._merged[key]
        if handed is None:
            return True
        pins = handed.returned.get(PINS)
        return isinstance(pins, WatchedPins) and self._holders(pins) > 1

    def reload(self, planned: Mapping[Path, str | None] | None = None) -> CheckedInventory:
        """Load the inventory files (again: host data files changed) and check them; ``planned``:
        with these host data files read as these texts (plan_host_data)."""
        first = self._pyinfra is None
        with recording_host_data() as merged, planned_host_data(planned or {}):
            self._pyinfra = load_pyinfra_inventory(self.inventory)
        self._merged = merged
        self.loads += 1
        self._checked = None
        checked = self.recheck()
        if first and self.on_load is not None:
            self.on_load(checked)
        return checked

    def reread_host_data(
        self, hosts: Iterable[str], require: Callable[[CheckedInventory], None] | None = None
    ) -> CheckedInventory:
        """The inventory as it is after these hosts' host data files were written (pins), checked
        by ``require`` too; when either refuses, the Session is as it was before (the Edit
        restores the files).

        The written files are read into the loaded data only where that is what loading the
        inventory again would give: ``store.files.host_data`` was asked once for the host; the
        host's loaded ``model_version_overrides`` is, by identity, the mapping it handed the load,
        unchanged, not looked into by the inventory's code (store.files.WatchedPins), and held by
        no other host or group; and the file still holds pins, so what the inventory's code could
        test of the dict it was handed (its keys, its length, its truth) is the same before the
        write and after. Any other inventory (one that merges the file its own way, or not at all,
        or looks into or changes the pins), a host that had no pins to merge, and a file left
        without pins (an unpin of the last) are loaded again. Not seen: inventory code that reads
        the pin files other than through ``host_data``.
        """
        saved = (self._pyinfra, dict(self._merged), self._checked, self.loads)
        undo: list[Callable[[], None]] = []
        try:
            checked = self._reread(list(hosts), undo)
            if require is not None:
                require(checked)
            return checked
        except BaseException:
            for step in reversed(undo):
                step()
            self._pyinfra, self._merged, self._checked, _ = saved
            raise

    def _reread(self, hosts: list[str], undo: list[Callable[[], None]]) -> CheckedInventory:
        if self._pyinfra is None or not all(self._merged_as_read(host) for host in hosts):
            return self.reload()
        news = {host: host_data(self.inventory, host) for host in hosts}
        if not all(PINS in new or PROBLEMS_KEY in new for new in news.values()):
            return self.reload()  # a file left without pins: the inventory merges its own instead
        for host in hosts:
            loaded = self._pyinfra.host_data[host]
            before = {k: loaded[k] for k in HOST_DATA_KEYS if k in loaded}
            undo.append(functools.partial(_put, loaded, before))
            _put(loaded, news[host])
            self._merged[self._host_key(host)] = Handed.of(news[host])
        self.rereads += 1
        return self.recheck()

    def _merged_as_read(self, host: str) -> bool:
        handed = self._merged.get(self._host_key(host))
        data = self._pyinfra.host_data
        loaded = data.get(host) if host in data else None
        if handed is None or loaded is None or PROBLEMS_KEY in loaded:
            return False
        returned = handed.returned
        pins = returned.get(PINS)
        return (
            isinstance(pins, WatchedPins)
            and not pins.touched
            and loaded.get(PINS) is pins
            and self._holders(pins) == 1
            and plain(returned) == handed.snapshot
        )

    def _holders(self, pins: WatchedPins) -> int:
        """How many hosts' and groups' (and override) loaded data hold ``pins`` itself: one, and
        putting a host's new pins in its place leaves nobody else with the old ones."""
        inventory = self._pyinfra
        holders = [
            *inventory.host_data.values(),
            *inventory.group_data.values(),
            getattr(inventory, "data", None) or {},
            getattr(inventory, "override_data", None) or {},
        ]
        return sum(1 for data in holders if data.get(PINS) is pins)

    def _host_key(self, host: str) -> tuple[str, str]:
        return (str(host_data_file(self.inventory, host)), host)

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
        try:
            given = Given(self.deploy_checked(model), self._remote_store(), policy_written)
        except OperatorError as exc:  # after the change was committed: the run's refusal (exit
            print(f"--> The redeploy is refused: {one_line(str(exc))}", file=sys.stderr)  # 1),
            return 1  # logged, the undo line shown and a rollout's stop rule applied by callers
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
        self.require_deploy_reads_this_registry()
        hosts = [
            RawHost(h.name, h.groups, {**h.data, "models": model})
            for h in raw_hosts(self.pyinfra_inventory)
        ]
        checked = check_hosts(registry, [], hosts, self.inventory)
        if isinstance(checked, Refused):
            raise checked
        return checked

    def require_deploy_reads_this_registry(self) -> None:
        """A deploy reads the registry its group data names (``model_registry_file``, as the
        pre-flight of a hand-run ``pyinfra`` does): refuse when that is not the registry this
        command reads and changes (the one beside the inventory). A change that will redeploy
        asks before its edit; the redeploy asks again."""
        path = self.checked.registry.path
        named = next(
            (
                h.data.get("model_registry_file")
                for h in raw_hosts(self.pyinfra_inventory)
                if h.data.get("model_registry_file")
            ),
            None,
        )
        if not named:
            raise BadInput(
                f"{self.inventory}: model_registry_file: not set (inventories/group_data/all.py "
                "sets it)"
            )
        if Path(str(named)).resolve() != Path(path).resolve():
            raise BadInput(
                f"{self.inventory}: model_registry_file {short(str(named), 200)} is not the "
                f"registry beside the inventory ({path}), which this command read and changed: "
                "a deploy would read the other one; point model_registry_file at it"
            )

    def _remote_store(self) -> RemoteStore | None:
        """The connection to the primary's store this command holds (None: none, or a store on
        this machine: the deploy's pre-flight reaches the primary itself)."""
        return self._store.remote if isinstance(self._store, RemoteClient) else None


def _put(loaded: dict[str, Any], new: dict[str, Any]) -> None:
    """Host data read from its file (``new``) in place of what was merged before."""
    for key in (*HOST_DATA_KEYS, PROBLEMS_KEY):
        loaded.pop(key, None)
    loaded.update(new)
