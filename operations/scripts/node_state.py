"""What a node holds and runs, printed as one JSON document (facts/node.py; parsed by
sentinelcam_models.core.nodestate.parse_document).

    python3 -I -S -c "$(cat node_state.py)" '<json request>'

The request names the models paths, config files, services, face list directory, node-owned file
names, the health record and the Coral package and virtualenvs to look at. The answer names paths
by their index in the request. Everything a node file or program holds travels as data inside the
document (base64 for file bytes, validated strings for versions): nothing from the node is pasted
into the document's text. Each file read and each program's output is capped, each program has a
time limit. Standard library only.
"""

import binascii
import os
import select
import stat
import sys
import time

# No subprocess, base64 or (until a manifest is read) hashlib: importing them cost more CPU than
# the rest of this program, once per node per deploy. Nor json, re or signal: re and signal import
# enum and json imports re, together 6 ms of a node's CPU, a sixth of its answer. So JSON goes
# through the C accelerator json itself uses, names are checked with str methods (below), and
# the signal numbers come from the module signal wraps.
try:
    from _json import encode_basestring_ascii as _quoted
    from _json import make_scanner as _c_scanner
except ImportError:  # an interpreter without json's accelerator: json's own code, in Python
    from json.encoder import encode_basestring_ascii as _quoted

    _c_scanner = None  # type: ignore[assignment,misc]
try:
    from _signal import SIGKILL, SIGPIPE, SIGXFSZ  # type: ignore[import-not-found]
except ImportError:
    from signal import SIGKILL, SIGPIPE, SIGXFSZ

SCHEMA = 1
CONFIG_CAP = 1 << 20  # a config file larger than this is reported as too large
MANIFEST_CAP = 4 << 20
HEALTH_CAP = 64 << 10
PROGRAM_CAP = 64 << 10  # what a venv's python or dpkg-query may print
PROGRAM_TIMEOUT = 20
PIP_PACKAGES = ("tflite_runtime", "pycoral")
VENV_PROGRAM = """import json
from importlib import metadata
found = {}
for name in ("tflite_runtime", "pycoral"):
    try:
        found[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""


# The shapes of names, as the regular expressions this program used gave them (each is held to
# its own by tests/unit/test_node_state_program.py): a string of only ``chars`` is one that
# ``strip`` empties.
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
_PLAIN_FIRST = _LOWER + _LOWER.upper() + _DIGITS + "_+"
_PLAIN = _PLAIN_FIRST + ".-"
_MODEL = _LOWER + _DIGITS + "_"
_HEX = _DIGITS + "abcdef"
_PACKAGE_VERSION = _LOWER + _LOWER.upper() + _DIGITS + ".+~:_-"
_STAGES = ("partial", "old", "deleting")


def only(text, chars):
    """``text`` is not empty and every character of it is one of ``chars``."""
    return bool(text) and not text.strip(chars)


def is_model(name):  # [a-z0-9_]+
    return only(name, _MODEL)


def is_version(name):  # [0-9]{4}-[0-9]{2}-[0-9]{2}
    return (
        len(name) == 10
        and name[4] == name[7] == "-"
        and only(name[:4] + name[5:7] + name[8:], _DIGITS)
    )


def is_staging(name):  # \.VERSION\.(partial|old|deleting)
    parts = name.split(".")
    return len(parts) == 3 and parts[0] == "" and is_version(parts[1]) and parts[2] in _STAGES


def is_plain(name):  # [A-Za-z0-9_+][A-Za-z0-9._+-]*
    return only(name[:1], _PLAIN_FIRST) and not name.strip(_PLAIN)


def is_manifest_line(line):  # [0-9a-f]{64}  PLAIN(/PLAIN)*
    return (
        len(line) > 66
        and only(line[:64], _HEX)
        and line[64:66] == "  "
        and all(is_plain(part) for part in line[66:].split("/"))
    )


def is_facelist(name):  # facelist_VERSION\.csv
    return (
        len(name) == 23
        and name.startswith("facelist_")
        and name.endswith(".csv")
        and is_version(name[9:19])
    )


def is_package_version(text):  # [A-Za-z0-9.+~:_-]{1,64}
    return len(text) <= 64 and only(text, _PACKAGE_VERSION)


class _Decoding:
    """What json's C scanner reads from its decoder (json.decoder.JSONDecoder's defaults), but
    no NaN or Infinity."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name):
        raise ValueError(f"{name} is not a number here")


def _scan(text):
    """(value, end) of the JSON value at the start of ``text``."""
    if _c_scanner is not None:
        return _c_scanner(_Decoding())(text, 0)  # type: ignore[arg-type]
    import json  # noqa: PLC0415 - only without the accelerator

    decoder = json.JSONDecoder(parse_constant=_Decoding.parse_constant)
    return json.scanner.make_scanner(decoder)(text, 0)  # type: ignore[attr-defined]


def loads(text):
    """The one JSON value in ``text`` (whitespace around it allowed, as json.loads); ValueError
    or RecursionError for anything else."""
    text = text.strip(" \t\n\r")
    try:
        value, end = _scan(text)
    except StopIteration:  # no value where one begins
        raise ValueError("not a JSON document") from None
    except SystemError:
        # Python 3.11's C scanner raises json.decoder's JSONDecodeError for a syntax error only
        # when json.decoder is already imported (3.12 imports it): without, SystemError.
        raise ValueError("not a JSON document") from None
    if end != len(text):
        raise ValueError("extra data after the JSON document")
    return value


def dumps(value):
    """JSON text of ``value`` (dicts with string keys, lists, strings, integers, booleans, None),
    keys sorted, ASCII only, as ``json.dumps(value, sort_keys=True)`` reads back."""
    if isinstance(value, str):
        return _quoted(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ", ".join(f"{_quoted(k)}: {dumps(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    raise TypeError(f"no JSON for {type(value).__name__}")


def regular(path):
    """os.stat of a regular file that is not a link, else None."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def real_dir(path):
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def open_regular(path):
    """A descriptor of a regular file opened without following links, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return fd
    os.close(fd)
    return None


def read_capped(path, cap):
    """(bytes, too_large) of a regular file opened without following links; None if absent."""
    fd = open_regular(path)
    if fd is None:
        return None
    try:
        chunks, size = [], 0
        while size <= cap:
            chunk = os.read(fd, min(1 << 16, cap + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
        return (data, False) if len(data) <= cap else (b"", True)
    finally:
        os.close(fd)


def _sha256(data=b""):
    import hashlib  # noqa: PLC0415 - only a node holding versions needs it

    return hashlib.sha256(data)


def sha256_file(path):
    fd = open_regular(path)
    if fd is None:
        return None
    digest = _sha256()
    try:
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)
    finally:
        os.close(fd)


def manifest_lines(vdir):
    """(sha256 of the manifest, [(digest, path)]) or (None, None) when it is absent or malformed."""
    got = read_capped(os.path.join(vdir, "MANIFEST.sha256"), MANIFEST_CAP)
    if got is None or got[1]:
        return None, None
    data = got[0]
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None, None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if not all(is_manifest_line(line) for line in lines):
        return None, None
    return _sha256(data).hexdigest(), [(line[:64], line[66:]) for line in lines]


def version_record(model, version, vdir, deep, owned):
    digest, entries = manifest_lines(vdir)
    record = {"model": model, "version": version, "digest": digest, "complete": False}
    record["intact"] = None
    record["modified"] = []
    if digest is None:
        return record
    complete = all(regular(os.path.join(vdir, path)) is not None for _, path in entries)
    record["complete"] = complete
    if deep:
        record["intact"] = complete and all(
            sha256_file(os.path.join(vdir, path)) == want
            for want, path in entries
            if path not in owned
        )
    for name in owned:
        want = [d for d, path in entries if path == name]
        path = os.path.join(vdir, name)
        if want and regular(path) is not None and sha256_file(path) != want[0]:
            record["modified"].append(name)
    return record


def models_root(root, deep, owned):
    answer: dict = {"versions": [], "staging": []}
    if not real_dir(root):
        return answer
    for model in sorted(os.listdir(root)):
        mdir = os.path.join(root, model)
        if not is_model(model) or not real_dir(mdir):
            continue
        for name in sorted(os.listdir(mdir)):
            vdir = os.path.join(mdir, name)
            if not real_dir(vdir):
                continue
            if is_version(name):
                answer["versions"].append(version_record(model, name, vdir, deep, owned))
            elif is_staging(name):
                answer["staging"].append([model, name])
    return answer


def run_capped(argv, timeout=PROGRAM_TIMEOUT, cap=PROGRAM_CAP):
    """(exit code, stdout bytes up to cap + 1) of a program, its stdin and stderr /dev/null; (None,
    b"") when it fails to run or to finish in time (it is killed then)."""
    read_end, write_end = os.pipe()
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        pid = os.posix_spawnp(
            argv[0],
            argv,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, write_end, 1),
                (os.POSIX_SPAWN_DUP2, devnull, 2),
            ],
            setsigdef=(SIGPIPE, SIGXFSZ),  # Python ignores them (subprocess resets)
        )
    except OSError:
        os.close(read_end)
        return None, b""
    finally:
        os.close(write_end)
        os.close(devnull)
    deadline = time.monotonic() + timeout
    chunks, size = [], 0
    try:
        poller = select.poll()
        poller.register(read_end, select.POLLIN)
        while True:  # read to the end (what is past the cap is dropped): the program can finish
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                return _killed(pid)
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            if size <= cap:
                chunks.append(chunk)
                size += len(chunk)
        return _exit_code(pid, deadline), b"".join(chunks)[: cap + 1]
    except TimeoutError:
        return _killed(pid)
    finally:
        os.close(read_end)


def _exit_code(pid, deadline):
    """Its output ended: it must exit in time too (else TimeoutError). Waits on a pidfd, readable
    when the process exits (Linux 5.3); without one, polls waitpid."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        exited = select.poll()
        if pidfd is not None:
            exited.register(pidfd, select.POLLIN)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if pidfd is None:
                time.sleep(min(0.005, left))
            else:
                exited.poll(left * 1000)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _killed(pid):
    os.kill(pid, SIGKILL)  # not reaped yet: the pid is still this child's
    os.waitpid(pid, 0)
    return None, b""


def service_state(service):
    _code, out = run_capped(
        ["systemctl", "show", "-p", "ActiveState", "-p", "NRestarts", f"{service}.service"]
    )
    values = {}
    for line in out.decode("ascii", "replace").splitlines():
        key, _, value = line.partition("=")
        values[key] = value
    active = values.get("ActiveState", "")
    restarts = values.get("NRestarts", "")
    return {
        "active": active if active.isalpha() and len(active) < 32 else "unknown",
        "restarts": int(restarts) if restarts.isdigit() and len(restarts) < 10 else None,
    }


def venv_versions(venv):
    """{package: version or None}, None when there is no python, or an "error" when its answer
    is not such a document (a program in the service's own virtualenv is not trusted)."""
    python = os.path.join(venv, "bin", "python")
    if not os.access(python, os.X_OK):
        return None
    code, out = run_capped([python, "-I", "-c", VENV_PROGRAM])
    if code != 0 or len(out) > PROGRAM_CAP:
        return {"error": "its python failed, timed out or printed too much"}
    try:
        found = loads(out.decode("utf-8"))
    except (ValueError, RecursionError):
        return {"error": "its python printed no JSON document"}
    if (
        not isinstance(found, dict)
        or set(found) != set(PIP_PACKAGES)
        or not all(
            v is None or (isinstance(v, str) and is_package_version(v)) for v in found.values()
        )
    ):
        return {"error": "its python printed an unexpected document"}
    return {name: found[name] for name in PIP_PACKAGES}


def coral(package, venvs):
    code, out = run_capped(["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Version}", package])
    deb = None
    if code == 0:
        status, _, version = out.decode("ascii", "replace").partition(" ")
        if is_package_version(version.strip()):
            deb = {"status": status.strip()[:8], "version": version.strip()}
    return {"deb": deb, "venvs": {venv: venv_versions(venv) for venv in venvs}}


def b64(data):
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def main(request):
    owned = list(request["owned"])
    deep = bool(request["deep"])
    doc: dict = {"schema": SCHEMA}
    doc["roots"] = [models_root(root, deep, owned) for root in request["roots"]]
    configs: list = []
    for path in request["configs"]:
        got = read_capped(path, CONFIG_CAP)
        if got is None:
            configs.append(None)
        elif got[1]:
            configs.append({"too_large": True})
        else:
            configs.append(b64(got[0]))
    doc["configs"] = configs
    doc["services"] = {s: service_state(s) for s in request["services"]}
    facelists, current = [], None
    directory = request["facelists"]
    if directory and real_dir(directory):
        facelists = sorted(
            n
            for n in os.listdir(directory)
            if is_facelist(n) and regular(os.path.join(directory, n)) is not None
        )
        link = os.path.join(directory, "facelist_current.csv")
        if os.path.islink(link):
            target = os.readlink(link)
            current = target if is_plain(target) else None
    doc["facelists"] = facelists
    doc["facelist_current"] = current
    health = None
    if request["health"]:
        got = read_capped(request["health"], HEALTH_CAP)
        if got is not None:
            health = {"too_large": True} if got[1] else b64(got[0])
    doc["health"] = health
    doc["coral"] = (
        coral(request["coral_package"], request["coral_venvs"])
        if request["coral_package"]
        else None
    )
    import pwd  # noqa: PLC0415 - the login, last (as `id -un`)

    try:
        doc["login"] = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        doc["login"] = None
    return doc


DOCUMENT_CAP = 4 << 20

if __name__ == "__main__":
    text = dumps(main(loads(sys.argv[1])))
    if len(text) > DOCUMENT_CAP:
        text = dumps({"schema": SCHEMA, "too_large": len(text)})
    sys.stdout.write(text + "\n")
