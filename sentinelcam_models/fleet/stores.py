"""Which store a store command acts on, and one interface to it wherever it is.

``--store DIR`` names a store on this machine. Otherwise the store is the primary datasink's: acted
on locally when this machine is the primary datasink, over SSH (the same store code, store/agent.py)
when it is not. Nothing creates a store on the wrong machine: a store that is not there is an error.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Protocol

from ..core.problems import BadInput
from ..core.validation import CheckedInventory
from ..store import agent
from ..store.atomic import LOCK_FILE, LockWait, describe_holder
from ..store.local import LocalStore
from .answers import store_exists
from .pyinfrastate import keep_alive, new_state
from .remote import RemoteStore

LOCKING = frozenset({"adopt", "cleanup", "finish_publish", "install_coral"})  # take the store lock


class Store(Protocol):
    where: str
    root: str

    def call(self, command: str, **arguments: Any) -> Any: ...

    def publish(self, model: str, version: str, src: Path, required: list[str]) -> dict: ...

    def install_coral(self, staged: Path | None, files: dict[str, str]) -> list[str]: ...

    def init(self) -> bool: ...


class LocalClient:
    """A store on this machine, through the same commands the remote agent runs."""

    def __init__(self, root: Path):
        self.root = str(root)
        self.where = str(root)
        self.local = LocalStore(root)

    def call(self, command: str, **arguments: Any) -> Any:
        return agent.run([command, json.dumps({"store": self.root, **arguments})])

    def publish(self, model: str, version: str, src: Path, required: list[str]) -> dict:
        self.local.require()
        result = self.local.publish(model, version, src, required)
        return {"path": str(result.path), "manifest_digest": result.manifest_digest}

    def install_coral(self, staged: Path | None, files: dict[str, str]) -> list[str]:
        self.local.require()
        return self.local.install_coral(staged, files)

    def init(self) -> bool:
        """Create the store directory; False if it was there already."""
        if self.local.exists():
            return False
        Path(self.root).mkdir(parents=True, mode=0o755)
        return True


class RemoteClient:
    """The primary datasink's store over SSH."""

    def __init__(self, remote: RemoteStore):
        self.remote = remote
        self.root = remote.root
        self.where = remote.where

    def call(self, command: str, **arguments: Any) -> Any:
        if command in LOCKING:
            self._say_if_locked()
        return self.remote.call(command, **arguments)

    def _say_if_locked(self) -> None:
        """The store agent waits for the lock silently (its output comes at the end): say now
        whom it will wait for. A released lock file is empty (store/atomic.py)."""
        from pyinfra.api import QuoteString, StringCommand  # noqa: PLC0415

        ok, output = self.remote.host.run_shell_command(
            StringCommand("cat", "--", QuoteString(f"{self.root}/{LOCK_FILE}")),
            **self.remote.connector_args(),
        )
        record = "\n".join(line.line for line in output if line.buffer_name == "stdout")
        holder = describe_holder(record) if ok else None
        if holder:
            LockWait.report(
                f"waiting for the lock {self.where}/{LOCK_FILE} held by {holder}"
                + (
                    f" (gives up after {LockWait.timeout:g} s)"
                    if LockWait.timeout is not None
                    else ""
                )
            )

    def publish(self, model: str, version: str, src: Path, required: list[str]) -> dict:
        self._require()
        name = self.remote.upload(src)
        return self.call(
            "finish_publish",
            model=model,
            version=version,
            staged=f"{self.root}/{name}",
            required=required,
        )

    def install_coral(self, staged: Path | None, files: dict[str, str]) -> list[str]:
        self._require()
        name = self.remote.upload(staged) if staged is not None else None
        return self.call(
            "install_coral", staged=f"{self.root}/{name}" if name else None, files=files
        )

    def init(self) -> bool:
        """Create the store directory on the datasink, as its service user; False if it was there."""
        if store_exists(self.remote.call("exists"), self.where):
            return False
        from pyinfra.api import QuoteString, StringCommand  # noqa: PLC0415

        ok, output = self.remote.host.run_shell_command(
            StringCommand("mkdir", "-p", QuoteString(self.root)), **self.remote.connector_args()
        )
        if not ok:
            raise BadInput(
                f"{self.where}: cannot create the store: "
                + " ".join(line.line for line in output)[:200]
            )
        return True

    def _require(self) -> None:
        if store_exists(self.remote.call("exists"), self.where):
            return
        raise BadInput(
            f"{self.where}: no model store there (create it on the primary datasink, as the service "
            "user, or adopt an existing one)"
        )


def is_this_host(name: str, address: str) -> bool:
    """Is this machine the inventory host ``name`` (reached at ``address``)? By host name only: an
    address that happens to be local (a loopback test fleet) does not make a machine the datasink."""
    mine = {socket.gethostname().split(".")[0], socket.getfqdn()}
    return name in mine or address in mine or address.split(".")[0] in mine


def open_store(
    checked: CheckedInventory | None, store: str | None, pyinfra_inventory: Any = None
) -> Store:
    if store:
        return LocalClient(Path(store))
    if checked is None:
        raise BadInput("no store: pass --store DIR or an inventory (-i)")
    settings = checked.settings[checked.primary]
    if is_this_host(settings.name, settings.pull_address):
        return LocalClient(Path(settings.path("sentinelcam_model_registry")))
    if pyinfra_inventory is None:
        raise BadInput(
            f"the store is on {settings.name}: this command needs the pyinfra inventory to reach it"
        )
    host = connect(pyinfra_inventory, [settings.name])[settings.name]
    return RemoteClient(RemoteStore(host, settings))


def connect(inventory: Any, names: list[str], timeout: int = 10) -> dict[str, Any]:
    """Connect to the named hosts through pyinfra's API; {name: host} (BadInput for any that fails)."""
    import gevent  # noqa: PLC0415 - pyinfra only where a host is reached
    from pyinfra.api import Config  # noqa: PLC0415
    from pyinfra.api.exceptions import ConnectError  # noqa: PLC0415

    hosts = [inventory.get_host(name) for name in names]
    state = new_state(inventory, Config(CONNECT_TIMEOUT=timeout, FAIL_PERCENT=None), hosts)
    errors: dict[str, str] = {}

    def one(host: Any) -> None:
        try:  # pyinfra's own error line is not shown: the operator gets one line, below
            host.connect(show_errors=False, raise_exceptions=True)
        except ConnectError as exc:
            errors[host.name] = str(exc.args[0]) if exc.args else type(exc).__name__

    gevent.joinall([gevent.spawn(one, host) for host in hosts])
    for host in hosts:
        if host.connected:
            state.activate_host(host)
            keep_alive(host)  # kept for the whole command: across a rollout's waits
    if errors:
        raise BadInput(
            "; ".join(
                f"host {name}: cannot connect over SSH ({why})" for name, why in errors.items()
            )
        )
    return {h.name: h for h in hosts}
