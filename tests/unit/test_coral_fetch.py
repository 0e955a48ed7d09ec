"""``store.coral_fetch`` and ``store.debfile``: fetching the Coral runtime files into a staging
directory, verified, with no network: a local ``http.server`` whose handlers misbehave on purpose
(HTML pages, 404s, bodies cut off, chunked streams cut off, redirects) and raw sockets that answer
garbage, nothing, or never. The ``.deb`` files are built in pure Python (an ar archive with a
``control.tar.gz``), and once more with ``dpkg-deb --build`` when it is installed.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import http.server
import io
import os
import shutil
import socket
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from sentinelcam_models.core.problems import BadInput, CheckFailed
from sentinelcam_models.core.registry import CoralPackages, parse_registry
from sentinelcam_models.store.coral_fetch import FetchResult, fetch_to, redact, size_text
from sentinelcam_models.store.debfile import MAX_CONTROL_MEMBER, DebError, deb_fields

DEB = "libedgetpu1-std_16.0tf2.17.1-1.bookworm_arm64.deb"
DEV = "libedgetpu-dev_16.0tf2.17.1-1.bookworm_arm64.deb"
TFLITE = "tflite_runtime-2.17.1-cp311-cp311-linux_aarch64.whl"
PYCORAL = "pycoral-2.0.3-cp311-cp311-linux_aarch64.whl"
NAMES = (DEB, DEV, TFLITE, PYCORAL)
VERSION = "16.0tf2.17.1-1"
USER, SECRET = "mirror", "s3cretpass"
AUTH = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()


# --- building packages -------------------------------------------------------------------------


def ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    """An ar archive as dpkg-deb writes it: magic, 60-byte headers, data padded to even."""
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}".encode() + b"`\n"
        assert len(header) == 60
        out += header + data + (b"\n" if len(data) % 2 else b"")
    return bytes(out)


def tar_archive(files: dict[str, bytes], compression: str = "gz") -> bytes:
    buffer = io.BytesIO()
    mode = f"w:{compression}" if compression else "w"
    with tarfile.open(fileobj=buffer, mode=mode) as tar:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def control_text(package: str, version: str) -> str:
    return (
        f"Package: {package}\nVersion: {version}\nArchitecture: arm64\n"
        "Maintainer: Test <test@example.invalid>\n"
        "Description: a test package\n a second line\n .\n after a blank one\n"
    )


def deb_bytes(package: str, version: str, compression: str = "gz") -> bytes:
    """A Debian binary package built in pure Python (no dpkg needed)."""
    control = tar_archive({"./control": control_text(package, version).encode()}, compression)
    data = tar_archive({"./usr/lib/libedgetpu.so.1": b"\x7fELF not really"})
    suffix = f".{compression}" if compression else ""
    return ar_archive(
        [("debian-binary", b"2.0\n"), (f"control.tar{suffix}", control), ("data.tar.gz", data)]
    )


def wheel_bytes(label: str, size: int) -> bytes:
    """Binary content that is not UTF-8 (the files are binary; nothing may decode them)."""
    seed = hashlib.sha256(label.encode()).digest() + b"\xff\xfe\x00\x80"
    return (seed * (size // len(seed) + 1))[:size]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FILES = {
    DEB: deb_bytes("libedgetpu1-std", VERSION),
    DEV: deb_bytes("libedgetpu-dev", VERSION),
    TFLITE: wheel_bytes("tflite", 1_500_000),  # more than one read chunk
    PYCORAL: wheel_bytes("pycoral", 70_001),
}
DIGESTS: dict[str, str | None] = {name: sha(data) for name, data in FILES.items()}


def registry_text(
    base: str, digests: dict[str, str | None] | None = None, version: str = VERSION
) -> str:
    """A registry like the shipped one, its download URLs under ``base``."""
    d = {name: (f'"{v}"' if v else "null") for name, v in {**DIGESTS, **(digests or {})}.items()}
    return f"""\
sentinelcam_models:
  face:
    current_version: "2025-01-01"
    previous_version: null
coral_packages:
  tf_version: "2.17.1"
  python_version: "3.11"
  libedgetpu:
    version: "{version}"
    deb_package: {DEB}
    sha256: {d[DEB]}
    dev_package: {DEV}
    dev_sha256: {d[DEV]}
    download_url: {base}/{DEB}
  tflite_runtime:
    version: "2.17.1"
    wheel: {TFLITE}
    sha256: {d[TFLITE]}
    download_url: {base}/{TFLITE}
  pycoral:
    version: "2.0.3"
    wheel: {PYCORAL}
    sha256: {d[PYCORAL]}
    download_url: {base}/{PYCORAL}
"""


def coral_of(
    base: str = "https://example.invalid/releases",
    digests: dict[str, str | None] | None = None,
    version: str = VERSION,
) -> CoralPackages:
    text = registry_text(base, digests, version)
    registry, problems = parse_registry("model_registry.yaml", text)
    assert problems == [], problems
    assert registry is not None and registry.coral is not None
    return registry.coral


# --- servers -----------------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves FILES under /<mode>/<name>; the mode picks the misbehaviour."""

    files: ClassVar[dict[str, bytes]] = FILES
    log: ClassVar[list[tuple[str, str | None]]] = []  # (path, Authorization) of every request

    def log_message(self, format, *args):  # quiet
        pass

    def do_GET(self):
        type(self).log.append((self.path, self.headers.get("Authorization")))
        _, mode, name = [*self.path.split("/", 2), "", ""][:3]
        data = self.files.get(name)
        if mode == "missing" or data is None:
            self.send_error(404)
        elif mode == "html":
            page = b"<html><body>Sign in to download</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
        elif mode == "cut":  # promises the whole file, sends half, closes
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        elif mode == "chunked":  # one chunk of 1024 bytes, then the connection closes
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"400\r\n" + data[:1024] + b"\r\n")
            self.close_connection = True
        elif mode == "nolength":  # no Content-Length: the body ends when the connection closes
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
        elif mode == "auth" and self.headers.get("Authorization") != AUTH:
            self.send_error(401)
        elif mode in ("redirect", "auth-redirect"):
            self.send_response(302)
            self.send_header("Location", f"/files/{name}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif mode == "redirect-ftp":
            self.send_response(302)
            self.send_header("Location", f"ftp://127.0.0.1/{name}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:  # files, auth
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    # shutdown() waits for the loop's next look at its flag: every 0.05 s, not the default 0.5 s
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def no_proxy_and_fresh_log(monkeypatch):
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    Handler.log.clear()


@contextlib.contextmanager
def raw_server(answer: bytes | None) -> Iterator[str]:
    """A TCP server that reads a request and sends ``answer`` raw (None: never answers)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                if answer is None:
                    stop.wait(10)
                else:
                    conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        socket.create_connection(listener.getsockname()).close()  # wakes accept() now
        thread.join(5)
        listener.close()


def closed_port() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def with_credentials(url: str) -> str:
    return url.replace("http://", f"http://{USER}:{SECRET}@", 1)


def lines_of(exc: pytest.ExceptionInfo) -> list[str]:
    return str(exc.value).split("\n")


@pytest.fixture
def staging(tmp_path) -> Path:
    path = tmp_path / "staging"
    path.mkdir()
    return path


def assert_staged(staging: Path, result: FetchResult, names=NAMES) -> None:
    assert dict(result.staged) == {name: DIGESTS[name] for name in names}
    assert sorted(os.listdir(staging)) == sorted(names)  # no temporary files left
    for name in names:
        assert (staging / name).read_bytes() == FILES[name]


# --- fetching: the good paths ------------------------------------------------------------------


def test_fetch_from_a_mirror_base_url_stages_every_file_verified(server, staging):
    result = fetch_to(staging, coral_of(), f"{server}/files/")
    assert_staged(staging, result)
    assert dict(result.files) == DIGESTS and result.skipped == () and result.problems == ()
    assert sorted(path for path, _ in Handler.log) == sorted(f"/files/{n}" for n in NAMES)


def test_fetch_from_each_files_download_url(server, staging):
    result = fetch_to(staging, coral_of(f"{server}/files"), None)
    assert_staged(staging, result)
    # The dev package is fetched from beside the runtime deb.
    assert f"/files/{DEV}" in [path for path, _ in Handler.log]


def test_fetch_from_a_local_directory(tmp_path, staging):
    source = tmp_path / "mirror"
    source.mkdir()
    for name, data in FILES.items():
        (source / name).write_bytes(data)
    result = fetch_to(staging, coral_of(), str(source))
    assert_staged(staging, result)


def test_without_dev_the_dev_package_is_neither_fetched_nor_named(server, staging):
    result = fetch_to(staging, coral_of(), f"{server}/files", with_dev=False)
    assert_staged(staging, result, (DEB, TFLITE, PYCORAL))
    assert DEV not in result.files


def test_files_the_store_holds_with_the_registry_digest_are_not_fetched(server, staging):
    present = {DEB: DIGESTS[DEB], TFLITE: "0" * 64, "old.whl": DIGESTS[PYCORAL]}
    result = fetch_to(staging, coral_of(), f"{server}/files", present=present)
    assert result.skipped == (DEB,)
    assert set(result.staged) == {DEV, TFLITE, PYCORAL}
    assert dict(result.files) == DIGESTS  # what install_coral gets: skipped ones included
    assert f"/files/{DEB}" not in [path for path, _ in Handler.log]
    assert result.problems == (
        f"{TFLITE}: the store's copy differs from the registry's sha256 "
        "(coral_packages.tflite_runtime.sha256); fetching it again",
    )


def test_a_redirect_is_followed(server, staging):
    result = fetch_to(staging, coral_of(), f"{server}/redirect")
    assert_staged(staging, result)


def test_credentials_go_as_basic_auth_to_that_host_only(server, staging):
    result = fetch_to(staging, coral_of(), with_credentials(f"{server}/auth"))
    assert_staged(staging, result)
    assert {auth for _, auth in Handler.log} == {AUTH}
    Handler.log.clear()
    staging2 = staging.parent / "staging2"
    staging2.mkdir()
    fetch_to(staging2, coral_of(), with_credentials(f"{server}/auth-redirect"))
    # The first request carries them; the one a redirect leads to does not.
    assert {(path.split("/")[1], auth) for path, auth in Handler.log} == {
        ("auth-redirect", AUTH),
        ("files", None),
    }


# --- refused before anything is fetched ---------------------------------------------------------


def test_an_unset_digest_is_refused_without_any_download(server, staging):
    coral = coral_of(digests={DEB: None, TFLITE: None})
    with pytest.raises(BadInput) as exc:
        fetch_to(staging, coral, f"{server}/files")
    assert exc.value.exit_code == 2
    assert lines_of(exc) == [
        f"coral_packages.libedgetpu.sha256 is unset: record the release file's digest "
        f"(sha256sum {DEB}) in the registry first",
        f"coral_packages.tflite_runtime.sha256 is unset: record the release file's digest "
        f"(sha256sum {TFLITE}) in the registry first",
    ]
    assert Handler.log == [] and os.listdir(staging) == []


def test_an_unset_dev_digest_does_not_matter_without_dev(server, staging):
    result = fetch_to(staging, coral_of(digests={DEV: None}), f"{server}/files", with_dev=False)
    assert set(result.staged) == {DEB, TFLITE, PYCORAL}


@pytest.mark.parametrize(
    "source, expected",
    [
        ("http://[::1", "--from http://[::1: malformed URL (Invalid IPv6 URL)"),
        ("http://127.0.0.1:port/x", "--from http://127.0.0.1:port/x: malformed URL"),
        ("http:///files", "--from http:///files: malformed URL (no host)"),
        ("http://host/a b", "--from http://host/a b: malformed URL"),
        ("notaurl", "--from notaurl: neither an http(s) URL nor a directory"),
        ("ftp://host/files", "--from ftp://host/files: neither an http(s) URL nor a directory"),
    ],
)
def test_a_bad_source_is_bad_input_found_before_any_download(server, staging, source, expected):
    with pytest.raises(BadInput) as exc:
        fetch_to(staging, coral_of(), source)
    assert exc.value.exit_code == 2
    assert len(lines_of(exc)) == 1 and lines_of(exc)[0].startswith(expected)
    assert Handler.log == []


def test_a_malformed_download_url_in_the_registry_names_its_key(staging):
    # The registry only checks the scheme; urllib would raise ValueError mid-fetch.
    with pytest.raises(BadInput) as exc:
        fetch_to(staging, coral_of("http://[::1"), None, with_dev=False)
    assert lines_of(exc)[0] == (
        f"coral_packages.libedgetpu.download_url: http://[::1/{DEB}: "
        "malformed URL (Invalid IPv6 URL)"
    )
    assert len(lines_of(exc)) == 3


def test_a_staging_directory_that_is_not_empty_is_refused(server, staging):
    (staging / "left-over").write_bytes(b"x")
    with pytest.raises(BadInput, match="the staging directory is not empty"):
        fetch_to(staging, coral_of(), f"{server}/files")
    with pytest.raises(BadInput, match="not a directory"):
        fetch_to(staging / "absent", coral_of(), f"{server}/files")


# --- verification ---------------------------------------------------------------------------


def test_a_digest_mismatch_names_the_file_the_url_and_both_digests(server, staging):
    wrong = "ab" * 32
    coral = coral_of(digests={TFLITE: wrong, PYCORAL: "cd" * 32})
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral, f"{server}/files")
    assert exc.value.exit_code == 1
    # Every failure is reported, one line each, in registry order.
    assert lines_of(exc) == [
        f"{TFLITE}: sha256 {DIGESTS[TFLITE]} from {server}/files/{TFLITE} does not match the "
        f"registry's {wrong} (coral_packages.tflite_runtime.sha256)",
        f"{PYCORAL}: sha256 {DIGESTS[PYCORAL]} from {server}/files/{PYCORAL} does not match the "
        f"registry's {'cd' * 32} (coral_packages.pycoral.sha256)",
    ]
    # The files that did verify are staged; the others left nothing behind.
    assert sorted(os.listdir(staging)) == sorted([DEB, DEV])


def test_a_local_digest_mismatch_names_the_path(tmp_path, staging):
    source = tmp_path / "mirror"
    source.mkdir()
    for name, data in FILES.items():
        (source / name).write_bytes(data)
    (source / PYCORAL).write_bytes(b"altered")
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), str(source))
    assert lines_of(exc) == [
        f"{PYCORAL}: sha256 {sha(b'altered')} from {source / PYCORAL} does "
        f"not match the registry's {DIGESTS[PYCORAL]} "
        "(coral_packages.pycoral.sha256)"
    ]


def test_a_deb_whose_version_differs_from_the_registry(server, staging):
    old = deb_bytes("libedgetpu1-std", "16.0tf2.16.1-1")
    Handler.files = {**FILES, DEB: old}
    try:
        with pytest.raises(CheckFailed) as exc:
            fetch_to(staging, coral_of(digests={DEB: sha(old)}), f"{server}/files")
    finally:
        Handler.files = FILES
    assert lines_of(exc) == [
        f"{DEB}: its control Version is 16.0tf2.16.1-1, the registry says 16.0tf2.17.1-1 "
        "(coral_packages.libedgetpu.version): correct the registry"
    ]
    assert DEB not in os.listdir(staging)


def test_a_deb_of_another_package_is_refused(tmp_path, staging):
    source = tmp_path / "mirror"
    source.mkdir()
    for name, data in FILES.items():
        (source / name).write_bytes(data)
    other = deb_bytes("libedgetpu1-max", "1.0")
    (source / DEB).write_bytes(other)
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(digests={DEB: sha(other)}), str(source))
    assert lines_of(exc) == [
        f"{DEB}: its control Package is libedgetpu1-max, the registry says libedgetpu1-std "
        "(coral_packages.libedgetpu.deb_package): correct the registry",
        f"{DEB}: its control Version is 1.0, the registry says 16.0tf2.17.1-1 "
        "(coral_packages.libedgetpu.version): correct the registry",
    ]


def test_a_deb_that_is_not_a_deb_is_refused_naming_the_release_file(tmp_path, staging):
    source = tmp_path / "mirror"
    source.mkdir()
    for name, data in FILES.items():
        (source / name).write_bytes(data)
    (source / DEB).write_bytes(b"<html>not a package</html>")
    with pytest.raises(CheckFailed) as exc:
        fetch_to(
            staging,
            coral_of(digests={DEB: sha(b"<html>not a package</html>")}),
            str(source),
            with_dev=False,
        )
    assert lines_of(exc) == [f"{DEB}: not a Debian package (no ar archive header)"]


# --- HTTP misbehaviour -------------------------------------------------------------------------


def test_http_errors_one_line_per_file(server, staging):
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), f"{server}/missing")
    assert lines_of(exc) == [f"GET {server}/missing/{name}: HTTP 404 Not Found" for name in NAMES]
    assert os.listdir(staging) == []


def test_an_html_page_is_refused(server, staging):
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), f"{server}/html", with_dev=False)
    assert lines_of(exc)[0] == (
        f"GET {server}/html/{DEB}: the server sent an HTML page (text/html), not the file"
    )
    assert len(lines_of(exc)) == 3


def test_a_body_cut_off_before_its_content_length(server, staging):
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), f"{server}/cut")
    size = len(FILES[TFLITE])
    assert (
        f"GET {server}/cut/{TFLITE}: the download was cut off after {size // 2} of {size} bytes"
    ) in lines_of(exc)
    assert len(lines_of(exc)) == 4 and os.listdir(staging) == []


def test_a_chunked_body_cut_off(server, staging):
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), f"{server}/chunked")
    assert lines_of(exc)[2] == (
        f"GET {server}/chunked/{TFLITE}: the download was cut off after 1024 bytes"
    )
    assert os.listdir(staging) == []


def test_a_body_without_content_length_is_read_to_its_end(server, staging):
    result = fetch_to(staging, coral_of(), f"{server}/nolength")
    assert_staged(staging, result)


def test_a_redirect_to_another_scheme_is_refused(server, staging):
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), f"{server}/redirect-ftp", with_dev=False)
    assert lines_of(exc)[0] == f"GET {server}/redirect-ftp/{DEB}: unknown url type: ftp"


def test_a_malformed_status_line(staging):
    with raw_server(b"GARBAGE \x00\xff\r\n\r\n") as url, pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), url, with_dev=False)
    assert len(lines_of(exc)) == 3
    line = lines_of(exc)[0]
    assert line.startswith(f"GET {url}/{DEB}: the server's answer is malformed (BadStatusLine: ")
    assert line.isprintable()


def test_a_server_that_closes_without_an_answer(staging):
    with raw_server(b"") as url, pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), url, with_dev=False)
    assert lines_of(exc)[0] == (
        f"GET {url}/{DEB}: the server closed the connection without an answer"
    )


def test_a_server_that_never_answers_times_out(staging):
    with raw_server(None) as url, pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), url, with_dev=False, timeout=0.1)
    assert lines_of(exc) == [
        f"GET {url}/{name}: timed out (0.1 s without data)" for name in (DEB, TFLITE, PYCORAL)
    ]


def test_a_refused_connection(staging):
    url = closed_port()
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), url, with_dev=False)
    assert lines_of(exc)[0] == f"GET {url}/{DEB}: Connection refused"


@pytest.mark.parametrize("mode", ["files", "nolength"])
def test_a_file_over_the_size_cap_is_refused(server, staging, mode):
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), f"{server}/{mode}", max_bytes=2**20)
    size = len(FILES[TFLITE])
    declared = f"{size} bytes, " if mode == "files" else ""
    assert lines_of(exc) == [f"GET {server}/{mode}/{TFLITE}: {declared}larger than 1 MB; refusing"]
    assert sorted(os.listdir(staging)) == sorted([DEB, DEV, PYCORAL])


def test_the_default_cap_is_512_mb():
    assert size_text(512 * 2**20) == "512 MB" and size_text(1000) == "1000 bytes"


# --- credentials -------------------------------------------------------------------------------


def test_redact():
    assert redact("https://user:secret@host/x") == "https://***@host/x"
    assert redact("https://user:p@ss@host/x?a=b@c") == "https://***@host/x?a=b@c"
    assert redact("https://host/a@b") == "https://host/a@b"
    assert redact("http://u:s@[::1") == "http://***@[::1"


def _misbehaviours(server):
    """(source, registry digests, raw answer or 'closed'/None) for every failure mode."""
    return {
        "mismatch": (f"{server}/files", {PYCORAL: "ab" * 32}, None),
        "html": (f"{server}/html", None, None),
        "404": (f"{server}/missing", None, None),
        "cut": (f"{server}/cut", None, None),
        "chunked": (f"{server}/chunked", None, None),
        "cap": (f"{server}/nolength", None, None),
        "garbage": (None, None, b"HTTP/1.1 2x0 " + f"{USER}:{SECRET}".encode() + b"\r\n\r\n"),
        "refused": (closed_port(), None, None),
        "malformed": ("http://[::1", None, None),
        "port": ("http://127.0.0.1:notaport/x", None, None),
    }


@pytest.mark.parametrize(
    "case",
    ["mismatch", "html", "404", "cut", "chunked", "cap", "garbage", "refused", "malformed", "port"],
)
def test_credentials_are_redacted_in_every_message(server, staging, case):
    source, digests, answer = _misbehaviours(server)[case]
    with contextlib.ExitStack() as stack:
        if answer is not None:
            source = stack.enter_context(raw_server(answer))
        assert source is not None
        with pytest.raises((CheckFailed, BadInput)) as exc:
            fetch_to(staging, coral_of(digests=digests), with_credentials(source), max_bytes=2**20)
    message = str(exc.value)
    assert SECRET not in message and USER not in message, message
    assert "***@" in message


def test_credentials_in_a_registry_url_are_redacted(server, staging):
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(with_credentials(f"{server}/missing")), None, with_dev=False)
    assert lines_of(exc)[0] == f"GET http://***@{server[7:]}/missing/{DEB}: HTTP 404 Not Found"


# --- local directories -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory", "missing", "big"])
def test_local_files_must_be_regular_files(tmp_path, staging, kind):
    source = tmp_path / "mirror"
    source.mkdir()
    for name, data in FILES.items():
        (source / name).write_bytes(data)
    target = source / PYCORAL
    target.unlink()
    if kind == "symlink":
        (tmp_path / "elsewhere").write_bytes(FILES[PYCORAL])
        target.symlink_to(tmp_path / "elsewhere")
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "big":
        target.write_bytes(FILES[PYCORAL])
    expected = {
        "symlink": f"{target}: a symlink, not a regular file; refusing",
        "fifo": f"{target}: not a regular file; refusing",
        "directory": f"{target}: not a regular file; refusing",
        "missing": f"{target}: no such file",
        "big": f"{target}: larger than 70000 bytes; refusing",
    }[kind]
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), str(source), max_bytes=70_000 if kind == "big" else 2**29)
    # In "big", the 1.5 MB tflite wheel is over the cap too.
    assert lines_of(exc)[-1] == expected
    assert PYCORAL not in os.listdir(staging)


# --- debfile -----------------------------------------------------------------------------------


def test_deb_fields_of_a_pure_python_package(tmp_path):
    path = tmp_path / DEB
    path.write_bytes(FILES[DEB])
    fields = deb_fields(path)
    assert fields["Package"] == "libedgetpu1-std"
    assert fields["Version"] == VERSION
    assert fields["Architecture"] == "arm64"
    assert fields["Description"] == "a test package\n a second line\n .\n after a blank one"


@pytest.mark.parametrize("compression", ["gz", "xz", ""])
def test_deb_fields_reads_each_standard_control_compression(tmp_path, compression):
    path = tmp_path / "x.deb"
    path.write_bytes(deb_bytes("pkg", "1.2-3", compression))
    assert deb_fields(path)["Version"] == "1.2-3"


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")
@pytest.mark.parametrize("compression", ["gzip", "xz"])
def test_deb_fields_of_a_package_built_by_dpkg_deb(tmp_path, staging, compression):
    root = tmp_path / "root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(control_text("libedgetpu1-std", "16.0tf2.16.1-1"))
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "libedgetpu.so.1").write_bytes(b"\x7fELF")
    built = tmp_path / DEB
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(root), str(built)],
        check=True,
        capture_output=True,
    )
    fields = deb_fields(built)
    assert (fields["Package"], fields["Version"], fields["Architecture"]) == (
        "libedgetpu1-std",
        "16.0tf2.16.1-1",
        "arm64",
    )
    # And through a fetch: the registry's version is the one to correct.
    source = tmp_path / "mirror"
    source.mkdir()
    shutil.copy(built, source / DEB)
    with pytest.raises(CheckFailed) as exc:
        fetch_to(
            staging, coral_of(digests={DEB: sha(built.read_bytes())}), str(source), with_dev=False
        )
    assert lines_of(exc)[0] == (
        f"{DEB}: its control Version is 16.0tf2.16.1-1, the registry says 16.0tf2.17.1-1 "
        "(coral_packages.libedgetpu.version): correct the registry"
    )


def _control_gz(text: bytes) -> bytes:
    return tar_archive({"./control": text})


GARBAGE = {
    "empty": (b"", "not a Debian package (no ar archive header)"),
    "random": (bytes(range(256)) * 4, "not a Debian package (no ar archive header)"),
    "bad header": (b"!<arch>\n" + b"x" * 60, "not a Debian package (a damaged ar member header"),
    "short header": (b"!<arch>\n" + b"debian-binary   ", "not a Debian package (a damaged ar"),
    "first member": (
        ar_archive([("control.tar.gz", _control_gz(b"Package: x\n"))]),
        "not a Debian package (its first member is 'control.tar.gz', not debian-binary)",
    ),
    "format": (ar_archive([("debian-binary", b"3.0\n")]), "not a Debian package (format '3.0'"),
    "no control": (
        ar_archive([("debian-binary", b"2.0\n"), ("data.tar.gz", b"x")]),
        "no control member (control.tar.*)",
    ),
    "only debian-binary": (ar_archive([("debian-binary", b"2.0\n")]), "no control member"),
    "truncated": (
        ar_archive([("debian-binary", b"2.0\n"), ("control.tar.gz", b"x" * 100)])[:-50],
        "truncated (member 'control.tar.gz' runs past the end of the file)",
    ),
    "zstd": (
        ar_archive([("debian-binary", b"2.0\n"), ("control.tar.zst", b"(\xb5/\xfd")]),
        "its control member is compressed with zstd (control.tar.zst), which the Python "
        "standard library cannot read",
    ),
    "bzip2": (
        ar_archive([("debian-binary", b"2.0\n"), ("control.tar.bz2", b"BZh9")]),
        "its control member 'control.tar.bz2' uses a compression dpkg does not define",
    ),
    "damaged gzip": (
        ar_archive([("debian-binary", b"2.0\n"), ("control.tar.gz", b"\x1f\x8b\x08\x00garbage")]),
        "its control.tar.gz member is damaged",
    ),
    "not gzip": (
        ar_archive([("debian-binary", b"2.0\n"), ("control.tar.gz", b"plain")]),
        "its control.tar.gz member is damaged",
    ),
    "not a tar": (
        ar_archive(
            [("debian-binary", b"2.0\n"), ("control.tar.gz", gzip.compress(b"no tar here"))]
        ),
        "its control.tar.gz member is not a valid tar archive",
    ),
    "no ./control": (
        ar_archive(
            [("debian-binary", b"2.0\n"), ("control.tar.gz", tar_archive({"./md5sums": b""}))]
        ),
        "no ./control file in its control.tar.gz member",
    ),
    "not utf-8": (
        ar_archive(
            [("debian-binary", b"2.0\n"), ("control.tar.gz", _control_gz(b"Package: \xff\n"))]
        ),
        "its ./control is not UTF-8 text",
    ),
    "no fields": (
        ar_archive([("debian-binary", b"2.0\n"), ("control.tar.gz", _control_gz(b"\n"))]),
        "its ./control has no fields",
    ),
    "not a field": (
        ar_archive([("debian-binary", b"2.0\n"), ("control.tar.gz", _control_gz(b"Package x\n"))]),
        "./control line 1 is not a 'Field: value' line",
    ),
    "twice": (
        ar_archive(
            [
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", _control_gz(b"Version: 1\nversion: 2\n")),
            ]
        ),
        "./control names the field version twice",
    ),
    "continuation": (
        ar_archive([("debian-binary", b"2.0\n"), ("control.tar.gz", _control_gz(b" orphan\n"))]),
        "./control line 1 continues no field",
    ),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_deb_fields_refuses_garbage_in_one_line_naming_the_file(tmp_path, case):
    data, expected = GARBAGE[case]
    path = tmp_path / "bad\nname.deb"
    path.write_bytes(data)
    with pytest.raises(DebError) as exc:
        deb_fields(path)
    message = str(exc.value)
    assert message.startswith(f"{tmp_path}/bad\\nname.deb: {expected}"), message
    assert "\n" not in message
    assert isinstance(exc.value, ValueError)


def test_deb_fields_refuses_a_control_member_over_10_mb_without_reading_it(tmp_path):
    path = tmp_path / "huge.deb"
    size = MAX_CONTROL_MEMBER + 1
    head = ar_archive([("debian-binary", b"2.0\n")])
    header = f"{'control.tar.gz':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{size:<10}".encode() + b"`\n"
    with open(path, "wb") as handle:
        handle.write(head + header)
        handle.truncate(len(head) + len(header) + size)  # sparse: nothing to read anyway
    with pytest.raises(DebError) as exc:
        deb_fields(path)
    assert str(exc.value) == (
        f"{path}: its control.tar.gz member is {size} bytes, more than 10 MB; refusing"
    )


def test_deb_fields_refuses_a_decompression_bomb(tmp_path, monkeypatch):
    from sentinelcam_models.store import debfile  # noqa: PLC0415 - the module's cap, patched

    monkeypatch.setattr(debfile, "MAX_CONTROL_TAR", 4096)
    path = tmp_path / "bomb.deb"
    path.write_bytes(
        ar_archive(
            [("debian-binary", b"2.0\n"), ("control.tar.gz", gzip.compress(b"\0" * 100_000))]
        )
    )
    with pytest.raises(DebError, match="decompresses to more than"):
        deb_fields(path)


@pytest.mark.parametrize("kind", ["missing", "directory", "fifo"])
def test_deb_fields_of_what_is_not_a_file(tmp_path, kind):
    path = tmp_path / "x.deb"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    with pytest.raises(DebError) as exc:
        deb_fields(path)
    assert str(exc.value).startswith(f"{path}: ")
    assert ("cannot open" if kind == "missing" else "not a regular file") in str(exc.value)


# --- the staging directory ---------------------------------------------------------------------


def test_a_write_failure_names_the_staging_file_not_the_server(server, staging, monkeypatch):
    from sentinelcam_models.store import coral_fetch  # noqa: PLC0415 - the writer, patched

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(coral_fetch, "_write_all", full)
    with pytest.raises(CheckFailed) as exc:
        fetch_to(staging, coral_of(), f"{server}/files", with_dev=False)
    assert lines_of(exc)[0] == f"{staging}/.{DEB}.part: cannot write: No space left on device"
    assert os.listdir(staging) == []


def test_an_interrupted_fetch_leaves_no_partial_file(server, staging, monkeypatch):
    from sentinelcam_models.store import coral_fetch  # noqa: PLC0415 - the writer, patched

    real = coral_fetch._write_all

    def interrupted(fd, data):
        if DEB in os.listdir(staging):  # the second file, mid-download
            raise KeyboardInterrupt
        real(fd, data)

    monkeypatch.setattr(coral_fetch, "_write_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_to(staging, coral_of(), f"{server}/files", with_dev=False)
    assert os.listdir(staging) == [DEB]  # the verified one; the partial one is gone
