"""The store's ``check``, ``versions`` and ``cleanup`` answers read totally (fleet/answers.py),
where a change decides on them: a version is present and whole only when the answer says so in
the agent's own shape (store/versions.py: ``{"digest": sha256 of the manifest or None,
"problems": [...]}``, the digest given whenever the manifest is readable, so only empty problems
mean whole; ``versions`` lists date-named directories with a size in bytes). Anything else is one
CheckFailed line naming the store, printed escaped and capped, and no change is committed on it.
"""

from __future__ import annotations

import pytest

from sentinelcam_models.core.problems import CheckFailed
from sentinelcam_models.fleet import session as session_module
from sentinelcam_models.fleet.answers import (
    Cleaned,
    check_answer,
    store_versions,
    version_names,
)

WHERE = "data1:/home/ops/sentinelcam/model_registry"
ITEM = "face_recognition/2025-02-25"
GOOD = "d" * 64


def one_malformed_line(exc: CheckFailed, command: str) -> None:
    message = str(exc)
    assert "\n" not in message and "\x1b" not in message and len(message) < 400
    assert f"{WHERE}: the store's {command} answer is malformed (" in message


@pytest.mark.parametrize(
    "entry",
    [
        {"digest": None, "problems": []},  # no manifest read, yet nothing wrong
        {"digest": None},  # problems missing
        {"problems": []},  # digest missing
        {"digest": "", "problems": []},
        {"digest": "xyz", "problems": []},
        {"digest": "D" * 64, "problems": []},
        {"digest": "d" * 63, "problems": []},
        {"digest": 5, "problems": []},
        {"digest": GOOD, "problems": "none"},
        {"digest": GOOD, "problems": [3]},
        {"digest": "\x1b[31m" + "x" * 5000, "problems": []},
    ],
    ids=repr,
)
def test_a_check_entry_that_is_not_the_agents_shape_is_one_line(entry):
    with pytest.raises(CheckFailed) as raised:
        check_answer({ITEM: entry}, ITEM, WHERE)
    one_malformed_line(raised.value, "check")


def test_check_entries_in_the_agents_shape_are_read_as_they_are():
    assert check_answer({ITEM: {"digest": GOOD, "problems": []}}, ITEM, WHERE) == (GOOD, ())
    missing = [f"{ITEM}: not in the store /x"]
    assert check_answer({ITEM: {"digest": None, "problems": missing}}, ITEM, WHERE) == (
        None,
        tuple(missing),
    )
    # a problem line from the store is printed escaped and capped
    digest, problems = check_answer(
        {ITEM: {"digest": GOOD, "problems": ["\x1b]0;owned\x07" + "y" * 5000]}}, ITEM, WHERE
    )
    assert digest == GOOD and "\x1b" not in problems[0] and len(problems[0]) < 500


@pytest.mark.parametrize(
    "answer",
    [
        [{"version": "latest", "size": 1, "has_manifest": True}],
        [{"version": "../2025-02-25", "size": 1, "has_manifest": True}],
        [{"version": "\x1b[2J" + "9" * 3000, "size": 1, "has_manifest": True}],
        [{"version": "2025-02-25", "size": -1, "has_manifest": True}],
        [{"version": "2025-02-25", "size": True, "has_manifest": True}],
    ],
    ids=["a name", "a path", "an escape", "a negative size", "a bool size"],
)
def test_a_versions_entry_that_is_not_a_dated_version_is_one_line(answer):
    with pytest.raises(CheckFailed) as raised:
        store_versions(answer, WHERE)
    one_malformed_line(raised.value, "versions")


def test_a_version_name_that_is_not_a_date_is_refused_by_version_names_too():
    with pytest.raises(CheckFailed) as raised:
        version_names([{"version": "x" * 1000}], WHERE)
    one_malformed_line(raised.value, "versions")
    assert version_names([{"version": "2025-02-25"}], WHERE) == {"2025-02-25"}


@pytest.mark.parametrize("freed", [True, -5, "10", None])
def test_a_cleanup_answer_without_a_byte_count_is_one_line(freed):
    with pytest.raises(CheckFailed) as raised:
        Cleaned.from_answer({"freed": freed, "log": []}, WHERE)
    one_malformed_line(raised.value, "cleanup")
    assert Cleaned.from_answer({"freed": 7, "log": ["x"]}, WHERE) == Cleaned(7, ("x",))


class Listed:
    """A store whose ``versions`` lists the version and whose ``check`` answers ``entry``."""

    where = WHERE

    def __init__(self, entry):
        self.entry = entry

    def call(self, command, **args):
        if command == "check":
            return dict.fromkeys(args["wanted"], self.entry)
        assert command == "versions"
        return [{"version": "2025-02-25", "size": 10, "has_manifest": True}]


@pytest.mark.parametrize(
    "entry",
    [{"digest": None}, {"digest": ""}, {"digest": None, "problems": []}],
    ids=["null digest, no problems key", "empty digest", "null digest, no problem"],
)
def test_a_listed_version_with_a_malformed_check_entry_is_not_present_and_whole(entry):
    opened = session_module.Session("unused.py", store="/unused")
    opened._store = Listed(entry)  # type: ignore[assignment]
    with pytest.raises(CheckFailed) as raised:
        opened.stored("face_recognition", "2025-02-25")
    one_malformed_line(raised.value, "check")


def test_a_listed_version_the_check_finds_broken_is_present_with_its_problems():
    opened = session_module.Session("unused.py", store="/unused")
    line = f"{ITEM}: missing a.bin (listed in MANIFEST.sha256)"
    opened._store = Listed({"digest": GOOD, "problems": [line]})  # type: ignore[assignment]
    stored = opened.stored("face_recognition", "2025-02-25")
    assert (stored.present, stored.digest, stored.problems) == (True, GOOD, (line,))
