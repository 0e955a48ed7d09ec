"""Settings, validation and plans: check_inventory over the shipped registry and group data.

Replaces the old test_validation.py and test_plan.py (their cases are carried over with the new key
names). Expected versions, paths and model sets are written by hand from the shipped registry and
sentinelcam-configs.md (§1 defaults, §2 layout, §3.3/§3.4 and §7: MobileNetSSD_allFrames names both
mobilenets on every sentinel, GetFaces always names face_detection, the edgetpu face detector only
on coral).
"""

from __future__ import annotations

import time

import pytest

from sentinelcam_models.core.plan import IMAGENODE, MIRROR, SENTINEL, pull_sources
from sentinelcam_models.core.problems import Refused
from sentinelcam_models.core.registry import parse_registry
from sentinelcam_models.core.validation import CheckedInventory, check_inventory
from tests.support.units import REGISTRY, host

SHIPPED = REGISTRY.read_text()
REG, REG_PROBLEMS = parse_registry(str(REGISTRY), SHIPPED)
DATA1 = host("data1", "datasinks")
INV = "inv.py"

M = "/home/ops/sentinel/models"
N = "/home/ops/imagenode/models"
CURRENT = {
    "mobilenet_ssd": "2020-12-06",
    "mobilenet_ssd_depthai": "2026-06-07",
    "mobilenet_ssd_edgetpu": "2025-12-19",
    "face_detection": "2020-03-25",
    "face_detection_edgetpu": "2025-12-19",
    "face_detection_blazeface": "2026-01-02",
    "face_recognition": "2026-02-02",
    "haarcascades": "2020-03-25",
    "openface_torch": "2020-03-25",
}
CPU_SENTINEL = {
    "mobilenet_ssd",
    "mobilenet_ssd_edgetpu",
    "face_detection",
    "face_recognition",
    "haarcascades",
    "openface_torch",
}


def check(*hosts, registry=REG, problems=()):
    return check_inventory(registry, list(problems), list(hosts), INV)


def ok(*hosts) -> CheckedInventory:
    result = check(*hosts)
    assert isinstance(result, CheckedInventory), [str(p) for p in result.problems]
    return result


def refused(*hosts) -> list[str]:
    result = check(*hosts)
    assert isinstance(result, Refused), "expected problems, got none"
    return [str(p) for p in result.problems]


def test_shipped_registry_has_no_problems():
    assert REG_PROBLEMS == []


# --- the old registry cases, through validation --------------------------------------------------

PYCORAL = "    wheel: pycoral-2.0.3-cp311-cp311-linux_aarch64.whl\n    sha256: null\n"
TFLITE = "    wheel: tflite_runtime-2.17.1-cp311-cp311-linux_aarch64.whl\n    sha256: null\n"
HAAR = '  haarcascades:\n    current_version: "2020-03-25"\n    previous_version: null\n'
MOBILENET = '  mobilenet_ssd:\n    current_version: "2020-12-06"\n    previous_version: null\n'


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (
            'current_version: "2026-02-02"',
            'current_version: "2025-02-30"',
            "face_recognition.current_version: '2025-02-30' is not a valid version",
        ),
        (
            'current_version: "2026-02-02"',
            'current_version: "2025-2-3"',
            "face_recognition.current_version: '2025-2-3' is not a valid version",
        ),
        (
            'current_version: "2026-02-02"',
            "current_version: 20250203",
            "face_recognition.current_version: 20250203 is not a version",
        ),
        (
            'current_version: "2026-02-02"',
            "current_version: latest",
            "face_recognition.current_version: 'latest' is not a valid version",
        ),
        (
            'current_version: "2026-02-02"',
            "current_version: 2026-02-02",
            "face_recognition.current_version: datetime.date(2026, 2, 2) is not a version",
        ),
        (
            'previous_version: "2025-02-25"',
            'previous_version: "2026-02-02"',
            "face_recognition.previous_version: equals current_version",
        ),
        (
            "  face_recognition:\n",
            "  Face-Recognition:\n",
            "sentinelcam_models.Face-Recognition: model names must match [a-z0-9_]+",
        ),
        (
            "short_range: face_detection_short_range_edgetpu.tflite",
            "short_range: ../../etc/passwd",
            "variants.short_range: '../../etc/passwd' is not a plain file name",
        ),
        (
            HAAR,
            HAAR
            + '  haarcascades:\n    current_version: "2021-01-01"\n    previous_version: null\n',
            "sentinelcam_models.haarcascades: duplicate key (first at line",
        ),
        (
            MOBILENET,
            '  mobilenet_ssd:\n    current_version: "2020-12-06"\n'
            '    current_version: "2020-12-07"\n    previous_version: null\n',
            "sentinelcam_models.mobilenet_ssd.current_version: duplicate key",
        ),
        (
            "    deb_package: libedgetpu1-std_16.0tf2.17.1-1.bookworm_arm64.deb\n",
            "",
            "coral_packages.libedgetpu.deb_package: missing",
        ),
        ('  tf_version: "2.17.1"\n', "", "coral_packages.tf_version: missing"),
        (
            TFLITE,
            TFLITE.replace("    sha256: null\n", ""),
            "coral_packages.tflite_runtime.sha256: missing",
        ),
        (
            PYCORAL,
            PYCORAL.replace("null", "B10BE118"),
            "coral_packages.pycoral.sha256: 'B10BE118' is not a sha256 digest",
        ),
        ("    dev_sha256: null\n", "", "coral_packages.libedgetpu.dev_sha256: missing"),
        ('    previous_version: "2025-02-25"\n', "", "face_recognition.previous_version: missing"),
    ],
)
def test_bad_registry_refuses_the_inventory_with_one_precise_line(old, new, expected):
    assert old in SHIPPED
    registry, problems = parse_registry("model_registry.yaml", SHIPPED.replace(old, new, 1))
    result = check(DATA1, host("s1", "sentinels"), registry=registry, problems=problems)
    assert isinstance(result, Refused)
    lines = [str(p) for p in result.problems]
    assert len(lines) == 1, lines
    assert expected in lines[0], lines
    assert lines[0].startswith("model_registry.yaml:")
    assert lines[0].split(":")[1].isdigit(), lines  # file:line


def test_no_registry_is_refused():
    result = check_inventory(None, [], [DATA1], INV)
    assert isinstance(result, Refused) and len(result.problems) == 1


# --- host data ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "groups, data, expected",
    [
        (
            ("sentinels",),
            {"model_version_overrides": {"no_such_model": "2025-01-01"}},
            "model_version_overrides.no_such_model: pins unknown model 'no_such_model'",
        ),
        (
            ("sentinels",),
            {"model_version_overrides": {"face_recognition": "2025-02-29"}},
            "model_version_overrides.face_recognition: '2025-02-29' is not a valid version",
        ),
        (
            ("outposts",),
            {"outpost_models": ["mobilenet_ssd", "yolo"]},
            "outpost_models: names unknown model 'yolo'",
        ),
        (
            ("outposts",),
            {"imagenode_accelerator_type": "tpu"},
            "imagenode_accelerator_type: 'tpu'",
        ),
        (
            ("sentinels",),
            {"sentinel_face_detection_model": "blazeface", "sentinel_blazeface_variant": "long"},
            "sentinel_blazeface_variant: 'long'",
        ),
        (
            ("sentinels",),
            {"sentinel_face_detection_model": "retinaface"},
            "sentinel_face_detection_model: 'retinaface'",
        ),
        (
            ("sentinels",),
            {"sentinel_models_path": "/home/ops/x; rm -rf /"},
            "sentinel_models_path: '/home/ops/x; rm -rf /' is not a safe absolute path",
        ),
        (
            ("sentinels",),
            {"sentinelcam_user": "root;id"},
            "sentinelcam_user: 'root;id' is not a valid user name",
        ),
        # wrong types
        (
            ("sentinels",),
            {"model_version_overrides": ["a"]},
            "model_version_overrides: must be a mapping",
        ),
        (("outposts",), {"outpost_models": 5}, "outpost_models: must be a list of model names"),
        (("sentinels",), {"sentinel_accelerator_type": 3}, "sentinel_accelerator_type: 3 "),
        (
            ("sentinels",),
            {"model_version_overrides": {"face_recognition": 20250101}},
            "model_version_overrides.face_recognition: 20250101 is not a version",
        ),
        (("sentinels",), {"ssh_port": 70000}, "ssh_port: 70000"),
        (("sentinels",), {"mobilenet_confidence": True}, "mobilenet_confidence: True"),
        (("sentinels",), {"node_model_retention": -1}, "node_model_retention: -1"),
        (("sentinels",), {"model_pull_concurrency": 0}, "model_pull_concurrency: 0"),
        (("sentinels",), {"model_pull_concurrency": "many"}, "model_pull_concurrency: 'many'"),
        (("sentinels",), {"faces_data_file": "facelist.csv"}, "faces_data_file: 'facelist.csv'"),
        (("sentinels",), {"verify_models": "shallow"}, "verify_models: 'shallow'"),
        (
            ("sentinels",),
            {"model_health_check": "check-model --quick"},
            "model_health_check: 'check-model --quick'",
        ),
        # models paths too broad for a directory the deploy cleans
        (("sentinels",), {"sentinel_models_path": "/"}, "sentinel_models_path: '/' is too broad"),
        (
            ("sentinels",),
            {"sentinel_models_path": "/home/ops"},
            "sentinel_models_path: '/home/ops' is too broad",
        ),
        (
            ("sentinels",),
            {"sentinel_models_path": "/home/ops/"},
            "sentinel_models_path: '/home/ops' is too broad",
        ),
        (
            ("sentinels",),
            {"sentinel_models_path": "/home/ops/sentinelcam"},
            "sentinel_models_path: '/home/ops/sentinelcam' is too broad",
        ),
        (
            ("outposts",),
            {"imagenode_models_path": "/home/ops/sentinelcam"},
            "imagenode_models_path: '/home/ops/sentinelcam' is too broad",
        ),
        (
            ("sentinels",),
            {"sentinelcam_model_registry": "/home/ops"},
            "sentinelcam_model_registry: '/home/ops' is too broad",
        ),
    ],
)
def test_bad_host_data_is_one_precise_line(groups, data, expected):
    lines = refused(DATA1, host("sentinel9", *groups, **data))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{INV}: host sentinel9: {expected}"), lines


@pytest.mark.parametrize("name", ["../x", "a b", "-x", "x\n"])
def test_invalid_host_names_are_refused(name):
    lines = refused(DATA1, host(name, "sentinels"))
    assert any(": name: " in line and "is not a valid host name" in line for line in lines), lines
    assert all("\n" not in line for line in lines)


def test_an_invalid_host_name_is_not_blamed_on_keys_the_operator_did_not_set():
    """One line per problem naming the key at fault: the name, not model_pull_address."""
    lines = refused(DATA1, host("../x", "sentinels"))
    assert len(lines) == 1, lines


def test_host_data_problems_from_the_inventory_are_reported_as_the_files_own_lines():
    bad = [
        "inventories/host_data/s9.yaml",
        3,
        "model_version_overrides",
        "duplicate key (first at line 1)",
    ]
    lines = refused(
        DATA1,
        host("s9", "sentinels", sentinelcam_host_data_problems=[bad]),
        host("s8", "sentinels", sentinelcam_host_data_problems=[bad]),
    )
    assert lines == [
        "inventories/host_data/s9.yaml:3: model_version_overrides: duplicate key (first at line 1)"
    ]


def test_ncs2_is_a_warning_not_a_problem():
    checked = ok(
        DATA1,
        host("s9", "sentinels", sentinel_accelerator_type="ncs2"),
        host("o9", "outposts", imagenode_accelerator_type="ncs2"),
    )
    warned = sorted((w.host, w.key) for w in checked.warnings)
    assert warned == [("o9", "imagenode_accelerator_type"), ("s9", "sentinel_accelerator_type")]
    assert all("deprecated" in w.message for w in checked.warnings)
    # it keeps working: an ncs2 sentinel gets the cpu sentinel's models
    assert set(checked.plans["s9"].models) == CPU_SENTINEL


def test_ncs2_on_a_role_the_host_does_not_have_warns_nothing():
    checked = ok(DATA1, host("o9", "outposts", sentinel_accelerator_type="ncs2"))
    assert checked.warnings == ()


def test_coral_blazeface_sentinel_needs_a_variant_the_registry_lists():
    # the shipped registry lists only short_range; the default variant is full
    lines = refused(DATA1, host("s7", "sentinels", sentinel_face_detection_model="blazeface"))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{INV}: host s7: sentinel_blazeface_variant: 'full'")
    assert "full_range" in lines[0] and "face_detection_blazeface" in lines[0]


def test_variant_matters_only_on_coral_blazeface_sentinels():
    ok(
        DATA1,
        host(
            "s1",
            "sentinels",
            sentinel_accelerator_type="cpu",
            sentinel_face_detection_model="blazeface",
        ),
        host("o1", "outposts", sentinel_face_detection_model="blazeface"),
    )


def test_shared_fault_is_reported_once_naming_all_hosts():
    hosts = [host(f"s{i}", "sentinels", sentinel_accelerator_type="tpu") for i in range(3)]
    lines = refused(*hosts, DATA1)
    assert lines == [
        f"{INV}: host s0, s1, s2: sentinel_accelerator_type: 'tpu' is not one of coral, cpu, "
        "none, ncs2"
    ]


def test_shared_warning_is_reported_once_naming_all_hosts():
    hosts = [host(f"s{i}", "sentinels", sentinel_accelerator_type="ncs2") for i in range(3)]
    checked = ok(*hosts, DATA1)
    assert [(w.host, w.key) for w in checked.warnings] == [
        ("s0, s1, s2", "sentinel_accelerator_type")
    ]


def test_all_host_problems_are_reported_not_only_the_first():
    lines = refused(
        DATA1,
        host("east", "outposts", outpost_models=["nope"]),
        host("s1", "sentinels", sentinel_accelerator_type="tpu", node_model_retention="x"),
    )
    assert len(lines) == 3, lines


def test_primary_datasink_must_be_a_datasink():
    lines = refused(host("data1", "datasinks", primary_datasink="data9"))
    assert lines == [f"{INV}: primary_datasink: 'data9' is not a host in group datasinks"]


def test_no_datasink_at_all_is_refused():
    lines = refused(host("s1", "sentinels"))
    assert lines == [f"{INV}: primary_datasink: 'data1' is not a host in group datasinks"]


def test_hosts_must_agree_on_the_primary():
    lines = refused(
        DATA1, host("data2", "datasinks"), host("s1", "sentinels", primary_datasink="data2")
    )
    assert f"{INV}: primary_datasink: hosts disagree on the primary datasink: data1, data2" in lines


def test_model_registry_host_must_be_a_datasink():
    lines = refused(
        DATA1, host("s1", "sentinels", model_registry_host="s2"), host("s2", "sentinels")
    )
    assert lines == [
        f"{INV}: host s1: model_registry_host: 's2' is not a host in group datasinks (the "
        "datasink this host pulls from)"
    ]


def test_a_datasink_pulls_from_the_primary_not_a_mirror():
    lines = refused(
        DATA1, host("data2", "datasinks"), host("data3", "datasinks", model_registry_host="data2")
    )
    assert len(lines) == 1
    assert lines[0].startswith(f"{INV}: host data3: model_registry_host: ")


def test_pin_naming_unknown_model_blocks_the_plan():
    result = check(DATA1, host("s", "sentinels", model_version_overrides={"yolo": "2025-01-01"}))
    assert isinstance(result, Refused)
    assert [str(p) for p in result.problems] == [
        f"{INV}: host s: model_version_overrides.yolo: pins unknown model 'yolo' (not in the "
        "registry)"
    ]


def test_sentinel_whose_task_files_name_a_model_the_registry_lacks():
    body = "".join(
        f'  model_{i:03d}:\n    current_version: "2025-{1 + i % 12:02d}-{1 + i % 28:02d}"\n'
        "    previous_version: null\n"
        for i in range(200)
    )
    text = "sentinelcam_models:\n" + body + SHIPPED[SHIPPED.index("coral_packages:") :]
    registry, problems = parse_registry("big.yaml", text)
    assert problems == [] and len(registry.models) == 200
    hosts = [host(f"s{i}", "sentinels") for i in range(50)] + [DATA1]
    start = time.perf_counter()
    result = check(*hosts, registry=registry)
    print(
        f"200-model registry + 50 hosts validated in {(time.perf_counter() - start) * 1e3:.1f} ms"
    )
    assert isinstance(result, Refused)
    lines = [str(p) for p in result.problems]
    # a coral sentinel's task files name 7 models; each is one line naming all 50 sentinels
    assert len(lines) == 7, lines
    everyone = ", ".join(f"s{i}" for i in range(50))
    assert all(line.startswith(f"{INV}: host {everyone}: sentinelcam_models: ") for line in lines)
    assert any("'face_detection_edgetpu'" in line for line in lines)


# --- settings: defaults and derived paths ---------------------------------------------------------


def test_defaults_and_derived_paths_for_the_default_user():
    s = ok(DATA1, host("s1", "sentinels")).settings["s1"]
    assert (s.user, s.group, s.primary_datasink, s.source) == ("ops", "ops", "data1", "data1")
    assert s.sentinel_accelerator == "coral" and s.face_detection_model == "ssd_mobilenet"
    assert s.blazeface_variant == "full" and s.store_retention == 5 and s.node_retention == 2
    assert s.pull_concurrency is None  # "auto"
    assert s.path("sentinelcam_data_path") == "/home/ops/sentinelcam"
    assert s.path("sentinelcam_model_registry") == "/home/ops/sentinelcam/model_registry"
    assert s.path("sentinel_models_path") == M
    assert s.path("imagenode_models_path") == N
    assert s.path("sentinel_venv_path") == "/home/ops/.opencv"


def test_derived_paths_follow_sentinelcam_user():
    checked = ok(
        DATA1,
        host("s1", "sentinels", sentinelcam_user="pi", sentinel_accelerator_type="cpu"),
        host("o1", "outposts", sentinelcam_user="pi"),
        host("data2", "datasinks", sentinelcam_user="pi"),
    )
    s = checked.settings["s1"]
    assert s.user == "pi"
    assert s.path("sentinelcam_data_path") == "/home/pi/sentinelcam"
    assert s.path("sentinelcam_model_registry") == "/home/pi/sentinelcam/model_registry"
    assert s.path("sentinel_install_path") == "/home/pi/sentinel"
    assert s.path("sentinel_config_path") == "/home/pi/sentinel.yaml"
    assert s.path("sentinel_models_path") == "/home/pi/sentinel/models"
    assert s.path("imagenode_models_path") == "/home/pi/imagenode/models"
    assert s.path("sentinel_venv_path") == "/home/pi/.opencv"
    fr = checked.plans["s1"].placement("face_recognition")
    assert fr.path == "/home/pi/sentinel/models/face_recognition/2026-02-02"
    ssd = checked.plans["o1"].placement("mobilenet_ssd")
    assert ssd.path == "/home/pi/imagenode/models/mobilenet_ssd/2020-12-06"
    facelist = checked.plans["data2"].facelist
    assert facelist.csv == "/home/pi/sentinelcam/face_recognition/facelist_2026-02-02.csv"


def test_derived_paths_follow_an_overridden_path():
    s = ok(
        DATA1,
        host(
            "s1",
            "sentinels",
            sentinelcam_data_path="/srv/sentinelcam/",
            sentinel_install_path="/opt/sentinel",
        ),
    ).settings["s1"]
    assert s.path("sentinelcam_data_path") == "/srv/sentinelcam"
    assert s.path("sentinelcam_model_registry") == "/srv/sentinelcam/model_registry"
    assert s.path("coral_staging_path") == "/srv/sentinelcam/coral_packages"
    assert s.path("sentinel_models_path") == "/opt/sentinel/models"
    assert s.path("sentinel_config_path") == "/home/ops/sentinel.yaml"


# --- plans ----------------------------------------------------------------------------------------


def placements(plan, role=SENTINEL, root=M):
    return {(p.model, p.version, p.path) for p in plan.for_role(role)} | (
        set() if all(p.models_path == root for p in plan.for_role(role)) else {"WRONG ROOT"}
    )


def expected(models, root=M, **versions):
    found = set()
    for model in models:
        version = versions.get(model, CURRENT[model])
        found.add((model, version, f"{root}/{model}/{version}"))
    return found


def test_cpu_sentinel_gets_the_models_its_task_files_name():
    checked = ok(DATA1, host("sentinel1", "sentinels", sentinel_accelerator_type="cpu"))
    plan = checked.plans["sentinel1"]
    assert placements(plan) == expected(CPU_SENTINEL)
    assert set(plan.models) == CPU_SENTINEL
    fr = plan.placement("face_recognition")
    assert (fr.version, fr.pinned, fr.role) == ("2026-02-02", False, SENTINEL)
    assert fr.path == "/home/ops/sentinel/models/face_recognition/2026-02-02"
    assert fr.node_owned == ("facelist.csv", "facedata.hdf5")
    assert plan.services == ("sentinel",)
    assert plan.facelist is None and plan.source == "data1"


def test_coral_sentinel_also_gets_the_edgetpu_face_detector():
    plan = ok(DATA1, host("s", "sentinels")).plans["s"]  # coral + ssd_mobilenet by default
    assert placements(plan) == expected(CPU_SENTINEL | {"face_detection_edgetpu"})


def test_coral_blazeface_sentinel_gets_blazeface_instead():
    plan = ok(
        DATA1,
        host(
            "s",
            "sentinels",
            sentinel_face_detection_model="blazeface",
            sentinel_blazeface_variant="short",
        ),
    ).plans["s"]
    assert placements(plan) == expected(CPU_SENTINEL | {"face_detection_blazeface"})
    assert plan.placement("face_detection_edgetpu") is None


def test_outposts_get_exactly_outpost_models():
    checked = ok(
        DATA1,
        host("east", "outposts"),
        host("alpha5", "outposts", outpost_models=["mobilenet_ssd", "face_detection"]),
        host("oak", "outposts", outpost_models=["mobilenet_ssd_depthai"]),
    )
    east = checked.plans["east"]
    assert placements(east, IMAGENODE, N) == expected({"mobilenet_ssd"}, N)
    assert east.placement("mobilenet_ssd").path == (
        "/home/ops/imagenode/models/mobilenet_ssd/2020-12-06"
    )
    assert east.placement("mobilenet_ssd").node_owned == ()
    assert east.services == ("imagenode",)
    assert placements(checked.plans["alpha5"], IMAGENODE, N) == expected(
        {"mobilenet_ssd", "face_detection"}, N
    )
    assert checked.plans["oak"].models == ("mobilenet_ssd_depthai",)
    assert checked.plans["oak"].placements[0].version == "2026-06-07"


def test_host_in_two_groups_gets_both_roles_paths():
    plan = ok(DATA1, host("both", "sentinels", "outposts")).plans["both"]
    assert plan.placement("mobilenet_ssd", SENTINEL).path == f"{M}/mobilenet_ssd/2020-12-06"
    assert plan.placement("mobilenet_ssd", IMAGENODE).path == f"{N}/mobilenet_ssd/2020-12-06"
    assert plan.services == ("sentinel", "imagenode")


def test_non_primary_datasink_gets_the_versioned_facelist():
    checked = ok(
        DATA1,
        host("data2", "datasinks"),
        host("data3", "datasinks", model_version_overrides={"face_recognition": "2025-02-25"}),
    )
    primary, other = checked.plans["data1"], checked.plans["data2"]
    assert primary.facelist is None and primary.placements == () and primary.services == ()
    assert other.facelist.version == "2026-02-02"
    assert other.facelist.directory == "/home/ops/sentinelcam/face_recognition"
    assert other.facelist.csv == "/home/ops/sentinelcam/face_recognition/facelist_2026-02-02.csv"
    assert other.facelist.hdf5 == "/home/ops/sentinelcam/face_recognition/facedata_2026-02-02.hdf5"
    assert other.facelist.current_link == (
        "/home/ops/sentinelcam/face_recognition/facelist_current.csv"
    )
    assert other.services == ("datapump",) and other.uses("face_recognition")
    assert other.wanted == ("face_recognition/2026-02-02",)
    assert checked.plans["data3"].facelist.version == "2025-02-25"


def test_trainers_get_nothing():
    plan = ok(DATA1, host("deepthink", "ml_trainers")).plans["deepthink"]
    assert plan.placements == () and plan.facelist is None and plan.services == ()


def test_pin_overrides_the_current_version_for_that_host_only():
    checked = ok(
        DATA1,
        host("s1", "sentinels", model_version_overrides={"face_recognition": "2025-02-25"}),
        host("s2", "sentinels"),
    )
    pinned, other = checked.plans["s1"], checked.plans["s2"]
    assert pinned.placement("face_recognition").version == "2025-02-25"
    assert pinned.placement("face_recognition").pinned is True
    assert pinned.placement("face_recognition").path == f"{M}/face_recognition/2025-02-25"
    assert other.placement("face_recognition").version == "2026-02-02"
    assert pinned.placement("haarcascades").pinned is False
    assert checked.users_of("face_recognition") == ["s1", "s2"]
    assert checked.users_of("face_recognition", unpinned_only=True) == ["s2"]


def test_a_pin_of_a_model_the_host_does_not_use_places_nothing():
    plan = ok(
        DATA1, host("o1", "outposts", model_version_overrides={"face_recognition": "2025-02-25"})
    ).plans["o1"]
    assert plan.models == ("mobilenet_ssd",)


def test_mirror_holds_every_version_its_clients_need():
    checked = ok(
        DATA1,
        host("data2", "datasinks"),
        host(
            "o3",
            "outposts",
            model_registry_host="data2",
            model_version_overrides={"mobilenet_ssd": "2019-01-01"},
        ),
        host("o4", "outposts", model_registry_host="data2"),
        host(
            "s3",
            "sentinels",
            sentinel_accelerator_type="cpu",
            model_registry_host="data2",
            model_version_overrides={"face_recognition": "2025-02-25"},
        ),
        host("s4", "sentinels"),  # pulls from the primary: not the mirror's business
    )
    mirror = checked.plans["data2"]
    store = "/home/ops/sentinelcam/model_registry"
    assert {(p.model, p.version, p.path) for p in mirror.for_role(MIRROR)} == {
        ("mobilenet_ssd", "2019-01-01", f"{store}/mobilenet_ssd/2019-01-01"),
        ("mobilenet_ssd", "2020-12-06", f"{store}/mobilenet_ssd/2020-12-06"),
        ("mobilenet_ssd_edgetpu", "2025-12-19", f"{store}/mobilenet_ssd_edgetpu/2025-12-19"),
        ("face_detection", "2020-03-25", f"{store}/face_detection/2020-03-25"),
        ("face_recognition", "2025-02-25", f"{store}/face_recognition/2025-02-25"),
        ("haarcascades", "2020-03-25", f"{store}/haarcascades/2020-03-25"),
        ("openface_torch", "2020-03-25", f"{store}/openface_torch/2020-03-25"),
    }
    assert all(p.node_owned == () for p in mirror.for_role(MIRROR))
    # the mirror still serves its own datapump's face list
    assert mirror.facelist.version == "2026-02-02" and mirror.services == ("datapump",)
    # the clients pull from the mirror, at their own paths
    assert checked.plans["o3"].source == "data2"
    assert checked.plans["o3"].placement("mobilenet_ssd").path == f"{N}/mobilenet_ssd/2019-01-01"
    assert checked.plans["s4"].source == "data1"
    # the deploy fills the mirror's store before any node pulls; nodes pull into their own paths
    assert mirror.pull_roots() == ((store,), ())
    assert checked.plans["o3"].pull_roots() == ((), (N,))


def test_pull_sources():
    checked = ok(
        DATA1,
        host("data2", "datasinks"),
        host("cpu_m", "sentinels", sentinel_accelerator_type="cpu", model_registry_host="data2"),
        host("coral_m", "sentinels", model_registry_host="data2"),
        host("coral_p", "sentinels"),
        host("o1", "outposts"),
        host("deepthink", "ml_trainers"),
    )

    def sources(name):
        return pull_sources(checked.settings[name], checked.plans[name], checked.primary)

    assert checked.primary == "data1"
    assert sources("cpu_m") == ("data2",)
    assert sources("coral_m") == ("data2", "data1")  # the Coral runtime comes from the primary
    assert sources("coral_p") == ("data1",)
    assert sources("o1") == ("data1",)
    assert sources("data2") == ("data1",)  # a mirror fills its store from the primary
    assert sources("data1") == ()
    assert sources("deepthink") == ()
