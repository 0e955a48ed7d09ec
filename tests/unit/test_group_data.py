"""inventories/group_data/*.py restate the defaults of sentinelcam_models.core.settings: they agree.

Operators read the group data; the tool reads settings.DEFAULTS. Path defaults are not restated:
they derive from sentinelcam_user (settings.DERIVED), so all.py must not pin any of them.
"""

from __future__ import annotations

import pytest

from sentinelcam_models.core import settings
from tests.support.units import ALL_DATA, OUTPOST_DATA, ROOT


@pytest.mark.parametrize("key", sorted(settings.DEFAULTS))
def test_every_default_is_restated_in_all_py_with_the_same_value(key):
    assert key in ALL_DATA, f"all.py does not set {key}"
    value, default = ALL_DATA[key], settings.DEFAULTS[key]
    assert value == default and type(value) is type(default), (key, value, default)


@pytest.mark.parametrize("key", sorted(settings.OUTPOST_DEFAULTS))
def test_every_outpost_default_is_restated_in_outposts_py(key):
    assert OUTPOST_DATA.get(key) == settings.OUTPOST_DEFAULTS[key]


def test_outposts_py_sets_only_outpost_defaults():
    assert set(OUTPOST_DATA) == set(settings.OUTPOST_DEFAULTS)


def test_all_py_sets_no_derived_path():
    derived = {key for key, _ in settings.DERIVED}
    assert derived & set(ALL_DATA) == set()
    assert derived & set(OUTPOST_DATA) == set()


def test_all_py_sets_nothing_but_defaults_and_the_registry_location():
    extra = set(ALL_DATA) - set(settings.DEFAULTS)
    assert extra == {"model_registry_file"}
    assert ALL_DATA["model_registry_file"].endswith("/inventories/group_data/model_registry.yaml")


def test_the_original_defaults():
    """sentinelcam-configs.md §1 and original-implementation.md, by hand."""
    expected = {
        "primary_datasink": "data1",
        "sentinelcam_user": "ops",
        "sentinelcam_group": "ops",
        "sentinelcam_model_retention": 5,
        "sentinel_accelerator_type": "coral",
        "imagenode_accelerator_type": "none",
        "sentinel_face_detection_model": "ssd_mobilenet",
        "sentinel_blazeface_variant": "full",
        "face_detection_confidence": {
            "cpu": 0.5,
            "ncs2": 0.5,
            "ssd_mobilenet": 0.5,
            "blazeface": 0.5,
        },
        "mobilenet_confidence": 0.5,
        "model_version_overrides": {},
    }
    assert {key: settings.DEFAULTS[key] for key in expected} == expected
    assert settings.OUTPOST_DEFAULTS["outpost_models"] == ["mobilenet_ssd"]
    derived = dict(settings.DERIVED)
    assert derived["sentinelcam_data_path"] == "/home/{sentinelcam_user}/sentinelcam"
    assert derived["sentinelcam_model_registry"] == "{sentinelcam_data_path}/model_registry"
    assert derived["sentinel_models_path"] == "{sentinel_install_path}/models"
    assert derived["imagenode_models_path"] == "{imagenode_install_path}/models"


def test_the_readme_settings_table_is_the_declaration():
    """README.md's host settings table is settings.settings_table(), row for row."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = settings.settings_table()
    assert "\n".join(table) in readme, "\n".join(table)


def test_a_declared_kind_parses_what_the_declaration_says():
    """Bad values of declared keys are one problem each naming the key; the default stands in."""
    from sentinelcam_models.core.settings import parse_host  # noqa: PLC0415
    from tests.support.units import registry  # noqa: PLC0415

    data = {
        **ALL_DATA,
        "model_pull_tries": 0,
        "face_state": "keep",
        "mobilenet_confidence": 2,
        "model_pull_concurrency": "auto",
    }
    settings_, problems, _ = parse_host("s1", ("sentinels",), data, registry())
    assert settings_ is None
    assert dict(problems) == {
        "model_pull_tries": "0 must be a whole number from 1 to 100",
        "face_state": "'keep' is not one of store, carry",
        "mobilenet_confidence": "2 must be a number from 0 to 1",
    }
    ok, problems, _ = parse_host(
        "s1", ("sentinels",), {**ALL_DATA, "model_pull_concurrency": 7}, registry()
    )
    assert problems == [] and ok is not None and ok.pull_concurrency == 7 and ok.pull_tries == 6
