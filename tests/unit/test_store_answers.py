"""The store's ``exists`` and ``coral_files`` answers are read into typed values (fleet/answers.py)
at every place that decides on them: a malformed answer is one CheckFailed line naming the store,
never a traceback and never a decision taken on it (serving a store that is not there, calling a
Coral file missing or altered when the answer was nonsense).

The stores here are stand-ins answering through the ``Store`` interface (``call``), the way a
local store, the SSH agent or a future transport answers; store/agent.py is the shape of a good
answer: ``exists`` is true or false, ``coral_files`` maps each plain file name in
``coral_packages/`` to its sha256 (None for an entry that is not a regular file), ``install_coral``
lists the plain file names it stored.
"""

from __future__ import annotations

import contextlib
import shutil
from types import SimpleNamespace

import pytest

from sentinelcam_models.core.problems import CheckFailed
from sentinelcam_models.fleet import preflight, usecases
from sentinelcam_models.fleet.answers import coral_files, coral_installed, store_exists
from sentinelcam_models.fleet.inventory import check_pyinfra, load_pyinfra_inventory
from sentinelcam_models.fleet.stores import RemoteClient
from tests.support.units import ROOT

WHERE = "data1:/home/ops/sentinelcam/model_registry"
DEB = "libedgetpu1-std_16.0tf2.17.1-1.bookworm_arm64.deb"
TFLITE = "tflite_runtime-2.17.1-cp311-cp311-linux_aarch64.whl"
PYCORAL = "pycoral-2.0.3-cp311-cp311-linux_aarch64.whl"
DIGESTS = {DEB: "a" * 64, TFLITE: "b" * 64, PYCORAL: "c" * 64}

MALFORMED_EXISTS = {
    "the string false": "false",
    "null": None,
    "a number": 1,
    "an object": {"exists": True},
}
MALFORMED_CORAL_FILES = {
    "a list of names": [DEB, TFLITE, PYCORAL],
    "a string": DEB,
    "null": None,
    "a number as digest": {**DIGESTS, DEB: 5},
    "an upper-case digest": {**DIGESTS, DEB: "A" * 64},
    "a short digest": {**DIGESTS, TFLITE: "b" * 63},
    "a path as name": {**DIGESTS, f"../{DEB}": "a" * 64},
    "an escape in a name": {**DIGESTS, "x\x1b]0;owned\x07": "a" * 64},
    "a list as digest": {**DIGESTS, PYCORAL: ["c" * 64]},
}


MALFORMED_INSTALLED = {
    "a string": DEB,
    "a mapping": dict(DIGESTS),
    "a number in the list": [DEB, 5],
    "a path in the list": [f"../{DEB}"],
}


def one_malformed_line(message: str, command: str) -> None:
    assert "\n" not in message and "\x1b" not in message
    assert f"{WHERE}: the store's {command} answer is malformed (" in message


# --- the readers ----------------------------------------------------------------------------


def test_good_answers_are_read_as_they_are():
    assert store_exists(True, WHERE) is True
    assert store_exists(False, WHERE) is False
    assert coral_files({}, WHERE) == {}
    assert coral_files({**DIGESTS, "odd": None}, WHERE) == {**DIGESTS, "odd": None}
    assert coral_installed([], WHERE) == ()
    assert coral_installed([DEB, TFLITE], WHERE) == (DEB, TFLITE)


@pytest.mark.parametrize("answer", MALFORMED_EXISTS.values(), ids=MALFORMED_EXISTS.keys())
def test_a_malformed_exists_answer_is_one_line_naming_the_store(answer):
    with pytest.raises(CheckFailed) as refused:
        store_exists(answer, WHERE)
    one_malformed_line(str(refused.value), "exists")


@pytest.mark.parametrize("answer", MALFORMED_CORAL_FILES.values(), ids=MALFORMED_CORAL_FILES.keys())
def test_a_malformed_coral_files_answer_is_one_line_naming_the_store(answer):
    with pytest.raises(CheckFailed) as refused:
        coral_files(answer, WHERE)
    one_malformed_line(str(refused.value), "coral_files")


# --- the pre-flight: Coral hosts and a mirror's served roots --------------------------------


class Answering:
    """A store that gives one answer per command and records what it was asked."""

    def __init__(self, answers: dict, where: str = WHERE):
        self.answers, self.where, self.calls = answers, where, []

    def call(self, command, **arguments):
        self.calls.append(command)
        return self.answers[command]


@pytest.fixture(scope="module")
def coral_inventory(tmp_path_factory):
    """The shipped inventories with the Coral runtime files' sha256 recorded in the registry."""
    root = tmp_path_factory.mktemp("inventory") / "inventories"
    shutil.copytree(ROOT / "inventories", root, ignore=shutil.ignore_patterns("__pycache__"))
    registry = root / "group_data" / "model_registry.yaml"
    text = registry.read_text()
    for name, digest in DIGESTS.items():
        head, tail = text.split(name, 1)
        assert "sha256: null" in tail
        text = head + name + tail.replace("sha256: null", f"sha256: {digest}", 1)
    registry.write_text(text)
    inventory = load_pyinfra_inventory(root / "production.py", None)
    return inventory, check_pyinfra(inventory)


def coral_refusals(coral_inventory, answer) -> dict[str, str]:
    _, checked = coral_inventory
    ctx = preflight.host_context(checked, ["sentinel", "lab1"])  # sentinel is the Coral host
    preflight._coral(ctx, Answering({"coral_files": answer}), ["sentinel", "lab1"])
    return ctx.coral_refused


def test_the_coral_hosts_go_ahead_when_the_store_holds_the_registrys_files(coral_inventory):
    assert coral_refusals(coral_inventory, dict(DIGESTS)) == {}
    missing = coral_refusals(coral_inventory, {DEB: DIGESTS[DEB], TFLITE: DIGESTS[TFLITE]})
    assert (
        list(missing) == ["sentinel"]
        and f"coral_packages/{PYCORAL} is missing" in missing["sentinel"]
    )
    # an entry there that is not a regular file (a directory, a symlink) is said to be that
    special = coral_refusals(coral_inventory, {**DIGESTS, TFLITE: None})
    assert list(special) == ["sentinel"]
    assert f"coral_packages/{TFLITE} is not a regular file" in special["sentinel"]


@pytest.mark.parametrize("answer", MALFORMED_CORAL_FILES.values(), ids=MALFORMED_CORAL_FILES.keys())
def test_a_malformed_coral_files_answer_refuses_the_coral_hosts_in_one_line(
    coral_inventory, answer
):
    refused = coral_refusals(coral_inventory, answer)
    assert list(refused) == ["sentinel"]  # only the Coral host; lab1 deploys
    assert refused["sentinel"].startswith("cannot check the store's Coral files: ")
    one_malformed_line(refused["sentinel"], "coral_files")
    assert "differs" not in refused["sentinel"] and "is missing" not in refused["sentinel"]


@pytest.mark.parametrize("answer", MALFORMED_EXISTS.values(), ids=MALFORMED_EXISTS.keys())
def test_a_malformed_exists_answer_refuses_the_run_and_serves_nothing(
    coral_inventory, monkeypatch, answer
):
    inventory, checked = coral_inventory
    mirrors: list[Answering] = []

    def mirror_store(host, settings):
        mirrors.append(Answering({"exists": answer, "serve": {}}))
        return mirrors[-1]

    monkeypatch.setattr(preflight, "RemoteStore", mirror_store)
    with pytest.raises(Exception) as refused:
        preflight._serve_mirror(checked, inventory, "data1")
    assert mirrors[0].calls == ["exists"]  # no serve for a store that may not be there
    lines = str(refused.value).splitlines()
    assert lines[0] == preflight.REFUSED and len(lines) == 2
    assert "host data1: cannot update the mirror's served roots: " in lines[1]
    one_malformed_line(lines[1], "exists")


# --- the store clients and the use cases ----------------------------------------------------


@pytest.mark.parametrize("answer", MALFORMED_EXISTS.values(), ids=MALFORMED_EXISTS.keys())
def test_init_and_publish_read_exists_as_true_or_false(answer):
    remote = Answering({"exists": answer})
    remote.root = "/home/ops/sentinelcam/model_registry"
    client = RemoteClient(remote)  # type: ignore[arg-type]
    for step in (client.init, client._require):
        with pytest.raises(CheckFailed) as refused:
            step()
        one_malformed_line(str(refused.value), "exists")
    assert remote.calls == ["exists", "exists"]  # nothing created, nothing uploaded


class Asked(Exception):
    pass


@pytest.mark.parametrize("answer", MALFORMED_CORAL_FILES.values(), ids=MALFORMED_CORAL_FILES.keys())
def test_coral_fetch_refuses_a_malformed_coral_files_answer_before_it_asks(answer):
    store = Answering({"coral_files": answer})
    session = SimpleNamespace(
        checked=SimpleNamespace(registry=SimpleNamespace(coral=object())), store=lambda: store
    )

    def confirm(question):
        raise Asked(question)  # the next step would download

    ui = SimpleNamespace(confirm=confirm)
    with pytest.raises(CheckFailed) as refused:
        usecases.coral_fetch(session, None, False, ui)  # type: ignore[arg-type]
    one_malformed_line(str(refused.value), "coral_files")
    assert store.calls == ["coral_files"]


@pytest.mark.parametrize("answer", MALFORMED_INSTALLED.values(), ids=MALFORMED_INSTALLED.keys())
def test_coral_fetch_reports_a_malformed_install_coral_answer_in_one_line(
    coral_inventory, tmp_path, monkeypatch, answer
):
    """The store holds every file already (nothing is downloaded); what it says it stored is
    read before it is logged or shown."""
    log = tmp_path / "actions.log"
    monkeypatch.setenv("SENTINELCAM_ACTION_LOG", str(log))
    _, checked = coral_inventory
    store = Answering({"coral_files": dict(DIGESTS)})
    store.install_coral = lambda staged, files: answer
    session = SimpleNamespace(checked=checked, store=lambda: store)
    ui = SimpleNamespace(confirm=lambda question: None, work=lambda label: contextlib.nullcontext())
    with pytest.raises(CheckFailed) as refused:
        usecases.coral_fetch(session, None, False, ui)  # type: ignore[arg-type]
    one_malformed_line(str(refused.value), "install_coral")
    assert not log.exists()
