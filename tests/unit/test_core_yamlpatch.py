"""In-place YAML edits (yamlpatch) and registry changes (changes): only the named values move.

Every expected text is written out by hand; results are compared byte for byte.
"""

from __future__ import annotations

import pytest

from sentinelcam_models.core.changes import NoChange, pin_change, pin_text, version_change
from sentinelcam_models.core.problems import BadInput
from sentinelcam_models.core.registry import parse_registry
from sentinelcam_models.core.validation import CheckedInventory, check_inventory
from sentinelcam_models.core.yamlpatch import DELETE, PatchError, get_value, set_values
from sentinelcam_models.core.yamlstrict import load
from tests.support.units import REGISTRY, host

SHIPPED = REGISTRY.read_text()
REG_FILE = "model_registry.yaml"

# A SentinelCam-style config: %YAML 1.0 header, comments, mixed quoting, blank lines, tuple strings.
CONFIG = """%YAML 1.0
---
# sentinel task config (hand edited)

trk_type: fd1   # output refkey
ring_buffer_models:
  vga: '(640, 480)'
  hd: "(768, 432)"

face_detection:
  confidence: 0.5
  model_path: /home/ops/sentinel/models/face_detection/2020-03-25/x.caffemodel  # path
  target: 'cpu'
"""


# --- set_values ----------------------------------------------------------------------------------


def test_set_value_keeps_every_other_byte():
    new = set_values(
        CONFIG,
        {
            ("face_detection", "model_path"): "/home/ops/sentinel/models/face_detection/2024-01-01/"
            "x.caffemodel"
        },
    )
    assert new == CONFIG.replace("/2020-03-25/", "/2024-01-01/")


def test_set_value_keeps_crlf_line_endings():
    crlf = CONFIG.replace("\n", "\r\n")
    new = set_values(crlf, {("face_detection", "confidence"): 0.7})
    assert new == crlf.replace("confidence: 0.5", "confidence: 0.7")


def test_set_value_keeps_the_quote_style():
    new = set_values(CONFIG, {("face_detection", "target"): "myriad"})
    assert new == CONFIG.replace("target: 'cpu'", "target: 'myriad'")
    new = set_values(CONFIG, {("ring_buffer_models", "hd"): "(1280, 720)"})
    assert new == CONFIG.replace('hd: "(768, 432)"', 'hd: "(1280, 720)"')


@pytest.mark.parametrize("value", ["yes", "null", "123", "a: b", "2025-02-25", "x # y", "é"])
def test_strings_that_yaml_would_misread_are_quoted(value):
    text = "a:\n  b: old  # keep\n"
    new = set_values(text, {("a", "b"): value})
    assert get_value(new, ("a", "b")) == value
    assert new.startswith("a:\n  b: ") and new.endswith("  # keep\n")


def test_two_values_in_one_edit():
    text = 'm:\n  current_version: "2026-02-02"  # now\n  previous_version: null\n'
    new = set_values(
        text, {("m", "current_version"): "2026-03-03", ("m", "previous_version"): "2026-02-02"}
    )
    assert new == 'm:\n  current_version: "2026-03-03"  # now\n  previous_version: "2026-02-02"\n'


def test_insert_a_missing_key_into_an_existing_block_mapping():
    text = "a:\n  b: 1  # one\n  c:\n    - x\n\nd: 3\n"
    assert (
        set_values(text, {("a", "e"): "v"})
        == 'a:\n  b: 1  # one\n  c:\n    - x\n  e: "v"\n\nd: 3\n'
    )


def test_insert_uses_the_mappings_own_indentation():
    text = "top:\n    inner:\n        k: 1\n    other: 2\n"
    new = set_values(text, {("top", "inner", "j"): 5})
    assert new == "top:\n    inner:\n        k: 1\n        j: 5\n    other: 2\n"


def test_insert_keeps_crlf_and_a_missing_final_newline():
    assert set_values("a:\r\n  b: 1\r\n", {("a", "c"): 2}) == "a:\r\n  b: 1\r\n  c: 2\r\n"
    assert set_values("a:\n  b: 1", {("a", "c"): 2}) == "a:\n  b: 1\n  c: 2\n"


def test_delete_removes_the_line():
    text = "a:\n  b: 1  # gone\n  c: 2  # stays\n"
    assert set_values(text, {("a", "b"): DELETE}) == "a:\n  c: 2  # stays\n"


def test_delete_of_an_absent_key_changes_nothing():
    text = "a:\n  b: 1\n"
    assert set_values(text, {("a", "zz"): DELETE}) == text


def test_delete_of_the_last_key_of_a_mapping_removes_its_line():
    """DELETE "removes the key's line"; the mapping left empty reads back as null."""
    text = "a:\n  b: 1\nc: 2\n"
    assert set_values(text, {("a", "b"): DELETE}) == "a:\nc: 2\n"


@pytest.mark.parametrize(
    "text, path",
    [
        ("a: {b: 1}\n", ("a", "b")),  # a flow mapping
        ("a: {b: 1}\n", ("a", "new")),
        ("a: |\n  hello\n", ("a",)),  # block scalars
        ("a: >\n  hello\n", ("a",)),
        ("a:\n  b: [1, 2]\n", ("a", "b")),  # not a value
        ("a:\n  b:\n    c: 1\n", ("a", "b")),
        ("a:\n  b: 1\n  b: 2\n", ("a", "b")),  # ambiguous
        ("a: 1\n", ("a", "b")),  # not a mapping
        ("x: 1\n", ("a", "b")),  # parent missing
        ("", ("a",)),
        ("a: [\n", ("a",)),
    ],
)
def test_edits_that_cannot_be_exact_are_refused(text, path):
    with pytest.raises(PatchError):
        set_values(text, {path: "2020-01-01"})


def test_delete_of_a_multiline_value_is_refused():
    with pytest.raises(PatchError):
        set_values("a:\n  b: 'two\n    lines'\n", {("a", "b"): DELETE})


def test_get_value():
    assert get_value(CONFIG, ("ring_buffer_models", "vga")) == "(640, 480)"
    assert get_value(CONFIG, ("nope", "x")) is None


# --- version_change: rollback and promote ---------------------------------------------------------


def checked_inventory(*hosts, text=SHIPPED) -> CheckedInventory:
    registry, problems = parse_registry(REG_FILE, text)
    assert problems == []
    result = check_inventory(registry, problems, list(hosts), "inv.py")
    assert isinstance(result, CheckedInventory), result
    return result


FLEET = (
    host("data1", "datasinks"),
    host("data2", "datasinks"),  # its datapump serves the face list: a user of face_recognition
    host("s1", "sentinels"),
    host("s2", "sentinels", model_version_overrides={"face_recognition": "2025-02-25"}),
    host("o1", "outposts"),
)
FR_BEFORE = '    current_version: "2026-02-02"\n    previous_version: "2025-02-25"\n'
FR_AFTER = '    current_version: "2025-02-25"\n    previous_version: "2026-02-02"\n'
HAAR_BEFORE = '  haarcascades:\n    current_version: "2020-03-25"\n    previous_version: null\n'


def test_rollback_previous_changes_only_current_and_previous():
    change = version_change(
        checked_inventory(*FLEET), SHIPPED, "rollback", "face_recognition", None, "inv.py"
    )
    assert SHIPPED.count(FR_BEFORE) == 1
    assert change.new_text == SHIPPED.replace(FR_BEFORE, FR_AFTER)
    assert change.old_text == SHIPPED
    assert change.file == REG_FILE
    assert change.message == "Rollback face_recognition from 2026-02-02 to 2025-02-25"
    assert change.undo == (
        "sentinelcam-models",
        "rollback",
        "face_recognition",
        "2026-02-02",
        "-i",
        "inv.py",
        "--yes",
    )
    assert change.hosts == ("data2", "s1")  # users not pinned to a version: s2 keeps its pin
    assert change.store_versions == ("2025-02-25",)
    assert change.deep_store_check is False
    assert change.action == "rollback" and change.model == "face_recognition"


def test_rollback_keeps_crlf():
    crlf = SHIPPED.replace("\n", "\r\n")
    change = version_change(
        checked_inventory(*FLEET), crlf, "rollback", "face_recognition", None, "inv.py"
    )
    assert change.new_text == crlf.replace(
        FR_BEFORE.replace("\n", "\r\n"), FR_AFTER.replace("\n", "\r\n")
    )


def test_promote_from_a_null_previous():
    change = version_change(
        checked_inventory(*FLEET), SHIPPED, "promote", "haarcascades", "2021-01-01", "inv.py"
    )
    assert change.new_text == SHIPPED.replace(
        HAAR_BEFORE,
        '  haarcascades:\n    current_version: "2021-01-01"\n    previous_version: "2020-03-25"\n',
    )
    assert change.message == "Promote haarcascades from 2020-03-25 to 2021-01-01"
    assert change.deep_store_check is True
    assert change.undo[:4] == ("sentinelcam-models", "rollback", "haarcascades", "2020-03-25")
    assert change.hosts == ("s1", "s2")


def test_rollback_to_a_named_version():
    change = version_change(
        checked_inventory(*FLEET), SHIPPED, "rollback", "face_recognition", "2024-06-01", "inv.py"
    )
    assert change.new_text == SHIPPED.replace(
        FR_BEFORE, '    current_version: "2024-06-01"\n    previous_version: "2026-02-02"\n'
    )
    assert change.message == "Rollback face_recognition from 2026-02-02 to 2024-06-01"


def test_promote_a_model_with_variants():
    """The original's sed edit broke on ``variants:``; this edit changes the two values only."""
    before = (
        '  face_detection_blazeface:\n    current_version: "2026-01-02"\n'
        "    previous_version: null\n"
    )
    after = (
        '  face_detection_blazeface:\n    current_version: "2026-05-01"\n'
        '    previous_version: "2026-01-02"\n'
    )
    change = version_change(
        checked_inventory(*FLEET),
        SHIPPED,
        "promote",
        "face_detection_blazeface",
        "2026-05-01",
        "inv.py",
    )
    assert change.new_text == SHIPPED.replace(before, after)


def test_rollback_with_reordered_keys_and_comments():
    reordered = '    previous_version: "2025-02-25"   # why\n    current_version: "2026-02-02"\n'
    text = SHIPPED.replace(FR_BEFORE, reordered)
    change = version_change(
        checked_inventory(*FLEET, text=text), text, "rollback", "face_recognition", None, "inv.py"
    )
    assert change.new_text == text.replace(
        reordered, '    previous_version: "2026-02-02"   # why\n    current_version: "2025-02-25"\n'
    )


def test_no_change_when_already_at_the_target():
    result = version_change(
        checked_inventory(*FLEET), SHIPPED, "promote", "face_recognition", "2026-02-02", "inv.py"
    )
    assert isinstance(result, NoChange)


@pytest.mark.parametrize(
    "action, model, target",
    [
        ("rollback", "yolo", None),  # unknown model
        ("rollback", "haarcascades", None),  # previous_version is null
        ("promote", "face_recognition", "2026-2-2"),
        ("promote", "face_recognition", "latest"),
    ],
)
def test_version_change_bad_input(action, model, target):
    with pytest.raises(BadInput):
        version_change(checked_inventory(*FLEET), SHIPPED, action, model, target, "inv.py")


# --- pin_text -------------------------------------------------------------------------------------

PINS = "model_version_overrides"


def test_pin_creates_a_new_file():
    assert pin_text("h.yaml", None, "face_recognition", "2025-02-25") == (
        'model_version_overrides:\n  face_recognition: "2025-02-25"\n'
    )


def test_pin_adds_the_mapping_to_a_file_without_it():
    text = "ssh_user: ops  # login\n\nssh_hostname: s1.local\n"
    assert pin_text("h.yaml", text, "face_recognition", "2025-02-25") == (
        text + 'model_version_overrides:\n  face_recognition: "2025-02-25"\n'
    )
    assert pin_text("h.yaml", "ssh_user: ops", "haarcascades", "2020-03-25") == (
        'ssh_user: ops\nmodel_version_overrides:\n  haarcascades: "2020-03-25"\n'
    )


def test_pin_adds_to_an_existing_mapping():
    text = '# pins\nmodel_version_overrides:\n  haarcascades: "2020-03-25"  # eyes\nssh_user: ops\n'
    assert pin_text("h.yaml", text, "face_recognition", "2025-02-25") == (
        '# pins\nmodel_version_overrides:\n  haarcascades: "2020-03-25"  # eyes\n'
        '  face_recognition: "2025-02-25"\nssh_user: ops\n'
    )


def test_pin_replaces_an_existing_pin_keeping_comments():
    text = '# why: FR regression\nmodel_version_overrides:\n  face_recognition: "2025-02-25"  # x\n'
    assert pin_text("h.yaml", text, "face_recognition", "2024-01-01") == text.replace(
        "2025-02-25", "2024-01-01"
    )


def test_pin_keeps_crlf():
    text = "ssh_user: ops\r\n"
    assert pin_text("h.yaml", text, "face_recognition", "2025-02-25") == (
        'ssh_user: ops\r\nmodel_version_overrides:\r\n  face_recognition: "2025-02-25"\r\n'
    )


def test_pin_into_an_empty_pins_key():
    """``model_version_overrides:`` with no value is valid host data (no pins)."""
    text = "ssh_user: ops\nmodel_version_overrides:\n"
    new = pin_text("h.yaml", text, "face_recognition", "2025-02-25")
    doc, problems = load("h.yaml", new)
    assert problems == [], [str(p) for p in problems]
    assert doc.data == {"ssh_user": "ops", PINS: {"face_recognition": "2025-02-25"}}


def test_unpin_removes_only_that_line():
    text = (
        'ssh_user: ops\r\nmodel_version_overrides:\r\n  face_recognition: "2025-02-25"\r\n'
        '  haarcascades: "2020-03-25"  # eyes\r\n'
    )
    assert pin_text("h.yaml", text, "face_recognition", None) == (
        'ssh_user: ops\r\nmodel_version_overrides:\r\n  haarcascades: "2020-03-25"  # eyes\r\n'
    )


def test_unpin_of_an_unpinned_model_changes_nothing():
    text = "ssh_user: ops\n"
    assert pin_text("h.yaml", text, "face_recognition", None) == text


def test_unpin_of_the_last_pin_removes_the_empty_mapping():
    text = 'ssh_user: ops  # c\nmodel_version_overrides:\n  face_recognition: "2025-02-25"\nx: 1\n'
    assert pin_text("h.yaml", text, "face_recognition", None) == "ssh_user: ops  # c\nx: 1\n"


def test_unpin_of_the_last_pin_keeps_crlf():
    text = 'ssh_user: ops\r\nmodel_version_overrides:\r\n  face_recognition: "2025-02-25"\r\n'
    assert pin_text("h.yaml", text, "face_recognition", None) == "ssh_user: ops\r\n"


def test_unpin_deletes_the_file_when_nothing_else_remains():
    text = 'model_version_overrides:\n  face_recognition: "2025-02-25"\n'
    assert pin_text("h.yaml", text, "face_recognition", None) is None


@pytest.mark.parametrize(
    "text",
    [
        "- a\n",  # not a mapping
        "model_version_overrides: [a]\n",
        'model_version_overrides: {face_recognition: "2025-02-25"}\n',  # flow: not edited
        "a: &x 1\nb: *x\n",
        "a: 1\na: 2\n",
    ],
)
def test_pin_text_refuses_files_it_cannot_edit_exactly(text):
    with pytest.raises(BadInput):
        pin_text("h.yaml", text, "face_recognition", "2024-01-01")


# --- pin_change -----------------------------------------------------------------------------------
# pin_change is given the inventory as a load shows it with the host data file as the pin writes it
# (Session.plan_host_data): FLEET with that host's pins replaced.

PINS = "model_version_overrides"


def as_written(name: str, pins: dict[str, str], **other: dict[str, str]) -> CheckedInventory:
    """FLEET as loaded once ``name``'s host data file holds ``pins`` (and ``other`` hosts' theirs)."""
    files = {name: pins, **other}
    hosts = []
    for h in FLEET:
        if h.name in files:
            data = {k: v for k, v in h.data.items() if k != PINS}
            hosts.append(
                host(h.name, *h.groups, **data, **({PINS: files[h.name]} if files[h.name] else {}))
            )
        else:
            hosts.append(h)
    return checked_inventory(*hosts)


def test_pin_change():
    checked = as_written("s1", {"face_recognition": "2025-02-25"})
    change = pin_change(
        checked, "s1", "face_recognition", "2025-02-25", "host_data/s1.yaml", None, "inv.py"
    )
    assert change.action == "pin"
    assert change.old_text is None
    assert change.new_text == 'model_version_overrides:\n  face_recognition: "2025-02-25"\n'
    assert change.message == "Pin face_recognition on s1 to 2025-02-25"
    assert change.hosts == ("s1",)
    assert change.store_versions == ("2025-02-25",)
    assert change.undo == (
        "sentinelcam-models",
        "unpin",
        "s1",
        "face_recognition",
        "-i",
        "inv.py",
        "--yes",
    )


def test_repin_undo_restores_the_old_pin():
    checked = as_written("s2", {"face_recognition": "2024-01-01"})
    text = 'model_version_overrides:\n  face_recognition: "2025-02-25"\n'
    change = pin_change(
        checked, "s2", "face_recognition", "2024-01-01", "host_data/s2.yaml", text, "inv.py"
    )
    assert change.new_text == text.replace("2025-02-25", "2024-01-01")
    assert change.undo == (
        "sentinelcam-models",
        "pin",
        "s2",
        "face_recognition",
        "2025-02-25",
        "-i",
        "inv.py",
        "--yes",
    )


def test_pin_of_a_model_the_host_does_not_use_redeploys_nothing():
    checked = as_written("o1", {"face_recognition": "2025-02-25"})
    change = pin_change(checked, "o1", "face_recognition", "2025-02-25", "o1.yaml", None, "inv.py")
    assert change.hosts == ()


def test_unpin_change():
    checked = as_written("s2", {})
    text = 'ssh_user: ops\nmodel_version_overrides:\n  face_recognition: "2025-02-25"\n'
    change = pin_change(checked, "s2", "face_recognition", None, "s2.yaml", text, "inv.py")
    assert change.action == "unpin"
    assert change.new_text == "ssh_user: ops\n"
    assert change.message == "Unpin face_recognition on s2 (was 2025-02-25)"
    assert change.undo == (
        "sentinelcam-models",
        "pin",
        "s2",
        "face_recognition",
        "2025-02-25",
        "-i",
        "inv.py",
        "--yes",
    )
    assert change.hosts == ("s2",)


def test_pin_change_no_change_is_about_the_file():
    text = 'model_version_overrides:\n  face_recognition: "2025-02-25"\n'
    checked = checked_inventory(*FLEET)  # s2 shows the pin its file holds
    assert isinstance(
        pin_change(checked, "s2", "face_recognition", "2025-02-25", "s2.yaml", text, "inv.py"),
        NoChange,
    )
    assert isinstance(
        pin_change(checked, "s1", "face_recognition", None, "s1.yaml", None, "inv.py"), NoChange
    )
    # s2 shows a pin its (missing) file does not hold: the inventory sets it itself. Pinning the
    # same version writes it into the file (its undo, an unpin, removes it again) ...
    change = pin_change(checked, "s2", "face_recognition", "2025-02-25", "s2.yaml", None, "inv.py")
    assert change.new_text == text and change.undo[1] == "unpin"
    # ... and there is nothing in the file to unpin: refused, naming where the pin comes from
    with pytest.raises(BadInput, match=r"s2.yaml: holds no face_recognition pin to remove.*inv.py"):
        pin_change(checked, "s2", "face_recognition", None, "s2.yaml", None, "inv.py")


def test_a_pin_the_inventory_as_written_does_not_show_is_refused():
    # the inventory's load with the file as written still shows s1 unpinned: it does not merge it
    checked = as_written("s1", {})
    with pytest.raises(
        BadInput,
        match=r"host s1 does not show the pin face_recognition=2024-01-01 in s1.yaml "
        r"\(its settings say unpinned\).*host_data/HOST.yaml.*; nothing changed$",
    ):
        pin_change(checked, "s1", "face_recognition", "2024-01-01", "s1.yaml", None, "inv.py")


def test_an_unpin_that_leaves_the_inventorys_own_pin_says_so():
    # s2's file pins 2024-01-01 over the inventory's own 2025-02-25 (FLEET's s2): removing the
    # file's pin leaves the inventory's, which the load as written shows and the message names
    text = 'model_version_overrides:\n  face_recognition: "2024-01-01"\n'
    checked = checked_inventory(*FLEET)
    change = pin_change(checked, "s2", "face_recognition", None, "s2.yaml", text, "inv.py")
    assert change.new_text is None  # the file held only that pin
    assert change.message == (
        "Unpin face_recognition on s2 (was 2024-01-01; its settings then pin 2025-02-25)"
    )
    assert change.undo[1:5] == ("pin", "s2", "face_recognition", "2024-01-01")


@pytest.mark.parametrize(
    "host_name, model, version",
    [
        ("nohost", "face_recognition", "2025-02-25"),
        ("s1", "yolo", "2025-02-25"),
        ("s1", "face_recognition", "2025-2-25"),
    ],
)
def test_pin_change_refuses_unknown_host_model_or_bad_version(host_name, model, version):
    with pytest.raises(BadInput):
        pin_change(checked_inventory(*FLEET), host_name, model, version, "x.yaml", None, "inv.py")
