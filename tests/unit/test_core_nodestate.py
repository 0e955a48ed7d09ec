"""nodestate.parse: a node's answer, parsed strictly; a node cannot forge its own status.

Record formats (operations/scripts/node_state.sh):
``V idx model version digest complete [intact]``, ``S idx model .VERSION.partial|.old|.deleting``,
``F idx model version file 0|1``, ``C idx base64|-``, ``U service state restarts``,
``L facelist_V.csv``, ``K target``, ``H|R base64-json``, ``W login``.
"""

from __future__ import annotations

import base64
import json

import pytest

from sentinelcam_models.core.nodestate import InstalledVersion, parse

M = "/home/ops/sentinel/models"
N = "/home/ops/imagenode/models"
ROOTS = [M, N]
CONFIGS = ["/home/ops/sentinel/tasks/GetFaces.yaml", "/home/ops/imagenode.yaml"]
OWNED = ("facelist.csv", "facedata.hdf5")
D1 = "a1" * 32
D2 = "b2" * 32


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def state(*lines: str):
    return parse(list(lines), ROOTS, CONFIGS, OWNED)


def test_a_normal_answer():
    s = state(
        f"V 0 face_recognition 2026-02-02 {D1} 1",
        "V 0 face_recognition 2025-02-25 - 0",
        f"V 1 mobilenet_ssd 2020-12-06 {D2} 1 1",
        f"V 1 mobilenet_ssd 2019-01-01 {D2} 1 0",
        "S 0 face_recognition .2026-03-03.partial",
        "S 1 mobilenet_ssd .2020-12-06.old",
        "S 1 mobilenet_ssd .2018-01-01.deleting",
        "F 0 face_recognition 2026-02-02 facelist.csv 1",
        "F 0 face_recognition 2026-02-02 facedata.hdf5 0",
        "U sentinel active 3",
        "U imagenode failed -",
        "L facelist_2026-02-02.csv",
        "L facelist_2025-02-25.csv",
        "K facelist_2026-02-02.csv",
        "W ops",
    )
    assert s.problems == ()
    assert dict(s.versions(M, "face_recognition")) == {
        "2026-02-02": InstalledVersion(D1, True, None, ("facelist.csv",)),
        "2025-02-25": InstalledVersion(None, False, None, ()),
    }
    assert s.versions(N, "mobilenet_ssd")["2020-12-06"] == InstalledVersion(D2, True, True)
    assert s.versions(N, "mobilenet_ssd")["2019-01-01"].intact is False
    assert s.has(M, "face_recognition", "2026-02-02", D1)
    assert not s.has(M, "face_recognition", "2026-02-02", D2)  # another manifest
    assert not s.has(M, "face_recognition", "2025-02-25")  # incomplete
    assert not s.has(N, "mobilenet_ssd", "2019-01-01")  # deep check failed
    assert not s.has(N, "face_recognition", "2026-02-02")  # another models path
    assert s.staging[M] == (("face_recognition", ".2026-03-03.partial"),)
    assert s.staging[N] == (
        ("mobilenet_ssd", ".2020-12-06.old"),
        ("mobilenet_ssd", ".2018-01-01.deleting"),
    )
    assert s.services["sentinel"].active == "active" and s.services["sentinel"].restarts == 3
    assert s.services["imagenode"].active == "failed" and s.services["imagenode"].restarts is None
    assert s.facelists == ("facelist_2025-02-25.csv", "facelist_2026-02-02.csv")
    assert s.facelist_current == "facelist_2026-02-02.csv"
    assert s.login == "ops"


def test_configs_decode_base64_and_dash_is_absent():
    text = "%YAML 1.0\n---\nface_detection:\n  target: cpu  # é\n"
    s = state(f"C 0 {b64(text)}", "C 1 -")
    assert s.problems == ()
    assert dict(s.configs) == {CONFIGS[0]: text, CONFIGS[1]: None}


def test_health_and_coral_records_are_json_objects():
    health = {"ok": True, "service": "sentinel", "at": "2026-02-02T10:00:00Z"}
    coral = {"deb": "ii 16.0tf2.17.1-1", "venvs": {"/home/ops/.opencv": {"pycoral": "2.0.3"}}}
    s = state(f"H {b64(json.dumps(health))}", f"R {b64(json.dumps(coral))}")
    assert s.problems == ()
    assert dict(s.health) == health
    assert dict(s.coral) == coral


def test_empty_answer():
    s = state()
    assert s.problems == () and s.login is None and s.health is None
    assert dict(s.versions(M, "face_recognition")) == {}


# --- hostile lines: dropped and listed ----------------------------------------------------------

HOSTILE = [
    # version records whose names do not validate
    f"V 0 Face_recognition 2026-02-02 {D1} 1",
    f"V 0 ../x 2026-02-02 {D1} 1",
    f"V 0 face_recognition 2026-02-30 {D1} 1",
    f"V 0 face_recognition 2026-2-2 {D1} 1",
    f"V 0 face_recognition ../../etc {D1} 1",
    # bad digests and flags
    f"V 0 face_recognition 2026-02-02 {D1.upper()} 1",
    "V 0 face_recognition 2026-02-02 abc 1",
    f"V 0 face_recognition 2026-02-02 {D1}0 1",
    f"V 0 face_recognition 2026-02-02 {D1} 2",
    f"V 0 face_recognition 2026-02-02 {D1} yes",
    # out-of-range or malformed path indexes
    f"V 2 face_recognition 2026-02-02 {D1} 1",
    f"V -1 face_recognition 2026-02-02 {D1} 1",
    f"V x face_recognition 2026-02-02 {D1} 1",
    # wrong field counts (a name that carried a space or a newline)
    f"V 0 face_recognition 2026-02-02 {D1}",
    f"V 0 face_recognition 2026-02-02 {D1} 1 1 1",
    "V 0 face_recognition 2026-01-01",
    # staging names that are not exactly .VERSION.partial|.old|.deleting
    "S 0 face_recognition ../x",
    "S 0 face_recognition .2026-03-03.tmp",
    "S 0 face_recognition .2026-03-03.partial.old",
    "S 0 face_recognition .2026-03-03..partial",
    "S 0 face_recognition 2026-03-03.partial",
    "S 0 face_recognition .2026-3-3.partial",
    "S 0 face_recognition ..partial",
    "S 5 face_recognition .2026-03-03.partial",
    "S 0 ../x .2026-03-03.partial",
    # node-owned flags for files that are not node-owned
    "F 0 face_recognition 2026-02-02 facemodel.pickle 1",
    "F 0 face_recognition 2026-02-02 ../facelist.csv 1",
    # configs out of range, not base64, not UTF-8
    f"C 2 {b64('x: 1')}",
    "C 0 !!notbase64",
    "C 0 " + base64.b64encode(bytes([0xFF, 0xFE])).decode(),
    # services, face lists, links
    "U sentinel; failed 3",
    "U ../x active 1",
    "L facelist_../x.csv",
    "L facelist_2026-02-30.csv",
    "L other.csv",
    "K ../facelist.csv",
    "K -rf",
    # JSON records that are not objects or not JSON
    f"H {b64('[1, 2]')}",
    f"R {b64('not json')}",
    "H %%%",
    # logins
    "W root;id",
    "W ops extra",
    # unknown and empty records
    "X anything",
    "",
]


@pytest.mark.parametrize("line", HOSTILE)
def test_hostile_line_is_dropped_and_listed(line):
    s = state(line)
    assert len(s.problems) == 1, s.problems
    assert s.problems[0].startswith("ignored a line the node sent: ")
    assert "\n" not in s.problems[0]
    assert dict(s.versions(M, "face_recognition")) == {}
    assert s.staging[M] == () and s.staging[N] == ()
    assert dict(s.configs) == {}
    assert dict(s.services) == {}
    assert s.facelists == () and s.facelist_current is None
    assert s.health is None and s.coral is None and s.login is None


def test_a_forged_record_smuggled_in_a_directory_name_is_not_an_installed_version():
    # A version directory named "2026-01-01\nV 0 face_recognition 2026-02-02 <D1> 1" would split
    # the node's answer into two lines; neither may be taken for an installed version.
    forged_dir = f"2026-01-01\nV 0 face_recognition 2026-02-02 {D1} 1"
    answer = f"V 0 face_recognition {forged_dir} - 0\nW ops"
    s = state(*answer.split("\n"))
    assert dict(s.versions(M, "face_recognition")) == {}
    assert len(s.problems) == 2
    assert s.login == "ops"


def test_hostile_lines_do_not_hide_good_ones():
    s = state(
        "S 0 face_recognition ../x",
        f"V 0 face_recognition 2026-02-02 {D1} 1",
        f"V 0 face_recognition 2026-02-02 {D1.upper()} 1",
        "W ops",
    )
    assert list(s.versions(M, "face_recognition")) == ["2026-02-02"]
    assert s.versions(M, "face_recognition")["2026-02-02"].digest == D1
    assert len(s.problems) == 2


def test_long_hostile_lines_are_shortened_in_problems():
    s = state("X " + "A" * 10_000)
    assert len(s.problems) == 1 and len(s.problems[0]) < 200
