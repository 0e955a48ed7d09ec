"""nodestate.parse: a node's answer is one JSON document (operations/scripts/node_state.py) with a
fixed schema; it is parsed with caps on size and depth, and whatever a node sends can only fail that
node (``NodeState.failure``), never raise."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from sentinelcam_models.core.coral import coral_fact
from sentinelcam_models.core.nodestate import InstalledVersion, parse

M = "/home/ops/sentinel/models"
N = "/home/ops/imagenode/models"
ROOTS = [M, N]
CONFIGS = ["/home/ops/sentinel/tasks/GetFaces.yaml", "/home/ops/imagenode.yaml"]
OWNED = ("facelist.csv", "facedata.hdf5")
D1 = "a1" * 32
D2 = "b2" * 32
VENV = "/home/ops/.opencv"


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def version(model, ver, digest, complete=True, intact=None, modified=()):
    return {
        "model": model,
        "version": ver,
        "digest": digest,
        "complete": complete,
        "intact": intact,
        "modified": list(modified),
    }


def document(**changes) -> dict:
    doc = {
        "schema": 1,
        "roots": [
            {
                "versions": [
                    version("face_recognition", "2026-02-02", D1, modified=["facelist.csv"]),
                    version("face_recognition", "2025-02-25", None, complete=False),
                ],
                "staging": [["face_recognition", ".2026-03-03.partial"]],
            },
            {
                "versions": [
                    version("mobilenet_ssd", "2020-12-06", D2, intact=True),
                    version("mobilenet_ssd", "2019-01-01", D2, intact=False),
                ],
                "staging": [
                    ["mobilenet_ssd", ".2020-12-06.old"],
                    ["mobilenet_ssd", ".2018-01-01.deleting"],
                ],
            },
        ],
        "configs": [b64("face_detection:\n  target: cpu  # é\n"), None],
        "services": {
            "sentinel": {"active": "active", "restarts": 3},
            "imagenode": {"active": "failed", "restarts": None},
        },
        "facelists": ["facelist_2026-02-02.csv", "facelist_2025-02-25.csv"],
        "facelist_current": "facelist_2026-02-02.csv",
        "health": b64(json.dumps({"status": "passed", "detail": "ok", "time": "2026-02-02"})),
        "coral": {
            "deb": {"status": "ii", "version": "16.0tf2.17.1-1"},
            "venvs": {VENV: {"tflite_runtime": "2.17.1", "pycoral": None}},
        },
        "login": "ops",
    }
    doc.update(changes)
    return doc


def state(doc: dict | str):
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return parse(text.split("\n"), ROOTS, CONFIGS, OWNED)


def test_a_normal_answer():
    s = state(document())
    assert s.failure is None and s.problems == ()
    assert dict(s.versions(M, "face_recognition")) == {
        "2026-02-02": InstalledVersion(D1, True, None, ("facelist.csv",)),
        "2025-02-25": InstalledVersion(None, False, None, ()),
    }
    assert s.versions(N, "mobilenet_ssd")["2020-12-06"] == InstalledVersion(D2, True, True)
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
    assert dict(s.configs) == {
        CONFIGS[0]: "face_detection:\n  target: cpu  # é\n",
        CONFIGS[1]: None,
    }
    assert (s.services["sentinel"].active, s.services["sentinel"].restarts) == ("active", 3)
    assert (s.services["imagenode"].active, s.services["imagenode"].restarts) == ("failed", None)
    assert s.facelists == ("facelist_2025-02-25.csv", "facelist_2026-02-02.csv")
    assert s.facelist_current == "facelist_2026-02-02.csv"
    assert s.health is not None and s.health["status"] == "passed"
    assert s.login == "ops"
    assert coral_fact(s.coral) == {
        "libedgetpu": "16.0tf2.17.1-1",
        "venvs": {VENV: {"tflite_runtime": "2.17.1", "pycoral": None}},
    }


def test_config_bytes_that_are_not_utf8_travel_exactly():
    latin1 = "facemodel: caf\xe9\n".encode("latin-1")
    s = state(document(configs=[b64(latin1), None]))
    assert s.failure is None
    assert s.configs[CONFIGS[0]].encode("utf-8", "surrogateescape") == latin1


def hostile(mutate) -> dict:
    doc = copy.deepcopy(document())
    mutate(doc)
    return doc


HOSTILE = {
    "deep nesting (RecursionError in json)": "[" * 200_000 + "]" * 200_000,
    "not JSON": "V 0 face_recognition 2026-02-02 " + D1 + " 1",
    "empty": "",
    "duplicate key": '{"schema": 1, "schema": 1}',
    "too large": json.dumps({"x": "A" * (5 << 20)}),
    "NaN": '{"schema": NaN}',
    "a list": "[1, 2]",
    "unknown key": hostile(lambda d: d.update(extra=1)),
    "missing key": hostile(lambda d: d.pop("login")),
    "wrong schema": hostile(lambda d: d.update(schema=2)),
    "bad model name": hostile(lambda d: d["roots"][0]["versions"][0].update(model="../x")),
    "bad version": hostile(lambda d: d["roots"][0]["versions"][0].update(version="2026-02-30")),
    "version with newline": hostile(
        lambda d: d["roots"][0]["versions"][0].update(version="2026-01-01\nx")
    ),
    "bad digest": hostile(lambda d: d["roots"][0]["versions"][0].update(digest=D1.upper())),
    "complete not a bool": hostile(lambda d: d["roots"][0]["versions"][0].update(complete=1)),
    "modified not owned": hostile(
        lambda d: d["roots"][0]["versions"][0].update(modified=["facemodel.pickle"])
    ),
    "extra version key": hostile(lambda d: d["roots"][0]["versions"][0].update(x=1)),
    "too many roots": hostile(lambda d: d["roots"].append({"versions": [], "staging": []})),
    "bad staging": hostile(lambda d: d["roots"][0].update(staging=[["face_recognition", "../x"]])),
    "configs not base64": hostile(lambda d: d.update(configs=["!!", None])),
    "too few configs": hostile(lambda d: d.update(configs=[None])),
    "service with ;": hostile(
        lambda d: d.update(services={"sentinel;x": {"active": "active", "restarts": 1}})
    ),
    "service state with escape": hostile(
        lambda d: d.update(services={"sentinel": {"active": "\x1b[2J", "restarts": 1}})
    ),
    "restarts a bool": hostile(
        lambda d: d.update(services={"sentinel": {"active": "active", "restarts": True}})
    ),
    "bad face list": hostile(lambda d: d.update(facelists=["facelist_../x.csv"])),
    "bad current link": hostile(lambda d: d.update(facelist_current="../facelist.csv")),
    "bad login": hostile(lambda d: d.update(login="root;id")),
    "coral duplicate-key answer replaced by an error": hostile(
        lambda d: d["coral"]["venvs"].update({VENV: {"error": "its python printed no JSON"}})
    ),
    "coral venv with pasted text": hostile(
        lambda d: d["coral"]["venvs"].update({VENV: {"tflite_runtime": "x\ny", "pycoral": None}})
    ),
    "coral venv with extra key": hostile(
        lambda d: d["coral"]["venvs"].update(
            {VENV: {"tflite_runtime": "1", "pycoral": None, "x": "1"}}
        )
    ),
    "coral deb a string": hostile(lambda d: d["coral"].update(deb="ii 1.0")),
    "coral a list": hostile(lambda d: d.update(coral=[1])),
}


@pytest.mark.parametrize("answer", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_answer_fails_this_host_with_one_line(answer):
    s = state(answer)
    assert s.failure is not None and s.failure.startswith("node state refused: ")
    assert "\n" not in s.failure and "\x1b" not in s.failure and len(s.failure) < 300
    assert dict(s.installed) == {} and s.login is None


def test_a_hostile_health_record_is_reported_not_trusted_and_fails_nothing():
    for record in ("[" * 100_000, '{"status": "passed", "status": "failed"}', '{"x": 1}', "\xff"):
        s = state(document(health=b64(record.encode("utf-8", "surrogateescape"))))
        assert s.failure is None and s.health is None
        assert len(s.problems) == 1 and s.problems[0].startswith("health record ignored")
    s = state(document(health={"too_large": True}))
    assert s.failure is None and s.health is None and len(s.problems) == 1


def test_no_answer_at_all():
    assert state("").failure is not None
