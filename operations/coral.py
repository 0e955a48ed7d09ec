"""
The Coral EdgeTPU runtime on sentinels and outposts with a Coral USB accelerator: the libedgetpu
deb, the tflite_runtime and pycoral wheels in the service's virtualenv, and the udev rule.

Version-aware: one fact command per host reports what is installed; a package is installed only
when its version differs from the registry's (upgrade or downgrade), and nothing runs when every
version matches. The files come from the store on the primary datasink and are checked against the
registry's sha256 on the node before anything is installed.

    from operations import coral
    coral.runtime()                        # a whole deploy step (deploys/coral.py, deploys/models.py)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import sha256
from io import StringIO

from pyinfra import host, inventory, state
from pyinfra.api import StringCommand, deploy, operation
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from facts.coral import CoralRuntime, StoreCoralFiles
from operations.models import SSH_OPTIONS, _as_user, _script
from sentinelcam_models import coral as coral_mod
from sentinelcam_models import names
from sentinelcam_models.store import CORAL_DIR

DEFAULT_STAGING = "/home/ops/sentinelcam/coral_packages"
ROLE_ORDER = ("sentinel", "imagenode")

_memo: dict = {}


def runtime_fact(host, package: str, venvs: list[str]) -> dict:
    """CoralRuntime for this host, read once per run: the state before the run.

    Each operation judges its own package by it; installing one package never changes another's
    version, so the pre-run answer stays right for every operation of the run.
    """
    current = state._get_module()
    real_host = host._get_module() if hasattr(host, "_get_module") else host
    key = (id(current), id(real_host), package, tuple(venvs))
    cached = _memo.get(key)
    if cached is None or cached[0] is not current or cached[1] is not real_host:
        fact = host.get_fact(CoralRuntime, package=package, venvs=list(venvs),
                             pip_packages=list(coral_mod.PIP_PACKAGES), rule=coral_mod.UDEV_RULE_PATH)
        cached = _memo[key] = (current, real_host, fact)
    return cached[2]


def _sums(wanted: dict[str, str]) -> str:
    return "".join(f"{digest}  {name}\n" for name, digest in wanted.items())


# --- operations ---------------------------------------------------------------------------------

_STAGE = r"""
mkdir -p "$dir" && cd "$dir" || fail "cannot create $dir"
inc=''; for f in $files; do inc="$inc --include=$f"; done
# No --delete: the staging directory may be one the operator shares; only the named files change.
try rsync -a --checksum $inc --exclude='*' -e "$ssh" "$src" ./ \
  || fail "pull from the datasink failed (rsync exit $?)"
bad=$(printf '%s' "$sums" | sha256sum -c --strict - 2>/dev/null | sed -n 's/: FAILED.*$//p' | tr '\n' ' ')
missing=''; for f in $files; do [ -f "$f" ] || missing="$missing$f "; done
if [ -n "$bad$missing" ]; then
  rm -f $bad
  fail "${bad:+${bad}differs from the registry's sha256 (altered or damaged copy in the store)}${missing:+${missing}not in the store}; nothing installed"
fi
echo "sentinelcam: $what verified"
"""


@operation()
def packages_staged(
    directory: str,
    source: str,
    wanted: dict[str, str],
    package: str,
    venvs: list[str],
    versions: dict[str, str],
    user: str | None = None,
    tries: int = 6,
):
    """
    Pull the Coral package files from the store into a staging directory on the node and check
    each against the registry's sha256; fail (nothing installed) on any difference.

    + directory: the node's staging directory (``wanted`` are placed there; nothing else is touched)
    + source: rsync source of the store root, ``user@datasink:/path/to/model_registry``
    + wanted: {file name: sha256} from the registry (the deb and the wheels)
    + package: the libedgetpu dpkg package name (for the CoralRuntime fact)
    + venvs: the virtualenvs that get the wheels (for the CoralRuntime fact)
    + versions: the registry's version of libedgetpu, tflite_runtime and pycoral
    + user: the user who owns the files (pulls run as this user)
    + tries: attempts when the datasink drops the connection

    Does nothing when every version already matches: nothing will be installed.
    """
    fact = runtime_fact(host, package, venvs)
    if all(coral_mod.installed_versions(fact, venv) == versions for venv in venvs):
        host.noop("Coral runtime versions match the registry: nothing to stage")
        return
    yield _script(
        {
            "what": "Coral packages",
            "dir": directory,
            "src": f"{source}/{CORAL_DIR}/",
            "files": " ".join(wanted),
            "sums": _sums(wanted),
            "ssh": SSH_OPTIONS,
            "tries": str(tries),
        },
        _STAGE,
        **_as_user(user),
    )


_DPKG = r"""
cd "$dir" || fail "no staging directory $dir"
printf '%s  %s\n' "$sha" "$deb" | sha256sum -c --quiet --strict - >/dev/null 2>&1 \
  || fail "$deb differs from the registry's sha256; not installed"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" || fail "dpkg -i $deb failed (exit $?)"
got=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null)
[ "$got" = "$version" ] || fail "after dpkg -i $deb, $pkg is at ${got:-nothing}, not the registry's $version"
echo "sentinelcam: installed $what"
"""


@operation()
def libedgetpu(package: str, version: str, deb: str, digest: str, directory: str, venvs: list[str] = ()):
    """
    Install the libedgetpu deb with ``dpkg -i`` when the installed version differs from ``version``.

    + package: dpkg package name, e.g. ``libedgetpu1-std``
    + version: the registry's version (dpkg's ``${Version}``)
    + deb: file name in the staging directory
    + digest: the registry's sha256 of the file (checked again right before ``dpkg -i``)
    + directory: the node's staging directory
    + venvs: the virtualenvs of the CoralRuntime fact (shared with the other Coral operations)

    Upgrades and downgrades alike; runs under sudo.
    """
    installed = runtime_fact(host, package, list(venvs)).get("libedgetpu")
    if installed == version:
        host.noop(f"{package} {version} is installed")
        return
    yield _script(
        {
            "what": f"{package} {version}" + (f" (was {installed})" if installed else ""),
            "dir": directory,
            "deb": deb,
            "sha": digest,
            "pkg": package,
            "version": version,
        },
        _DPKG,
        _sudo=True,
    )


_PIP = r"""
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || fail "cannot create the virtualenv $venv"
fi
cd "$dir" || fail "no staging directory $dir"
printf '%s' "$sums" | sha256sum -c --quiet --strict - >/dev/null 2>&1 \
  || fail "a wheel differs from the registry's sha256; not installed"
for w in $wheels; do
  "$venv/bin/python" -m pip install --no-index --no-deps --no-input --disable-pip-version-check -q "$dir/$w" \
    || fail "pip install $w failed (exit $?)"
done
for nv in $expect; do
  n=${nv%%=*}; v=${nv#*=}
  got=$("$venv/bin/python" -c 'import sys; from importlib import metadata; print(metadata.version(sys.argv[1]))' "$n" 2>/dev/null)
  [ "$got" = "$v" ] || fail "after pip install, $n is at ${got:-nothing}, not the registry's $v"
done
echo "sentinelcam: installed $what"
"""


@operation()
def wheels(
    venv: str,
    packages: list[tuple[str, str, str, str]],
    directory: str,
    package: str,
    venvs: list[str],
    user: str | None = None,
):
    """
    ``pip install`` the Coral wheels whose installed version differs, in order, into a virtualenv
    (created if absent), from the staging directory only (``--no-index --no-deps``).

    + venv: the virtualenv, e.g. ``/home/ops/.virtualenvs/py3cv4``
    + packages: ``(name, version, wheel file, sha256)`` in install order (tflite_runtime, pycoral)
    + directory: the node's staging directory
    + package, venvs: the CoralRuntime fact arguments (shared with the other Coral operations)
    + user: the virtualenv's owner (pip runs as this user)
    """
    fact = runtime_fact(host, package, list(venvs))
    installed = coral_mod.installed_versions(fact, venv)
    todo = [item for item in packages if installed.get(item[0]) != item[1]]
    if not todo:
        host.noop(f"{', '.join(p[0] + ' ' + p[1] for p in packages)} installed in {venv}")
        return
    yield _script(
        {
            "what": ", ".join(f"{name} {version}" for name, version, _, _ in todo) + f" in {venv}",
            "venv": venv,
            "dir": directory,
            "wheels": " ".join(wheel for _, _, wheel, _ in todo),
            "sums": _sums({wheel: digest for _, _, wheel, digest in todo}),
            "expect": " ".join(f"{name}={version}" for name, version, _, _ in todo),
        },
        _PIP,
        **_as_user(user),
    )


@operation(is_idempotent=False)
def udev_reloaded():
    """
    Reload udev rules and re-trigger USB devices; on a node where udev is not running (a container,
    early boot) say so and succeed: the rule applies when udev starts.
    """
    yield StringCommand(
        "if command -v udevadm >/dev/null 2>&1 && [ -S /run/udev/control ]; then "
        "udevadm control --reload-rules && udevadm trigger --action=add --subsystem-match=usb; "
        "else echo 'sentinelcam: udev is not running here; the rule applies when it starts'; fi"
    )


# --- the deploy step ------------------------------------------------------------------------------

@dataclass
class CoralContext:
    coral: dict                                   # the registry's coral_packages
    roles: dict[str, list] = field(default_factory=dict)   # host name -> [CoralRole]
    source: str = ""
    pull_concurrency: int = 10
    pull_tries: int = 6


def coral_context(state, inventory, host) -> CoralContext:
    """Validate, and check the store's Coral files against the registry, once per run.

    Any problem stops the run before any operation executes: nothing is installed anywhere.
    """
    from sentinelcam_models.deploying import once_per_run

    return once_per_run(state, "coral", lambda current: _build(current, inventory, host))


def _build(state, inventory, host) -> CoralContext:
    from sentinelcam_models.deploying import _fail, host_info, primary_datasink
    from sentinelcam_models.validation import check_inventory

    all_hosts = list(inventory)
    selected = [h for h in all_hosts if state.limit_hosts is None or h in state.limit_hosts]
    checked = check_inventory(host.data.get("model_registry_file"), [host_info(h) for h in all_hosts], "inventory")
    if checked.problems:
        raise _fail([str(p) for p in checked.problems])
    coral = dict(checked.registry.coral_packages)
    roles = {h.name: coral_mod.coral_roles(h.groups, h.data.dict()) for h in selected}
    roles = {name: r for name, r in roles.items() if r}
    context = CoralContext(coral, roles)
    if not roles:
        return context

    problems = []
    for name, host_roles in roles.items():
        staging = inventory.get_host(name).data.get("coral_staging_path", DEFAULT_STAGING)
        for what, value in [("coral_staging_path", staging)] + [(f"{r.service} virtualenv", r.venv) for r in host_roles]:
            if not names.is_safe_path(value):
                problems.append(f"host {name}: {what}: {value!r} is not a safe absolute path")
    if problems:
        raise _fail(problems)
    datasink = primary_datasink(inventory, host)
    primary, primary_name, store = datasink.host, datasink.name, datasink.store

    wanted = {f.name: f.sha256 for f in coral_mod.coral_files(coral, with_dev=False)}
    directory = f"{store}/{CORAL_DIR}"
    try:
        found = primary.get_fact(StoreCoralFiles, directory=directory, files=list(wanted))
    except Exception as exc:  # connection errors come in many types
        raise _fail([f"host {primary_name}: cannot reach the primary datasink to check {directory}: {exc}"])
    for name, digest in wanted.items():
        got = (found or {}).get(name)
        if got is None:
            problems.append(f"host {primary_name}: {directory}/{name} is missing (run `sentinelcam-models coral fetch` there)")
        elif got != digest:
            problems.append(f"host {primary_name}: {directory}/{name} differs from the registry's sha256 "
                            f"(altered or damaged; `sentinelcam-models coral fetch` replaces it); nothing installed")
    if problems:
        raise _fail(problems)
    context.source = datasink.source
    context.pull_concurrency = datasink.pull_concurrency
    context.pull_tries = datasink.pull_tries
    return context


@deploy("Coral EdgeTPU runtime")
def runtime(restart: bool = True) -> dict[str, list]:
    """
    Bring this host's Coral runtime to the registry's versions; hosts without coral get nothing.

    + restart: restart each service using the runtime when something was installed for it.
      With ``restart=False`` the caller restarts: the return value maps each service to the
      operations whose change calls for its restart (deploys/models.py folds them into its own
      once-per-service restart).
    """
    context = coral_context(state, inventory, host)
    roles = context.roles.get(host.name, [])
    if not roles:
        return {}
    coral = context.coral
    user = host.data.get("sentinelcam_user")
    group = host.data.get("sentinelcam_group", user)
    staging = host.data.get("coral_staging_path", DEFAULT_STAGING)
    venvs = coral_mod.venvs_of(roles)
    package = coral_mod.deb_package_name(coral["libedgetpu"]["deb_package"])
    versions = coral_mod.desired_versions(coral)
    deb = coral["libedgetpu"]

    rule_text = coral_mod.udev_rule(group)
    fact = runtime_fact(host, package, venvs)
    if fact.get("rule") != sha256(rule_text.encode()).hexdigest():
        rule = files.put(
            name=f"udev rule {coral_mod.UDEV_RULE_PATH}",
            src=StringIO(rule_text),
            dest=coral_mod.UDEV_RULE_PATH,
            user="root",
            group="root",
            mode="644",
            _sudo=True,
        )
        udev_reloaded(name="Reload udev rules", _sudo=True, _if=rule.did_change)

    packages_staged(
        name="Stage and verify Coral packages",
        directory=staging,
        source=context.source,
        wanted={f.name: f.sha256 for f in coral_mod.coral_files(coral, with_dev=False)},
        package=package,
        venvs=venvs,
        versions=versions,
        user=user,
        tries=context.pull_tries,
        _parallel=context.pull_concurrency,
    )
    deb_op = libedgetpu(
        name=f"Install {package} {deb['version']}",
        package=package,
        version=deb["version"],
        deb=deb["deb_package"],
        digest=deb["sha256"],
        directory=staging,
        venvs=venvs,
    )
    wheel_packages = [(name, coral[name]["version"], coral[name]["wheel"], coral[name]["sha256"])
                      for name in coral_mod.PIP_PACKAGES]
    by_venv = {}
    changes: dict[str, list] = {}
    for service in host.loop(ROLE_ORDER):
        role = next((r for r in roles if r.service == service), None)
        if role is None:
            continue
        if role.venv not in by_venv:
            by_venv[role.venv] = wheels(
                name=f"pip install {', '.join(coral_mod.PIP_PACKAGES)} into {role.venv} ({service})",
                venv=role.venv,
                packages=wheel_packages,
                directory=staging,
                package=package,
                venvs=venvs,
                user=user,
            )
        changes[service] = [deb_op, by_venv[role.venv]]

    if not restart:
        return changes
    for service in host.loop(ROLE_ORDER):
        if service not in changes:
            continue
        systemd.service(
            name=f"Restart {service} (Coral runtime installed)",
            service=service,
            running=True,
            restarted=True,
            _sudo=True,
            _if=any_changed(*changes[service]),
        )
    return changes
