"""core/modelfiles/: each model file is checked against the format its loader expects.

Valid files come from devfleet.modelgen (written to each format's published layout: protobuf
wire format, torch.save's Torch7 layout, the TFLite FlatBuffer schema, HDF5 superblock v0);
the faults are the ones the issue names: truncation, the wrong format under a model's name, a
CPU model in an EdgeTPU slot, a pickle that would run code.
"""

from __future__ import annotations

import io
import pickle
import sys
import tarfile
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devfleet import modelgen
from sentinelcam_models.core import catalog, modelfiles
from sentinelcam_models.core.modelfiles import check_bytes
from tests.support.models import valid

HTML = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head></html>\n"


def test_every_file_the_catalog_names_has_a_format():
    names = [name for spec in catalog.CATALOG.values() for name in spec.files]
    names += [
        "face_detection_short_range_edgetpu.tflite",
        "face_detection_full_range_edgetpu.tflite",
    ]
    assert [n for n in names if modelfiles.file_format(n) is None] == []
    assert modelfiles.file_format("face_detection_short_range_edgetpu.tflite") == (
        modelfiles.TFLITE_EDGETPU
    )


@pytest.mark.parametrize(
    "name",
    [
        "MobileNetSSD_deploy.prototxt",
        "MobileNetSSD_deploy.caffemodel",
        "ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite",
        "coco_labels.txt",
        "mobilenet-ssd-300x300.rvc2.tar.xz",
        "openface_nn4.small2.v1.t7",
        "facemodel.pickle",
        "facelist.csv",
        "haarcascade_eye.xml",
        "cpu_model.tflite",
    ],
)
def test_valid_files_pass_and_their_first_half_does_not(name):
    data = valid(name, size=8192)
    assert check_bytes(name, data) is None
    half = check_bytes(name, data[: len(data) // 2])
    if name.endswith((".prototxt", ".txt", ".csv")):
        return  # half a text file is still text (prototxt: its padding comments)
    assert half is not None and half.startswith(f"{name}: not a valid "), half


@pytest.mark.parametrize(
    "name",
    ["a.caffemodel", "a.t7", "a_edgetpu.tflite", "a.hdf5", "a.pickle", "a.tar.xz", "a.xml"],
)
def test_an_html_error_page_is_no_model(name):
    fault = check_bytes(name, HTML)
    assert fault is not None and fault.startswith(f"{name}: not a valid "), fault
    assert "\n" not in fault


def test_html_as_labels_or_face_list_is_refused():
    assert "an HTML page" in check_bytes("coco_labels.txt", HTML)
    assert "an HTML page" in check_bytes("facelist.csv", HTML)
    assert "the header lacks" in check_bytes("facelist.csv", b"name,uuid,status\nbob,1,2\n")


def test_a_cpu_tflite_in_an_edgetpu_slot_and_the_reverse():
    cpu, tpu = modelgen.tflite(False, 4096), modelgen.tflite(True, 4096)
    assert "no edgetpu-custom-op: a CPU model" in check_bytes("x_edgetpu.tflite", cpu)
    assert "an EdgeTPU model in a CPU slot" in check_bytes("x.tflite", tpu)
    assert "no TFL3" in check_bytes("x_edgetpu.tflite", b"\0" * 64)


def test_truncation_anywhere_in_a_flatbuffer_or_torch7_file_is_found():
    tpu = modelgen.tflite(True, 3000)
    assert all(check_bytes("x_edgetpu.tflite", tpu[:n]) for n in range(len(tpu)))
    t7 = modelgen.torch7(2000)
    assert all(check_bytes("x.t7", t7[:n]) for n in range(len(t7)))


def test_hdf5_truncated_below_its_end_of_file_address():
    data = modelgen.hdf5_stub(4096)
    assert check_bytes("a.hdf5", data) is None
    assert check_bytes("a.hdf5", data + b"more") is None  # bigger than the address is fine
    assert "says 4096 bytes, the file has 4000 (truncated)" in check_bytes("a.hdf5", data[:4000])
    assert check_bytes("a.hdf5", bytes(512) + data) is None  # after a 512-byte user block


def test_caffemodel_needs_layers_with_names_and_weights():
    assert "no layers" in check_bytes("a.caffemodel", b"\x0a\x04tiny")
    nameless = b"\xa2\x06\x04\x12\x02ab"  # field 100 holding only a type
    assert "has no name" in check_bytes("a.caffemodel", nameless)


def test_prototxt_needs_layers_an_input_and_balanced_braces():
    assert "unclosed" in check_bytes("a.prototxt", b'input: "data"\nlayer { name: "a"\n')
    assert "no layer" in check_bytes("a.prototxt", b'input: "data"\n')
    assert "names no input" in check_bytes("a.prototxt", b'layer { name: "a" type: "ReLU" }\n')
    assert check_bytes("a.prototxt", b'layer { name: "d" type: "Input" } # }}\n') is None


def test_pickle_globals_are_limited_to_what_the_trainer_writes(monkeypatch):
    # Real protocol 4/5 pickles name classes with STACK_GLOBAL and memoized strings.
    sklearn = types.ModuleType("sklearn")
    svm = types.ModuleType("sklearn.svm")

    class SVC:
        pass

    SVC.__module__, SVC.__qualname__ = "sklearn.svm", "SVC"
    svm.SVC = SVC
    monkeypatch.setitem(sys.modules, "sklearn", sklearn)
    monkeypatch.setitem(sys.modules, "sklearn.svm", svm)
    for protocol in (2, 4, 5):
        data = pickle.dumps({"svm": SVC(), "labels": [SVC(), SVC()]}, protocol=protocol)
        assert check_bytes("facemodel.pickle", data) is None, protocol
    evil = b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94."
    assert "refers to os.system" in check_bytes("facemodel.pickle", evil)
    assert "refers to builtins.eval" in check_bytes(
        "facemodel.pickle", b"cbuiltins\neval\n(S'1'\ntR."
    )
    for name in (
        "numpy\nload",
        "numpy.testing._private.utils\nrunstring",
        "sklearn.utils\nresample",
    ):
        data = f"c{name}\n(S'x'\ntR.".encode()
        assert "refers to " + name.replace("\n", ".") in check_bytes("facemodel.pickle", data)
    assert "before seeing STOP" in check_bytes("facemodel.pickle", pickle.dumps([1, 2])[:-1])
    assert "bytes after the pickle's STOP" in check_bytes(
        "facemodel.pickle", pickle.dumps([1]) + b"junk"
    )


def test_torch7_refuses_lua_functions_and_foreign_classes():
    def ints(*values: int) -> bytes:
        return b"".join(v.to_bytes(4, "little") for v in values)

    sequential = ints(4, 1, 3) + b"V 1" + ints(13) + b"nn.Sequential"
    function = sequential + ints(3, 2, 1) + ints(2, 1) + b"f" + ints(6, 9)
    assert "object type 6" in check_bytes("a.t7", function)
    assert "does not start with a Torch object" in check_bytes("a.t7", ints(6, 1))
    foreign = io.BytesIO(ints(4, 1, 3) + b"V 1" + ints(6) + b"os.run")
    assert "an object of class 'os.run'" in check_bytes("a.t7", foreign.getvalue())


def test_cascade_xml_needs_opencv_storage_and_no_doctype():
    assert "not opencv_storage" in check_bytes("a.xml", b"<?xml version='1.0'?><html/>")
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><opencv_storage/>'
    assert "DOCTYPE" in check_bytes("a.xml", bomb)
    assert "no cascade" in check_bytes("a.xml", b"<opencv_storage><x/></opencv_storage>")
    assert "XML error" in check_bytes(
        "a.xml", modelgen.STDLIB_TEMPLATES["haarcascade_eye.xml"][:90]
    )


def test_nn_archive_needs_its_config_and_blob():
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:xz") as archive:
        info = tarfile.TarInfo("config.json")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"{}"))
    assert "no .blob" in check_bytes("a.tar.xz", out.getvalue())
    assert "not xz-compressed" in check_bytes("a.tar.xz", b"\x1f\x8b" + bytes(100))


FUZZED = ["a.caffemodel", "a.prototxt", "a_edgetpu.tflite", "a.hdf5", "a.pickle", "a.t7"]
FUZZED += ["a.xml", "a.tar.xz", "labels.txt", "facelist.csv"]


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(FUZZED),
    data=st.binary(max_size=600),
)
def test_any_bytes_give_none_or_one_line_never_an_exception(name, data):
    fault = check_bytes(name, data)
    assert fault is None or (fault.startswith(f"{name}: not a valid ") and "\n" not in fault)
