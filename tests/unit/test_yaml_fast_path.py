"""The strict reader takes libyaml's parser when PyYAML has it: it must read every document exactly
as the pure-Python parser does (data and key lines), and fall back to it for what libyaml refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinelcam_models.core import yamlstrict
from sentinelcam_models.core.yamlpatch import set_values

pytestmark = pytest.mark.skipif(
    yamlstrict.FAST_LOADER is None, reason="PyYAML without libyaml: there is one parser only"
)
REPO = Path(__file__).resolve().parents[2]

keys = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=8
)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | keys
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4)
)


def both(text: str):
    return (
        yamlstrict._load("f.yaml", text, yamlstrict.FAST_LOADER),
        yamlstrict._load("f.yaml", text, yaml.SafeLoader),
    )


@settings(max_examples=300, deadline=None)
@given(documents, st.sampled_from(["block", "flow"]))
def test_both_parsers_read_the_same_data_and_lines(doc, style):
    text = yaml.safe_dump(doc, allow_unicode=True, default_flow_style=(style == "flow"))
    fast, pure = both(text)
    assert fast == pure


def test_the_shipped_yaml_files_read_the_same_with_both_parsers():
    files = [*REPO.glob("inventories/**/*.yaml"), *REPO.glob("templates/**/*.j2")]
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            yaml.safe_load(text)
        except yaml.YAMLError:
            continue  # a template whose Jinja is not YAML yet
        fast, pure = both(text)
        assert fast == pure, path


def test_what_libyaml_refuses_is_read_by_pyyaml():
    text = "%YAML 1.0\n---\nmodel_path: /m/v/file\n"  # libyaml: "found incompatible YAML document"
    with pytest.raises(yaml.YAMLError):
        yaml.load(text, Loader=yamlstrict.FAST_LOADER)
    doc, problems = yamlstrict.load("f.yaml", text)
    assert problems == [] and doc is not None and doc.data == {"model_path": "/m/v/file"}
    assert set_values(text, {("model_path",): "/m/w/file"}).endswith("model_path: /m/w/file\n")


def test_a_yaml_1_0_document_is_read_by_libyaml_as_pyyaml_reads_it(monkeypatch):
    # SentinelCam's configs say %YAML 1.0, which libyaml refuses: the strict reader gives libyaml
    # the directive as 1.1 (same length, same lines) instead of reading them with the pure-Python
    # parser at ten times the CPU (every deploy reads each sentinel's sentinel.yaml).
    text = (
        "%YAML 1.0  # the services' own files say so\n---\n"
        "# Settings\nmodel_path: /m/v/file\nnested:\n  list: [1, 2.5, '%YAML 1.0']\n"
    )
    pure = yamlstrict._load("f.yaml", text, yaml.SafeLoader)
    fast = yamlstrict._load("f.yaml", yamlstrict._for_libyaml(text), yamlstrict.FAST_LOADER)
    assert fast == pure and pure[1] == [] and pure[0] is not None
    assert pure[0].lines == {"model_path": 4, "nested": 5, "nested.list": 6}

    class Refused(yaml.SafeLoader):
        def __init__(self, stream):
            raise AssertionError("read by the pure-Python parser")

    monkeypatch.setattr(yamlstrict.yaml, "SafeLoader", Refused)
    assert yamlstrict.load("f.yaml", text) == pure
    # only a directive before the document changes: a scalar that looks like one stays
    block = "--- |\n  %YAML 1.0\n"
    assert yamlstrict._for_libyaml(block) == block
    assert yamlstrict._for_libyaml("%YAML 1.0\n---\na: 1\n") == "%YAML 1.1\n---\na: 1\n"
    prologue = "\ufeff# c\n\n%TAG ! tag:x,2000:\n%YAML 1.0 # c\n--- # d\na: 1\n"
    assert yamlstrict._for_libyaml(prologue) == prologue.replace("1.0", "1.1")


@pytest.mark.parametrize(
    "text",
    [
        '--- "a\n%YAML 1.0\nb"\n',  # a scalar's line, after a marker on line 1
        'k: "a\n%YAML 1.0\nb"\n',  # ... in a document without a marker
        "k: 'a\n%YAML 1.0\nb'\n",
        "foo\n%YAML 1.0\n",  # a top-level plain scalar
        "k: [\n%YAML 1.0\n]\n",
        "%YAML 1.0#c\n---\na: 1\n",  # PyYAML: "expected a digit or ' '"
        "%YAML 1.0\na: 1\n",  # a directive without a document marker
        "%YAML 1.0\n---x\n",
        "a: 1\n...\n%YAML 1.0\n---\nb: 2\n",
        "\ufeff%YAML 1.0\n---\na: 1\n",
        "%YAML 1.0\r\n---\r\na: 1\r\n",
        "%YAML 1.0\n---\na: yes\nb: 0777\nc: 0x1F\nd: 1_000\ne: 2001-12-14\nf: ~\ng: on\nh: 1:20\n",
        "%YAML 1.0\n---\na: 1\n...\n%YAML 1.0\n---\nb: 2\n",
        "%YAML 1.0\n%YAML 1.0\n---\na: 1\n",
        "%YAML 1.0\n%TAG ! tag:x,2000:\n---\na: 1\n",
        "# c\n\n%YAML 1.0 # c\n---\na: 1\n",
    ],
)
def test_only_the_prologue_s_yaml_1_0_directive_is_rewritten(monkeypatch, text):
    # Review r5: a column-0 "%YAML 1.0" inside a scalar was rewritten (the data changed), and a
    # comment without a space before it was accepted where PyYAML refuses the directive.
    got = yamlstrict.load("f.yaml", text)
    monkeypatch.setattr(yamlstrict, "FAST_LOADER", None)
    assert got == yamlstrict.load("f.yaml", text)  # what the pure-Python parser alone reads


ascii_keys = st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), min_size=1)
ascii_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ascii_keys,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ascii_keys, inner, max_size=4),
)


def marks(node, out):
    """Where each node starts and ends: what the edits splice by."""
    out.append((node.tag, node.start_mark.index, node.end_mark.index, node.start_mark.line))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            marks(key, out), marks(value, out)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            marks(item, out)
    return out


@settings(max_examples=300, deadline=None)
@given(ascii_documents, st.booleans(), st.sampled_from([None, "'", '"']), st.integers(2, 6))
def test_libyaml_locates_every_value_of_ascii_text_where_pyyaml_does(doc, flow, style, indent):
    text = "# a comment\n" + yaml.safe_dump(
        doc, default_flow_style=flow, default_style=style, indent=indent
    )
    fast = yaml.compose(text, Loader=yamlstrict.FAST_LOADER)
    pure = yaml.compose(text, Loader=yaml.SafeLoader)
    assert marks(fast, []) == marks(pure, [])
