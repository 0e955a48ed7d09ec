"""The catalog is the one place that names a model's files: configs name keys, the catalog's
``feeds`` says which file each key holds (sentinelcam-configs.md §2, §3)."""

from __future__ import annotations

import pytest

from sentinelcam_models.core import catalog


@pytest.mark.parametrize(
    "model, config, key, expected",
    [
        # the spec's key -> file table (§3.3-3.7, §3.11)
        (
            "face_detection",
            "GetFaces.yaml",
            "face_detection.model_path",
            "res10_300x300_ssd_iter_140000.caffemodel",
        ),
        (
            "openface_torch",
            "FaceDataUpdate.yaml",
            "face_embeddings.model_path",
            "openface_nn4.small2.v1.t7",
        ),
        ("face_recognition", "FaceSweep.yaml", "facefile", "facelist.csv"),
        ("face_recognition", "datapump.yaml", "facefile", "facelist.csv"),
        (
            "mobilenet_ssd_depthai",
            "imagenode.yaml",
            "cameras.*.detectors.outpost.depthai.nn_archive",
            "mobilenet-ssd-300x300.rvc2.tar.xz",
        ),
    ],
)
def test_a_config_key_names_the_file_the_spec_gives(model, config, key, expected):
    assert catalog.file_feeding(model, config, key) == expected


def test_a_key_no_file_feeds_is_an_error_not_a_guess():
    with pytest.raises(KeyError, match=r"no haarcascades file for GetFaces\.yaml: facefile"):
        catalog.file_feeding("haarcascades", "GetFaces.yaml", "facefile")


def test_every_file_a_key_names_is_a_file_of_its_model():
    for spec in catalog.CATALOG.values():
        for name in spec.feeds:
            assert name in spec.files or (spec.variant_files and name == "<variant>"), name
