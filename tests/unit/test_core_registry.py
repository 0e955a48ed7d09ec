"""Strict YAML and the registry: every bad input is one problem line naming file:line and key.

Expected lines and messages are written by hand from the registry's documented format
(MODEL_REGISTRY.md, original-implementation.md, the core modules' docstrings).
"""

from __future__ import annotations

import string
import subprocess
import sys

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sentinelcam_models.core import catalog, names, yamlstrict
from sentinelcam_models.core.registry import parse_registry
from tests.support.units import REGISTRY

SHIPPED = REGISTRY.read_text()
FILE = "reg.yaml"


def lineno(text: str, fragment: str) -> int:
    """The 1-based number of the first line of ``text`` containing ``fragment``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def parse(text: str):
    return parse_registry(FILE, text)


def lines_for(text: str) -> list[str]:
    return [str(p) for p in parse(text)[1]]


def edited(old: str, new: str) -> str:
    assert old in SHIPPED, old
    return SHIPPED.replace(old, new, 1)


# --- names: whole-string matches ---------------------------------------------------------------


@pytest.mark.parametrize(
    "check, value",
    [
        (names.is_model_name, "face\n"),
        (names.is_model_name, "Face_recognition"),
        (names.is_model_name, ""),
        (names.is_version, "2025-01-01\n"),
        (names.is_version, "2025-02-30"),
        (names.is_version, "2025-2-3"),
        (names.is_plain_file_name, "-rf"),
        (names.is_plain_file_name, "--help"),
        (names.is_plain_file_name, ".hidden"),
        (names.is_plain_file_name, "a/b"),
        (names.is_plain_file_name, "x\n"),
        (names.is_relative_file, ".."),
        (names.is_relative_file, "a/../b"),
        (names.is_relative_file, "/x"),
        (names.is_relative_file, "-"),
        (names.is_relative_file, "a/"),
        (names.is_relative_file, "a//b"),
        (names.is_relative_file, ""),
        (names.is_host_name, "x\n"),
        (names.is_host_name, "../x"),
        (names.is_user_name, "ops\n"),
        (names.is_sha256, "a" * 64 + "\n"),
        (names.is_sha256, "B10BE118"),
        (names.is_safe_path, "/a/../b"),
        (names.is_safe_path, "/a b"),
        (names.is_safe_path, "relative/path"),
    ],
)
def test_names_refuse(check, value):
    assert check(value) is False


@pytest.mark.parametrize(
    "check, value",
    [
        (names.is_model_name, "face_recognition"),
        (names.is_version, "2024-02-29"),
        (names.is_plain_file_name, "res10_300x300_ssd_iter_140000.caffemodel"),
        (names.is_relative_file, "a/b.txt"),
        (names.is_host_name, "data1.local"),
        (names.is_user_name, "ops"),
        (names.is_sha256, "0123456789abcdef" * 4),
        (names.is_safe_path, "/home/ops/sentinel/models"),
    ],
)
def test_names_accept(check, value):
    assert check(value) is True


def safe_path_as_documented(value: str) -> bool:
    """is_safe_path's docstring, by hand: absolute; letters, digits, ``. _ + -`` and single
    slashes; no ``.`` or ``..`` component."""
    allowed = set(string.ascii_letters + string.digits + "._+-/")
    return (
        value.startswith("/")
        and set(value) <= allowed
        and "//" not in value
        and all(part not in (".", "..") for part in value.split("/"))
    )


@given(st.text(alphabet="/a._+- \n$\u00e9", max_size=30))
def test_safe_paths_are_exactly_the_documented_ones(value):
    assert names.is_safe_path(value) is safe_path_as_documented(value)


def test_a_long_path_with_one_bad_character_is_refused_at_once():
    # The pattern backtracked exponentially: 30 name characters and a space took seconds, 60
    # would take years. Checked in a child process, so a regression fails instead of hanging.
    code = "from sentinelcam_models.core import names; print(names.is_safe_path('/' + 'a' * 4000 + ' '))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout == "False\n", done.stderr


# --- yamlstrict --------------------------------------------------------------------------------


def test_syntax_error_is_one_problem_with_a_line_not_an_exception():
    doc, problems = yamlstrict.load(FILE, "sentinelcam_models: [\n")
    assert doc is None
    [problem] = problems
    assert "not valid YAML" in problem.message
    assert problem.line in (1, 2)  # the unclosed list, or the end of the stream after it
    assert str(problem).startswith(f"{FILE}:{problem.line}: not valid YAML")


def test_syntax_error_in_the_middle_names_its_line():
    text = edited('    current_version: "2026-02-02"\n', '    current_version: "2026-02-02": x\n')
    [line] = lines_for(text)
    where = lineno(text, '"2026-02-02": x')
    assert line.startswith(f"{FILE}:{where}: not valid YAML"), line


def test_registry_that_is_a_list_is_one_problem_naming_the_file_and_line():
    registry, problems = parse("- sentinelcam_models\n- coral_packages\n")
    assert registry is None
    [problem] = problems
    assert "must be a mapping" in problem.message
    # registry.py: "every problem is a value naming file:line and the key"
    assert str(problem).startswith(f"{FILE}:1: ")


def test_non_utf8_bytes_name_their_line():
    raw = b'sentinelcam_models:\n  face_recognition:\n    current_version: "2026-02-\xff02"\n'
    doc, problems = yamlstrict.load_bytes(FILE, raw)
    assert doc is None
    [problem] = problems
    assert problem.line == 3
    assert "UTF-8" in problem.message
    assert str(problem).startswith(f"{FILE}:3: ")


def test_duplicate_keys_equal_as_yaml_are_refused():
    doc, problems = yamlstrict.load(FILE, "m:\n  1: a\n  1.0: b\n  x: c\n")
    [problem] = problems
    assert problem.line == 3
    assert "duplicate key" in problem.message and "line 2" in problem.message
    assert problem.key.startswith("m.")
    assert doc is not None and doc.data["m"][1] == "a"  # the first one stays


def test_duplicate_plain_keys_are_refused():
    _, problems = yamlstrict.load(FILE, "a: 1\nb: 2\na: 3\n")
    assert [(p.key, p.line) for p in problems] == [("a", 3)]
    assert "first at line 1" in problems[0].message


@pytest.mark.parametrize("text", ["? [a, b]\n: 1\n", "x: 1\n? {a: 1}\n: 2\n"])
def test_unhashable_keys_are_a_problem_not_an_exception(text):
    _, problems = yamlstrict.load(FILE, text)
    [problem] = problems
    assert problem.line == lineno(text, "?")
    assert "mapping key" in problem.message


LAUGHS = "".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
        *(
            f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n"
            for a, b in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def test_billion_laughs_is_refused_without_expanding(monkeypatch):
    def no_construct(*args, **kwargs):
        raise AssertionError("the document was constructed (aliases expanded)")

    monkeypatch.setattr(yaml.SafeLoader, "construct_object", no_construct)
    monkeypatch.setattr(yaml.SafeLoader, "construct_document", no_construct)
    assert len(LAUGHS) < 1000
    doc, problems = yamlstrict.load(FILE, LAUGHS)
    assert doc is None
    [problem] = problems
    assert "anchors and aliases" in problem.message
    assert problem.line == 1


def test_a_single_alias_is_refused_with_its_line():
    text = edited('    previous_version: "2025-02-25"\n', "    previous_version: *prev\n").replace(
        '    current_version: "2026-02-02"\n', '    current_version: &prev "2026-02-02"\n'
    )
    registry, problems = parse(text)
    assert registry is None
    [problem] = problems
    assert "anchors and aliases" in problem.message
    assert problem.line == lineno(text, "&prev")


def test_deep_nesting_is_a_problem_not_an_exception():
    doc, problems = yamlstrict.load(FILE, "[" * 600 + "]" * 600)
    assert doc is None and len(problems) == 1
    assert problems[0].line == 1 and "nested deeper than 64 levels" in problems[0].message


def test_deep_nesting_is_refused_before_it_is_built():
    """A 10 KB hostile document is refused from its events: no pathological composing."""
    import time  # noqa: PLC0415

    start = time.process_time()
    doc, problems = yamlstrict.load(FILE, "[" * 5000 + "]" * 5000)
    assert doc is None and "nested deeper" in problems[0].message
    print(f"5000-deep refused in {time.process_time() - start:.2f} s CPU")


def test_unquoted_impossible_date_names_its_line():
    """yamlstrict: "one problem line (with its line number) instead of any exception"."""
    text = edited('current_version: "2026-02-02"', "current_version: 2025-02-30")
    _, problems = parse(text)
    [problem] = problems
    assert problem.line == lineno(text, "2025-02-30"), str(problem)


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/name:os.system\n",
        "a: !!python/object/apply:os.system [id]\n",
        "a: !!python/object:collections.OrderedDict {x: 1}\n",
    ],
)
def test_tags_safe_yaml_refuses_are_refused(text):
    """A strict reader refuses what yaml.safe_load refuses, on scalars and collections alike."""
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    _doc, problems = yamlstrict.load(FILE, text)
    [problem] = problems
    assert problem.line == 1 and "is not allowed" in problem.message


def test_key_lines_are_recorded():
    doc, problems = yamlstrict.load(FILE, "# c\ntop:\n  inner:\n    leaf: 1\n  list: [1]\n")
    assert problems == []
    assert doc.lines == {"top": 2, "top.inner": 3, "top.inner.leaf": 4, "top.list": 5}


# --- the shipped registry ----------------------------------------------------------------------


def test_shipped_registry_is_valid():
    registry, problems = parse(SHIPPED)
    assert problems == []
    assert set(registry.models) == {
        "mobilenet_ssd",
        "mobilenet_ssd_depthai",
        "mobilenet_ssd_edgetpu",
        "face_detection",
        "face_detection_edgetpu",
        "face_detection_blazeface",
        "face_recognition",
        "haarcascades",
        "openface_torch",
    }
    fr = registry.models["face_recognition"]
    assert (fr.current_version, fr.previous_version) == ("2026-02-02", "2025-02-25")
    assert fr.versions == ("2026-02-02", "2025-02-25")
    assert registry.models["mobilenet_ssd_depthai"].current_version == "2026-06-07"
    blaze = registry.models["face_detection_blazeface"]
    assert dict(blaze.variants) == {"short_range": "face_detection_short_range_edgetpu.tflite"}
    assert blaze.previous_version is None and blaze.versions == ("2026-01-02",)
    # Every model SentinelCam loads has the shipped probe (operations/scripts/model_probe.py).
    assert {m.name: m.probe for m in registry.models.values()} == dict.fromkeys(
        catalog.CATALOG, ("builtin",)
    )
    assert registry.models["openface_torch"].probe_timeout == 60


def test_shipped_coral_packages_parse_with_unset_digests():
    registry, _ = parse(SHIPPED)
    coral = registry.coral
    assert coral.tf_version == "2.17.1" and coral.python_version == "3.11"
    # Debian names a package file NAME_VERSION_ARCH.deb: the registry's version must be the deb's
    # own Version, which the node's dpkg reports after the install (else every host drifts).
    _, deb_version, _ = coral.deb.name.removesuffix(".deb").split("_")
    assert dict(coral.versions) == {
        "libedgetpu": deb_version,
        "tflite_runtime": "2.17.1",
        "pycoral": "2.0.3",
    }
    assert coral.deb.name == "libedgetpu1-std_16.0tf2.17.1-1.bookworm_arm64.deb"
    assert coral.deb_package_name == "libedgetpu1-std"
    assert [(f.package, f.kind) for f in coral.runtime_files()] == [
        ("libedgetpu", "deb"),
        ("tflite_runtime", "wheel"),
        ("pycoral", "wheel"),
    ]
    assert [f.key for f in coral.unset()] == [
        "coral_packages.libedgetpu.sha256",
        "coral_packages.libedgetpu.dev_sha256",
        "coral_packages.tflite_runtime.sha256",
        "coral_packages.pycoral.sha256",
    ]
    assert [f.key for f in coral.unset(with_dev=False)] == [
        "coral_packages.libedgetpu.sha256",
        "coral_packages.tflite_runtime.sha256",
        "coral_packages.pycoral.sha256",
    ]


def test_a_recorded_digest_is_no_longer_unset():
    digest = "b10be118a04d253fbaca1d957dd0f145acb048bc046a5dd6bcc2e6493f17d625"
    text = edited(
        "    wheel: pycoral-2.0.3-cp311-cp311-linux_aarch64.whl\n    sha256: null\n",
        f"    wheel: pycoral-2.0.3-cp311-cp311-linux_aarch64.whl\n    sha256: {digest}\n",
    )
    registry, problems = parse(text)
    assert problems == []
    assert registry.coral.wheel("pycoral").sha256 == digest
    assert "coral_packages.pycoral.sha256" not in [f.key for f in registry.coral.unset()]


# --- bad registries: one precise line each -----------------------------------------------------

FR_CURRENT = 'current_version: "2026-02-02"'
PYCORAL = "    wheel: pycoral-2.0.3-cp311-cp311-linux_aarch64.whl\n    sha256: null\n"
TFLITE = "    wheel: tflite_runtime-2.17.1-cp311-cp311-linux_aarch64.whl\n    sha256: null\n"
HAAR = '  haarcascades:\n    current_version: "2020-03-25"\n    previous_version: null\n'
MOBILENET = '  mobilenet_ssd:\n    current_version: "2020-12-06"\n    previous_version: null\n'
OPENFACE = '  openface_torch:\n    current_version: "2020-03-25"\n'
BUILTIN = "    previous_version: null\n    probe: builtin\n"  # openface_torch's shipped probe


@pytest.mark.parametrize(
    "old, new, at, expected",
    [
        (
            FR_CURRENT,
            'current_version: "2025-02-30"',
            "2025-02-30",
            "sentinelcam_models.face_recognition.current_version: '2025-02-30' is not a valid "
            "version",
        ),
        (
            FR_CURRENT,
            'current_version: "2025-2-3"',
            "2025-2-3",
            "sentinelcam_models.face_recognition.current_version: '2025-2-3' is not a valid "
            "version",
        ),
        (
            FR_CURRENT,
            "current_version: 2026-02-02",
            "current_version: 2026-02-02",
            "sentinelcam_models.face_recognition.current_version: datetime.date(2026, 2, 2) is not "
            'a version: write a quoted date "YYYY-MM-DD"',
        ),
        (
            FR_CURRENT,
            "current_version: 20250203",
            "20250203",
            "sentinelcam_models.face_recognition.current_version: 20250203 is not a version",
        ),
        (
            FR_CURRENT,
            "current_version: latest",
            "latest",
            "sentinelcam_models.face_recognition.current_version: 'latest' is not a valid version",
        ),
        (
            'previous_version: "2025-02-25"',
            'previous_version: "2026-02-02"',
            'previous_version: "2026-02-02"',
            "sentinelcam_models.face_recognition.previous_version: equals current_version "
            "'2026-02-02'",
        ),
        (
            "  face_recognition:\n",
            "  Face_Recognition:\n",
            "Face_Recognition",
            "sentinelcam_models.Face_Recognition: model names must match [a-z0-9_]+",
        ),
        (
            "short_range: face_detection_short_range_edgetpu.tflite",
            "short_range: ../../etc/passwd",
            "../../etc/passwd",
            "sentinelcam_models.face_detection_blazeface.variants.short_range: '../../etc/passwd' "
            "is not a plain file name",
        ),
        (
            HAAR,
            HAAR
            + '  haarcascades:\n    current_version: "2021-01-01"\n    previous_version: null\n',
            '"2021-01-01"',  # checked below: the line of the second key
            "sentinelcam_models.haarcascades: duplicate key (first at line",
        ),
        (
            MOBILENET,
            '  mobilenet_ssd:\n    current_version: "2020-12-06"\n'
            '    current_version: "2020-12-07"\n    previous_version: null\n',
            "2020-12-07",
            "sentinelcam_models.mobilenet_ssd.current_version: duplicate key",
        ),
        (
            '    previous_version: "2025-02-25"\n',
            "",
            "  face_recognition:",
            "sentinelcam_models.face_recognition.previous_version: missing",
        ),
        (
            "    deb_package: libedgetpu1-std_16.0tf2.17.1-1.bookworm_arm64.deb\n",
            "",
            "  libedgetpu:",
            "coral_packages.libedgetpu.deb_package: missing",
        ),
        ('  tf_version: "2.17.1"\n', "", "coral_packages:", "coral_packages.tf_version: missing"),
        (
            PYCORAL,
            PYCORAL.replace("sha256: null", "sha256: B10BE118"),
            "B10BE118",
            "coral_packages.pycoral.sha256: 'B10BE118' is not a sha256 digest",
        ),
        (
            TFLITE,
            TFLITE.replace("    sha256: null\n", ""),
            "  tflite_runtime:",
            "coral_packages.tflite_runtime.sha256: missing",
        ),
        (
            "    dev_sha256: null\n",
            "",
            "  libedgetpu:",
            "coral_packages.libedgetpu.dev_sha256: missing",
        ),
        (
            "download_url: https://github.com/feranick/pycoral",
            "download_url: ftp://github.com/feranick/pycoral",
            "ftp://",
            "coral_packages.pycoral.download_url: 'ftp://",
        ),
        (
            OPENFACE,
            OPENFACE + "    colour: blue\n",
            "colour: blue",
            "sentinelcam_models.openface_torch.colour: unknown key",
        ),
        (
            OPENFACE + BUILTIN,
            OPENFACE + "    previous_version: null\n    probe: bin/check-model --quick\n",
            "probe: bin/check-model",
            "sentinelcam_models.openface_torch.probe: 'bin/check-model': the command must be an "
            "absolute path",
        ),
        (
            OPENFACE + BUILTIN,
            OPENFACE + '    previous_version: null\n    probe: "/usr/bin/check \'unclosed"\n',
            'probe: "/usr/bin/check',
            "sentinelcam_models.openface_torch.probe: cannot split the command line",
        ),
        (
            OPENFACE,
            OPENFACE + "    probe_timeout: 0\n",
            "probe_timeout: 0",
            "sentinelcam_models.openface_torch.probe_timeout: 0 must be a whole number of seconds",
        ),
        (
            OPENFACE,
            OPENFACE + "    probe_timeout: 3601\n",
            "probe_timeout: 3601",
            "sentinelcam_models.openface_torch.probe_timeout: 3601 must be a whole number",
        ),
        (
            OPENFACE,
            OPENFACE + "    probe_timeout: true\n",
            "probe_timeout: true",
            "sentinelcam_models.openface_torch.probe_timeout: True must be a whole number",
        ),
        (
            "coral_packages:\n",
            "extra_section: 1\ncoral_packages:\n",
            "extra_section",
            "extra_section: unknown top-level key",
        ),
    ],
)
def test_bad_registry_is_one_precise_line(old, new, at, expected):
    text = edited(old, new)
    lines = lines_for(text)
    assert len(lines) == 1, lines
    [line] = lines
    where = lineno(text, at)
    if "duplicate key (first at line" in expected:  # the second occurrence is the fault
        where = [i for i, ln in enumerate(text.splitlines(), 1) if ln == "  haarcascades:"][1]
    assert line.startswith(f"{FILE}:{where}: {expected}"), line
    assert "\n" not in line


def test_hostile_model_name_stays_on_one_line():
    text = SHIPPED.replace("  haarcascades:\n", '  "haar\\ncascades":\n', 1)
    [line] = lines_for(text)
    assert "\n" not in line
    assert "model names must match [a-z0-9_]+" in line
    assert line.startswith(f"{FILE}:{lineno(text, 'haar')}: ")


def test_duplicate_model_keeps_reporting_and_the_first_entry():
    text = edited(
        HAAR,
        HAAR + '  haarcascades:\n    current_version: "2021-01-01"\n    previous_version: null\n',
    )
    registry, problems = parse(text)
    assert len(problems) == 1
    assert registry.models["haarcascades"].current_version == "2020-03-25"


def test_every_problem_is_reported_not_only_the_first():
    text = edited(FR_CURRENT, 'current_version: "2026-2-2"').replace(
        '    current_version: "2020-12-06"', "    current_version: latest", 1
    )
    lines = lines_for(text)
    assert len(lines) == 2
    assert any("face_recognition.current_version: '2026-2-2'" in line for line in lines)
    assert any("mobilenet_ssd.current_version: 'latest'" in line for line in lines)


def test_missing_sections():
    lines = lines_for(
        'sentinelcam_models:\n  x:\n    current_version: "2020-01-01"\n    previous_version: null\n'
    )
    assert [line.split(": ", 1)[1] for line in lines] == ["coral_packages: missing section"]
    lines = lines_for(SHIPPED[SHIPPED.index("coral_packages:") :])
    assert len(lines) == 1 and "sentinelcam_models: missing or empty" in lines[0]


def test_valid_probe_is_parsed_with_shlex():
    text = edited(
        OPENFACE + BUILTIN,
        OPENFACE + "    previous_version: null\n"
        "    probe: /usr/local/bin/check-model --quick \"a b\" 'c d'\n"
        "    probe_timeout: 3600\n",
    )
    registry, problems = parse(text)
    assert problems == []
    entry = registry.models["openface_torch"]
    assert entry.probe == ("/usr/local/bin/check-model", "--quick", "a b", "c d")
    assert entry.probe_timeout == 3600


def test_null_sha256_is_unset_but_a_missing_sha256_is_a_problem():
    registry, problems = parse(SHIPPED)
    assert problems == []
    assert registry.coral.wheel("tflite_runtime").sha256 is None
    assert "coral_packages.tflite_runtime.sha256" in [f.key for f in registry.coral.unset()]
    [line] = lines_for(edited(TFLITE, TFLITE.replace("    sha256: null\n", "")))
    assert "coral_packages.tflite_runtime.sha256: missing" in line
