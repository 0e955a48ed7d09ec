"""Retention choice (pure) and the policy document the datasink's cleanup reads."""

from __future__ import annotations

import json

import pytest

from sentinelcam_models.core.retention import (
    ModelPolicy,
    Policy,
    choose,
    make_policy,
    parse_policy,
    policy_document,
)

V = [
    "2024-01-01",
    "2024-06-01",
    "2025-01-01",
    "2025-02-25",
    "2025-06-01",
    "2025-09-01",
    "2026-01-01",
    "2026-02-02",
]


def test_keeps_current_previous_pins_and_n_newest_others():
    d = choose("fr", V, "2026-02-02", "2025-02-25", {"2024-01-01": ["sentinel2"]}, 2)
    assert d.keep == {
        "2026-02-02": "current",
        "2026-01-01": "newest",
        "2025-09-01": "newest",
        "2025-02-25": "previous",
        "2024-01-01": "pinned by sentinel2",
    }
    assert list(d.keep) == sorted(d.keep, reverse=True)  # newest first
    assert d.remove == ["2025-06-01", "2025-01-01", "2024-06-01"]
    assert d.model == "fr"


def test_null_previous_and_fewer_versions_than_n():
    d = choose("m", ["2020-12-06", "2021-01-01"], "2021-01-01", None, {}, 5)
    assert d.remove == []
    assert d.keep == {"2021-01-01": "current", "2020-12-06": "newest"}


def test_pin_equal_to_current_counts_once_and_keep_zero():
    d = choose("m", V, "2026-02-02", None, {"2026-02-02": ["b", "a", "a"]}, 0)
    assert d.keep == {"2026-02-02": "current; pinned by a, b"}
    assert d.remove == sorted(set(V) - {"2026-02-02"}, reverse=True)


def test_newest_is_the_latest_date_whatever_the_input_order():
    shuffled = ["2025-06-01", "2024-01-01", "2026-01-01", "2025-06-01", "2025-01-01"]
    d = choose("m", shuffled, None, None, {}, 2)
    assert d.keep == {"2026-01-01": "newest", "2025-06-01": "newest"}
    assert d.remove == ["2025-01-01", "2024-01-01"]


def test_pins_of_versions_not_in_the_store_change_nothing():
    d = choose("m", ["2025-01-01", "2025-02-01"], "2025-02-01", None, {"2020-01-01": ["x"]}, 0)
    assert d.keep == {"2025-02-01": "current"} and d.remove == ["2025-01-01"]


@pytest.mark.parametrize("keep", [-1, -3, True, 1.5, "2"])
def test_keep_must_be_a_whole_number_not_below_zero(keep):
    with pytest.raises(ValueError, match="keep"):
        choose("m", V, V[-1], None, {}, keep)


def test_a_name_that_is_not_a_version_is_refused():
    with pytest.raises(ValueError, match="2025-13-01"):
        choose("m", ["2025-13-01"], None, None, {}, 1)


GOOD: dict = {
    "keep": 5,
    "models": {
        "face_recognition": {
            "current_version": "2026-02-02",
            "previous_version": "2025-02-25",
            "pins": {"2024-01-01": ["sentinel2", "sentinel1"]},
        },
        "haarcascades": {"current_version": "2020-12-06", "previous_version": None, "pins": {}},
    },
}


def test_parse_policy_reads_the_document():
    policy, problems = parse_policy(json.loads(json.dumps(GOOD)))
    assert problems == []
    assert policy == Policy(
        5,
        {
            "face_recognition": ModelPolicy(
                "2026-02-02", "2025-02-25", {"2024-01-01": ["sentinel1", "sentinel2"]}
            ),
            "haarcascades": ModelPolicy("2020-12-06", None, {}),
        },
    )
    decision = policy.decide("face_recognition", V)
    assert decision.keep["2024-01-01"] == "pinned by sentinel1, sentinel2"
    assert policy.decide("face_recognition", V, keep=0).remove[0] == "2026-01-01"


def _with(path: list[str], value: object) -> dict:
    doc = json.loads(json.dumps(GOOD))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (_with(["keep"], -3), "keep must be a whole number >= 0"),
        (_with(["keep"], "5"), "keep must be a whole number >= 0"),
        (_with(["keep"], True), "keep must be a whole number >= 0"),
        (
            _with(["models", "../etc"], GOOD["models"]["haarcascades"]),
            "'../etc' is not a model name",
        ),
        (
            _with(["models", "haarcascades", "current_version"], "2025-02-30"),
            "haarcascades.current_version: '2025-02-30' is not a valid version",
        ),
        (
            _with(["models", "haarcascades", "current_version"], None),
            "haarcascades.current_version",
        ),
        (
            _with(["models", "haarcascades", "previous_version"], "yesterday"),
            "haarcascades.previous_version",
        ),
        (_with(["models", "haarcascades", "pins"], {"2025-1-1": ["a"]}), "haarcascades.pins"),
        (
            _with(["models", "haarcascades", "pins"], {"2025-01-01": "a"}),
            "haarcascades.pins.2025-01-01: must be a non-empty list of host names",
        ),
        (
            _with(["models", "haarcascades", "pins"], {"2025-01-01": ["bad host"]}),
            "haarcascades.pins.2025-01-01",
        ),
        (_with(["models", "haarcascades", "extra"], 1), "unknown key 'extra'"),
        (_with(["surprise"], 1), "unknown key 'surprise'"),
        ({"models": {}}, "keep is missing"),
        ([], "must be a JSON object"),
    ],
)
def test_parse_policy_refuses_each_bad_value_with_one_line(doc, expected):
    policy, problems = parse_policy(doc)
    assert policy is None
    assert any(expected in p for p in problems), problems
    assert all("\n" not in p for p in problems)


def test_problem_lines_stay_one_line_whatever_the_model_name():
    _, problems = parse_policy({"keep": 1, "models": {"a\nb": {}}})
    assert problems and all("\n" not in p for p in problems)


def test_make_policy_collects_pins_by_version_and_round_trips():
    policy = make_policy(
        3,
        {"face_recognition": ("2026-02-02", "2025-02-25"), "haarcascades": ("2020-12-06", None)},
        {
            "sentinel2": {"face_recognition": "2024-01-01"},
            "sentinel1": {"face_recognition": "2024-01-01", "unknown_model": "2024-01-01"},
        },
    )
    document = policy_document(policy)
    assert document == {
        "keep": 3,
        "models": {
            "face_recognition": {
                "current_version": "2026-02-02",
                "previous_version": "2025-02-25",
                "pins": {"2024-01-01": ["sentinel1", "sentinel2"]},
            },
            "haarcascades": {"current_version": "2020-12-06", "previous_version": None, "pins": {}},
        },
    }
    assert parse_policy(json.loads(json.dumps(document))) == (policy, [])


def test_make_policy_refuses_a_bad_registry_value():
    with pytest.raises(ValueError, match="not a valid version"):
        make_policy(1, {"m": ("2025-02-30", None)}, {})
