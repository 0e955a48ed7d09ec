"""The imperative side of registry changes: the store check on the datasink, git, the action log
and the config-only redeploy. The CLI calls these in order; each failure is one operator line."""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

from .problems import OperatorError
from .registry import REPO_ROOT


def action_log_path() -> Path:
    """``$SENTINELCAM_ACTION_LOG``, else ``$XDG_STATE_HOME/sentinelcam-models/model_deployment.log``."""
    explicit = os.environ.get("SENTINELCAM_ACTION_LOG")
    if explicit:
        return Path(explicit)
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "sentinelcam-models" / "model_deployment.log"


def log_action(action: str, outcome: str, **details) -> None:
    path = action_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "user": getpass.getuser(), "action": action, "outcome": outcome, **details}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=False) + "\n")


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise OperatorError(f"git {' '.join(args[:2])} in {repo}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def git_repo(path: Path) -> Path | None:
    proc = git(path.parent if path.is_file() or not path.exists() else path, "rev-parse", "--show-toplevel", check=False)
    return Path(proc.stdout.strip()) if proc.returncode == 0 else None


def git_head(repo: Path) -> str | None:
    proc = git(repo, "rev-parse", "HEAD", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def commit_files(files: list[Path], message: str) -> str:
    """Commit exactly these files (nothing else staged is touched); return the new HEAD."""
    repo = git_repo(files[0])
    if repo is None:
        raise OperatorError(f"{files[0]}: not in a git repository (use --no-commit to skip the commit)")
    rel = [str(f.resolve().relative_to(repo.resolve())) for f in files]
    git(repo, "add", "-A", "--", *rel)
    proc = git(repo, "commit", "-q", "--only", "-m", message, "--", *rel, check=False)
    if proc.returncode != 0:
        git(repo, "reset", "-q", "--", *rel, check=False)  # leave the index as it was
        reason = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1]
        raise OperatorError(f"git commit in {repo} failed: {reason} (use --no-commit to skip the commit)")
    return git_head(repo)


def history(registry_file: Path, model: str) -> list[dict]:
    """The model's version changes, newest first, from git log of the registry file."""
    import yaml

    repo = git_repo(registry_file)
    if repo is None:
        raise OperatorError(f"{registry_file}: not in a git repository")
    rel = str(registry_file.resolve().relative_to(repo.resolve()))
    log = git(repo, "log", "--format=%H%x09%aI%x09%an%x09%s", "--", rel).stdout.splitlines()

    def current_at(commit: str) -> str | None:
        proc = git(repo, "show", f"{commit}:{rel}", check=False)
        if proc.returncode != 0:
            return None
        try:
            doc = yaml.safe_load(proc.stdout) or {}
        except yaml.YAMLError:
            return None
        return ((doc.get("sentinelcam_models") or {}).get(model) or {}).get("current_version")

    rows = []
    for line in log:
        commit, date, author, subject = line.split("\t", 3)
        after = current_at(commit)
        before = current_at(f"{commit}^")
        if after != before:
            rows.append({"commit": commit[:10], "date": date, "author": author,
                         "from": before, "to": after, "subject": subject})
    return rows


def redeploy(inventory: Path, hosts: list[str], model: str, primary: str | None = None) -> int:
    """Config redeploy of one model to exactly these hosts: versions already there move no bytes.

    The primary datasink joins the run so that its retention policy learns the change.
    """
    if not hosts:
        return 0
    pyinfra = Path(sys.executable).with_name("pyinfra")
    command = [str(pyinfra), "-y", str(Path(inventory).resolve()), str(REPO_ROOT / "deploys" / "models.py"),
               "--data", f"models={model}"]
    for host in hosts + ([primary] if primary and primary not in hosts else []):
        command += ["--limit", host]
    return subprocess.run(command, cwd=REPO_ROOT).returncode


def store_checks(inventory_path: Path, primary: str, store: str, model: str, versions: list[str],
                 deep: bool = False) -> dict[str, str]:
    """For each version: "ok" if in the store with a manifest (re-hashed when deep), else why not.

    Asks the primary datasink over SSH through pyinfra's API.
    """
    from pyinfra.api import Config, State
    from pyinfra.api.connect import connect_all
    from pyinfra.api.exceptions import PyinfraError

    from facts.models import StoreManifests, StoreVersionCheck

    from .inventory import load_pyinfra_inventory

    inventory = load_pyinfra_inventory(inventory_path)
    host = inventory.get_host(primary)
    state = State()
    state.init(inventory, Config(CONNECT_TIMEOUT=10), initial_limit=[host])
    try:
        connect_all(state)
    except PyinfraError:
        pass
    if host not in state.active_hosts:
        raise OperatorError(f"host {primary}: cannot reach the primary datasink to check the store {store}")
    try:
        if deep:
            return {v: host.get_fact(StoreVersionCheck, store=store, model=model, version=v) or "unknown" for v in versions}
        digests = host.get_fact(StoreManifests, store=store, wanted=[f"{model}/{v}" for v in versions]) or {}
        if "__nostore__" in digests:
            return {v: "missing" for v in versions}
        return {v: "ok" if digests.get(f"{model}/{v}") else "missing" for v in versions}
    finally:
        host.disconnect()
