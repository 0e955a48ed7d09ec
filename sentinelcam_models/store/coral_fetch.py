"""Fetch the Coral EdgeTPU runtime files into a staging directory, verified, without the store lock.

``coral fetch`` is two steps: this module downloads (or copies) every file the registry's
``coral_packages`` names into an empty staging directory the caller owns, checking each against
the registry; then ``LocalStore.install_coral(staging, result.files)`` installs them under the
store lock. Downloads are slow (hundreds of MB from GitHub release pages) and must not hold the
lock that deploys and cleanups wait on; and since every byte is written inside ``staging`` only,
a ``kill -9`` mid-download leaves nothing in the store (the caller removes ``staging``).

Checks, each failure one line:

* a file whose registry digest is unset (``sha256: null``) is refused before anything is fetched:
  the registry cannot vouch for it, so there is nothing to verify the download against;
* every file's sha256 must equal the registry's (the release pages publish no digests, so the
  registry's recorded digest is the only anchor of trust);
* the libedgetpu deb's own control ``Package`` and ``Version`` must equal what the registry says,
  because nodes compare the registry's version with what dpkg reports once installed: a registry
  that names the wrong version would make every deploy reinstall (or report drift) forever;
* HTTP answers are refused unless they are a complete 200 response that is not an HTML page
  (a login or error page served with 200), and no file may exceed ``max_bytes``.

Failures are collected, not stopped at: every file is tried, and one exception carries one line per
failure joined with ``\\n`` (so one run shows every digest that needs recording or correcting).
Bad input (unset digests, a bad ``--from``, a malformed URL, a staging directory that is not
empty) is ``BadInput`` (exit 2) and is found before any download; download and verification
failures are ``CheckFailed`` (exit 1). URL credentials (``https://user:secret@host/``) are sent as
HTTP basic authentication to that host only (never to a host a redirect leads to) and are
replaced by ``***`` in every message.

Standard library only, like the rest of the store layer.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import http.client
import os
import re
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..core import names
from ..core.problems import BadInput, CheckFailed, one_line
from . import progress
from .debfile import DebError, deb_fields

if TYPE_CHECKING:  # the registry module needs PyYAML; this module only reads its values
    from ..core.registry import CoralFile, CoralPackages

USER_AGENT = "sentinelcam-models coral fetch"
CHUNK = 1 << 20
MAX_BYTES = 512 * 2**20
TIMEOUT = 60.0
PART_SUFFIX = ".part"  # staging/.NAME.part: a file being written, renamed to NAME once verified
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_DETAIL_MAX = 200  # characters of a server-supplied text (a garbage status line) kept
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")


@dataclass(frozen=True)
class FetchResult:
    """What ``fetch_to`` left in ``staging``, and what the store already held.

    ``files`` (every registry file -> sha256) is the argument for ``LocalStore.install_coral``:
    the ``skipped`` ones are hard-linked from the store's copies, the ``staged`` ones copied from
    ``staging``. ``problems`` are findings that did not stop the fetch, one line each (a store
    copy whose digest differs from the registry's and was fetched again).
    """

    staged: Mapping[str, str]
    skipped: tuple[str, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


class _Failed(Exception):
    """One file's failure: its lines for the operator; ``bad_input`` selects the exit code."""

    def __init__(self, *lines: str, bad_input: bool = False):
        super().__init__(*lines)
        self.lines, self.bad_input = [one_line(line) for line in lines], bad_input


def redact(url: str) -> str:
    """``https://user:secret@host/x`` -> ``https://***@host/x``: URLs in messages never carry
    credentials. Works on malformed URLs too (no parsing that could fail)."""
    return _USERINFO.sub(r"\1***@", url)


def size_text(limit: int) -> str:
    """``512 * 2**20`` -> ``512 MB``; sizes that are not whole megabytes in bytes."""
    return f"{limit // 2**20} MB" if limit >= 2**20 and limit % 2**20 == 0 else f"{limit} bytes"


def fetch_to(
    staging: Path,
    coral: CoralPackages,
    source: str | None,
    with_dev: bool = True,
    max_bytes: int = MAX_BYTES,
    timeout: float = TIMEOUT,
    present: Mapping[str, str | None] | None = None,
) -> FetchResult:
    """Download or copy every registry Coral file into ``staging`` (an empty directory), verified.

    ``source``: None (each file's ``download_url``), the http(s) base URL of a mirror (the file
    name is appended), or a local directory holding the files. ``present`` is what the store
    already holds (``LocalStore.coral_files()``): a file there with the registry's digest is not
    fetched again. ``timeout`` bounds each network wait (connecting, each read), not the whole
    download. Raises ``BadInput`` or ``CheckFailed`` with one line per failure (see the module
    docstring); on success every file in ``result.staged`` is in ``staging`` under its name.
    """
    wanted = [f for f in coral.files if with_dev or f.kind != "dev"]
    _check_input(wanted, source)
    staging_fd = _open_staging(staging)
    present = present or {}
    try:
        staged: dict[str, str] = {}
        skipped: list[str] = []
        notes: list[str] = []
        failures: list[_Failed] = []
        for item in wanted:
            assert item.sha256 is not None  # unset digests were refused above
            held = present.get(item.name)
            if held == item.sha256:
                skipped.append(item.name)
                continue
            if item.name in present:
                notes.append(
                    f"{item.name}: the store's copy differs from the registry's sha256 "
                    f"({item.key}); fetching it again"
                )
            try:
                _fetch_one(staging, staging_fd, item, coral, source, max_bytes, timeout)
            except _Failed as failure:
                failures.append(failure)
                continue
            staged[item.name] = item.sha256
    finally:
        os.close(staging_fd)
    if failures:
        message = "\n".join(line for f in failures for line in f.lines)
        if any(f.bad_input for f in failures):
            raise BadInput(message)
        raise CheckFailed(message)
    files = {f.name: f.sha256 for f in wanted if f.sha256 is not None}
    return FetchResult(staged, tuple(skipped), files, tuple(notes))


# --- input, checked before anything is fetched ----------------------------------------------------


def _check_input(wanted: list[CoralFile], source: str | None) -> None:
    lines = [
        f"{f.key} is unset: record the release file's digest (sha256sum {f.name}) in the "
        "registry first"
        for f in wanted
        if f.sha256 is None
    ]
    seen: dict[str, str] = {}
    for item in wanted:
        if not names.is_plain_file_name(item.name):
            lines.append(one_line(f"{item.name!r} ({item.key}): not a plain file name"))
        elif item.name in seen:
            lines.append(
                f"{item.name}: named twice in the registry ({seen[item.name]}, {item.key})"
            )
        seen.setdefault(item.name, item.key)
    if source is not None and not _is_http(source):
        if not os.path.isdir(source):
            lines.append(
                one_line(f"--from {redact(source)}: neither an http(s) URL nor a directory")
            )
    elif source is not None:
        problem = _url_problem(source)
        if problem:
            lines.append(one_line(f"--from {redact(source)}: {problem}"))
    else:
        for item in wanted:
            problem = _url_problem(item.url)
            if problem:
                lines.append(one_line(f"{_url_key(item)}: {redact(item.url)}: {problem}"))
    if lines:
        raise BadInput("\n".join(lines))


def _is_http(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def _url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable http(s) URL, or None. Catches what urllib would only raise
    (ValueError) mid-fetch, so a malformed URL is bad input found before any download."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"malformed URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "not an http(s) URL"
    if not parts.hostname:
        return "malformed URL (no host)"
    if not url.isascii() or any(ch.isspace() or not ch.isprintable() for ch in url):
        return "malformed URL (spaces, control or non-ASCII characters: percent-encode them)"
    return None


def _url_key(item: CoralFile) -> str:
    """The registry key of the URL a file is fetched from (the dev package's is derived)."""
    return item.key.rsplit(".", 1)[0] + ".download_url"


def _open_staging(staging: Path) -> int:
    try:
        fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise BadInput(one_line(f"{staging}: not a directory ({exc.strerror or exc})")) from None
    if os.listdir(fd):
        os.close(fd)
        raise BadInput(one_line(f"{staging}: the staging directory is not empty"))
    return fd


# --- one file --------------------------------------------------------------------------------


def _fetch_one(
    staging: Path,
    staging_fd: int,
    item: CoralFile,
    coral: CoralPackages,
    source: str | None,
    max_bytes: int,
    timeout: float,
) -> None:
    """``item`` into ``staging/NAME``, verified; on failure nothing of it is left in staging."""
    part = f".{item.name}{PART_SUFFIX}"
    try:
        fd = os.open(
            part,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=staging_fd,
        )
    except OSError as exc:
        raise _Failed(f"{staging / part}: cannot write: {exc.strerror or exc}") from None

    def write(chunk: bytes) -> None:
        # A full disk is the staging directory's failure, not the server's: say so.
        try:
            _write_all(fd, chunk)
        except OSError as exc:
            raise _Failed(f"{staging / part}: cannot write: {exc.strerror or exc}") from None

    try:
        try:
            if source is None or _is_http(source):
                url = item.url if source is None else source.rstrip("/") + "/" + item.name
                where = redact(url)
                got = _download(url, write, max_bytes, timeout)
            else:
                where = one_line(str(Path(source) / item.name))
                got = _copy_local(Path(source), item.name, write, max_bytes)
        finally:
            os.close(fd)
        assert item.sha256 is not None
        if got != item.sha256:
            raise _Failed(
                f"{item.name}: sha256 {got} from {where} does not match the "
                f"registry's {item.sha256} ({item.key})"
            )
        if item.kind == "deb":
            _check_deb(staging / part, item, coral)
        # Only a verified file takes its real name: staging never shows an unchecked NAME.
        os.rename(part, item.name, src_dir_fd=staging_fd, dst_dir_fd=staging_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part, dir_fd=staging_fd)
        raise


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written (a write may be partial)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _check_deb(path: Path, item: CoralFile, coral: CoralPackages) -> None:
    """The deb's control Package and Version against the registry's names for it."""
    base = item.key.rsplit(".", 1)[0]
    try:
        fields = deb_fields(path)
    except DebError as exc:
        # The message names the staged temporary copy; name the release file instead.
        detail = str(exc).removeprefix(one_line(str(path)) + ": ")
        raise _Failed(f"{item.name}: {detail}") from None
    lowered = {key.lower(): value for key, value in fields.items()}
    lines = []
    package, want_package = lowered.get("package"), coral.deb_package_name
    if package != want_package:
        lines.append(
            f"{item.name}: its control Package is {package or '(none)'}, the registry "
            f"says {want_package} ({base}.deb_package): correct the registry"
        )
    version, want_version = lowered.get("version"), coral.versions.get(item.package)
    if version != want_version:
        lines.append(
            f"{item.name}: its control Version is {version or '(none)'}, the registry "
            f"says {want_version} ({base}.version): correct the registry"
        )
    if lines:
        raise _Failed(*lines)


def _copy_local(
    directory: Path, name: str, write: Callable[[bytes], object], max_bytes: int
) -> str:
    """Copy ``directory/name`` (a regular file, never followed through a symlink); its sha256."""
    where = one_line(str(directory / name))
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise _Failed(f"{directory}: {exc.strerror or exc}") from None
    try:
        # O_NONBLOCK: a fifo in the file's place must not hang the open; fstat then refuses it.
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd
        )
    except FileNotFoundError:
        raise _Failed(f"{where}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
            raise _Failed(f"{where}: a symlink, not a regular file; refusing") from None
        raise _Failed(f"{where}: cannot open: {exc.strerror or exc}") from None
    finally:
        os.close(dir_fd)
    digest = hashlib.sha256()
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Failed(f"{where}: not a regular file; refusing")
        if st.st_size > max_bytes:
            raise _Failed(f"{where}: larger than {size_text(max_bytes)}; refusing")
        total = 0
        while chunk := os.read(fd, CHUNK):
            total += len(chunk)
            if total > max_bytes:  # it grew while being read
                raise _Failed(f"{where}: larger than {size_text(max_bytes)}; refusing")
            digest.update(chunk)
            write(chunk)
            progress.advance(len(chunk))
    except OSError as exc:
        raise _Failed(f"{where}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return digest.hexdigest()


# --- HTTP ------------------------------------------------------------------------------------


def _opener() -> urllib.request.OpenerDirector:
    """urllib with http(s) only: a redirect to ``file:``, ``ftp:`` or ``data:`` is refused
    (``build_opener`` would follow it). Proxies from the environment are honoured."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _request(url: str) -> tuple[urllib.request.Request, list[str]]:
    """The request for ``url`` and the secrets to scrub from messages.

    urllib does not understand ``user:password@`` in a URL (it takes it for part of the host), so
    the credentials move into an ``Authorization`` header that is *unredirected*: a redirect to
    another host (GitHub -> its object storage) never receives them.
    """
    parts = urllib.parse.urlsplit(url)
    secrets: list[str] = []
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        user, password = urllib.parse.unquote(user), urllib.parse.unquote(password)
        # Only what cannot match ordinary message text is scrubbed (a user name "ops" could).
        secrets = [s for s in {userinfo, password} if len(s) >= 6]
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if "@" in parts.netloc:
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        request.add_unredirected_header("Authorization", f"Basic {token}")
    return request, sorted(secrets, key=len, reverse=True)


def _download(url: str, write: Callable[[bytes], object], max_bytes: int, timeout: float) -> str:
    """GET ``url`` into ``write``: its sha256, or ``_Failed`` with one redacted line."""
    shown = redact(url)
    try:
        request, secrets = _request(url)
    except ValueError as exc:  # found by _check_input first; kept for direct callers
        raise _Failed(f"GET {shown}: malformed URL ({exc})", bad_input=True) from None

    def fail(detail: object) -> _Failed:
        text = str(detail)
        for secret in secrets:
            text = text.replace(secret, "***")
        if len(text) > _DETAIL_MAX:
            text = text[:_DETAIL_MAX] + "..."
        return _Failed(f"GET {shown}: {text}")

    received = 0
    length: int | None = None
    try:
        with _opener().open(request, timeout=timeout) as response:
            if response.status != 200:
                raise fail(f"HTTP {response.status} {response.reason}; expected 200")
            ctype = response.headers.get("Content-Type")
            if ctype and response.headers.get_content_type() in _HTML_TYPES:
                raise fail(
                    f"the server sent an HTML page ({response.headers.get_content_type()}),"
                    " not the file"
                )
            declared = response.headers.get("Content-Length")
            if declared is not None:
                if not declared.strip().isdigit():
                    raise fail(f"malformed Content-Length {declared!r}")
                length = int(declared)
                if length > max_bytes:
                    raise fail(f"{length} bytes, larger than {size_text(max_bytes)}; refusing")
            digest = hashlib.sha256()
            while chunk := response.read(min(CHUNK, max_bytes + 1 - received)):
                received += len(chunk)
                if received > max_bytes:
                    raise fail(f"larger than {size_text(max_bytes)}; refusing")
                digest.update(chunk)
                write(chunk)
                progress.advance(len(chunk))
            if length is not None and received < length:
                raise fail(f"the download was cut off after {received} of {length} bytes")
            return digest.hexdigest()
    except _Failed:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()
        raise fail(f"HTTP {exc.code} {exc.reason}") from None
    except http.client.IncompleteRead as exc:
        received += len(exc.partial)
        of = f" of {length}" if length is not None else ""
        raise fail(f"the download was cut off after {received}{of} bytes") from None
    except urllib.error.URLError as exc:
        raise fail(_reason(exc.reason, timeout, received)) from None
    except (http.client.HTTPException, OSError) as exc:
        raise fail(_reason(exc, timeout, received)) from None
    except ValueError as exc:  # a redirect to a malformed URL
        raise fail(f"malformed URL ({exc})") from None


def _reason(exc: object, timeout: float, received: int) -> str:
    """One line for a connection-level failure (the server's answer, a timeout, a socket error)."""
    after = f" after {received} bytes" if received else ""
    if isinstance(exc, TimeoutError):
        return f"timed out ({timeout:g} s without data){after}"
    if isinstance(exc, http.client.RemoteDisconnected):
        return f"the server closed the connection without an answer{after}"
    if isinstance(exc, http.client.HTTPException):
        return f"the server's answer is malformed{after} ({type(exc).__name__}: {exc})"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}{after}"
    return f"{exc}{after}"
