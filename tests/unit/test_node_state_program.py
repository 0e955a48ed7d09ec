"""operations/scripts/node_state.py's own JSON and name checks, held to what they stand in for.

The program runs on every node at every deploy without json, re or signal (their imports cost a
sixth of a node's answer), so it reads its request and writes its answer through json's C
accelerator and checks names with str methods. Each must say what the standard library and the
names' regular expressions (those node_state.py used before) say.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facts.shell import body


@pytest.fixture(scope="module")
def program() -> dict:
    namespace: dict = {"__name__": "node_state"}  # its main block does not run
    exec(compile(body("node_state.py"), "node_state.py", "exec"), namespace)
    return namespace


# The shapes, as regular expressions (fullmatch); \d would take any Unicode digit.
DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
PLAIN = r"[A-Za-z0-9_+][A-Za-z0-9._+-]*"
SHAPES = {
    "is_model": r"[a-z0-9_]+",
    "is_version": DATE,
    "is_staging": rf"\.{DATE}\.(partial|old|deleting)",
    "is_plain": PLAIN,
    "is_manifest_line": rf"[0-9a-f]{{64}}  {PLAIN}(/{PLAIN})*",
    "is_facelist": rf"facelist_{DATE}\.csv",
    "is_package_version": r"[A-Za-z0-9.+~:_-]{1,64}",
}
# Characters each shape turns on, and ones close to them (Unicode digits and letters, space,
# newline, slash, upper-case hex).
NEAR = "az09AZfgF_+.-~:/ \n\t٣é"
HEX64 = "0123456789abcdef" * 4
VALID = [  # one of each shape, and the edges between them
    "face_recognition",
    "2025-01-01",
    ".2025-01-01.partial",
    ".2025-01-01.old",
    ".2025-01-01.deleting",
    "facedata.hdf5",
    "+x",
    f"{HEX64}  a/b.c/_d",
    "facelist_2025-01-01.csv",
    "1:2.3~rc1+deb12u1",
    "v" * 64,
]
NEAR_MISSES = [
    "",
    ".2025-01-01.",
    ".2025-01-01",
    "2025-01-01.old",
    "facelist_2025-01-01",
    f"{HEX64}  ",
    f"{HEX64} a",
    f"{HEX64[:-1]}  a",
    "2025-01-01\n",
    "٢٠٢٥-٠١-٠١",
]


def one_edit(text: str):
    """Every string one character changed, added or dropped away from ``text``."""
    for at in range(len(text) + 1):
        if at < len(text):
            yield text[:at] + text[at + 1 :]
        for char in NEAR:
            yield text[:at] + char + text[at:]
            if at < len(text):
                yield text[:at] + char + text[at + 1 :]


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_name_check_accepts_exactly_its_regular_expression(program, name):
    check, pattern = program[name], re.compile(SHAPES[name])
    for valid in VALID + NEAR_MISSES:
        for text in [valid, *one_edit(valid)]:
            assert bool(check(text)) == (pattern.fullmatch(text) is not None), repr(text)

    @settings(max_examples=30, deadline=None)  # beyond the neighbourhoods above
    @given(st.from_regex(SHAPES[name], fullmatch=True) | st.text(alphabet=NEAR, max_size=40))
    def holds(text: str) -> None:
        assert bool(check(text)) == (pattern.fullmatch(text) is not None), repr(text)

    holds()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(JSON)
def test_its_json_text_is_json_dumps_with_sorted_keys(program, value):
    assert program["dumps"](value) == json.dumps(value, sort_keys=True)


@settings(max_examples=100, deadline=None)
@given(JSON | st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["", " ", "\n"]))
def test_it_reads_what_json_loads_reads(program, value, space):
    text = space + json.dumps(value) + space
    assert program["loads"](text) == json.loads(text)


NOT_ONE_DOCUMENT = [
    "",
    "{",
    '{"a": 1} x',
    '{"a": 1}{}',
    "[1,]",
    '{"a": 1,}',
    '{"a": 1 "b": 2}',
    '{"a" 1}',
    '"unterminated',
    '"\\q"',  # a bad escape
    "NaN",
    "[Infinity]",
    '"\x01"',  # a control character inside a string (strict, as json.loads)
    "{'a': 1}",
]
DEEP = "[" * 50_000 + "]" * 50_000  # one argument: at most 128 KiB


@pytest.mark.parametrize("accelerator", [True, False], ids=["_json", "without _json"])
def test_it_refuses_what_is_not_one_json_document(accelerator):
    # In a fresh interpreter, as on a node: Python 3.11's C scanner reports a syntax error with
    # json.decoder's exception only when json.decoder was imported, which this program avoids
    # (inside pytest it always is). What a node program prints is read with this function.
    cases = [*NOT_ONE_DOCUMENT, DEEP]
    probe = (
        "import sys\n"
        + ("" if accelerator else "sys.modules['_json'] = None\n")
        + "ns = {'__name__': 'node_state'}\n"  # its main block does not run
        + f"exec(compile({body('node_state.py')!r}, 'node_state.py', 'exec'), ns)\n"
        + "for text in sys.argv[1:]:\n"
        + "    try:\n"
        + "        ns['loads'](text)\n"
        + "        print('read')\n"
        + "    except (ValueError, RecursionError) as exc:\n"
        + "        print('ValueError' if isinstance(exc, ValueError) else 'RecursionError')\n"
        + "print(sorted({'json', 'json.decoder'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        ["python3", "-I", "-S", "-c", probe, "{}", *cases], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    *answers, imported = done.stdout.splitlines()
    assert answers == ["read"] + ["ValueError"] * len(NOT_ONE_DOCUMENT) + ["RecursionError"]
    if accelerator:  # as on a node: what 3.11's scanner needs for its own error was not there
        assert imported == "[]"


def test_its_json_text_refuses_a_value_json_has_no_place_for(program):
    with pytest.raises(TypeError):
        program["dumps"]({"when": 1.5})


def test_without_jsons_accelerator_it_answers_the_same(tmp_path):
    # An interpreter without _json takes json's pure-Python scanner and quoting: same document.
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "facelist_2025-01-01.csv").write_text("a\n")
    request = json.dumps(
        {
            "roots": [str(tmp_path / "models")],
            "configs": [str(tmp_path / "faces" / "facelist_2025-01-01.csv")],
            "services": [],
            "facelists": str(tmp_path / "faces"),
            "deep": False,
            "owned": [],
            "health": "",
            "coral_package": "",
            "coral_venvs": [],
        }
    )
    source = body("node_state.py")
    blocked = (
        "import sys\nsys.modules['_json'] = None\n" + f"exec(compile({source!r}, 'n', 'exec'))"
    )
    answers = [
        subprocess.run(
            ["python3", "-I", "-S", "-c", program_text, request],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for program_text in (source, blocked)
    ]
    assert answers[0] == answers[1]
    assert json.loads(answers[0])["facelists"] == ["facelist_2025-01-01.csv"]
