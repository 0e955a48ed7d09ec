"""The local fleet's nodes look like nodes the real Ansible roles configured (no root, no fleet).

The expected documents below are written from sentinelcam-configs.md (§1.5-§1.8 role defaults and
host_vars, §3.1 and §3.8-§3.12 key tables), not from devfleet/provision.py, so a drift of the
provisioned files from the real services' contract fails here. prepare_node() runs against a
temporary directory standing in for a node's overlay, with chown recorded instead of done.
"""

from __future__ import annotations

import ast
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devfleet import fleet as fleet_mod
from devfleet import provision
from sentinelcam_models.core import modelfiles
from tests.support.models import valid

SENTINEL_TASKS = "/home/ops/sentinel/tasks"

# §3.1, with the §1.5 role defaults and the §1.2 ports; Alpha's accelerator is the parameter.
EXPECTED_SENTINEL = {
    "control_port": 5566,
    "logging_port": 5565,
    "default_pump": "tcp://data1:5556",
    "socket_dir": "/home/ops/sentinel/sockets",
    "ring_buffer_models": {
        "default": {"vga": "((640, 480), 5)", "sd": "((640, 360), 5)", "hd": "((768, 432), 5)"},
    },
    "task_engines": {
        "Alpha": {"classes": [1], "ring_buffers": "default", "accelerator": "cpu"},
        "Bravo1": {"classes": [2], "ring_buffers": "default", "accelerator": "cpu"},
        "Bravo2": {"classes": [2, 3], "ring_buffers": "default", "accelerator": "cpu"},
    },
    "task_list": {
        "MobileNetSSD_allFrames": {
            "config": f"{SENTINEL_TASKS}/MobileNetSSD_allFrames.yaml",
            "chain": "GetFaces",
            "class": 1,
        },
        "GetFaces": {
            "config": f"{SENTINEL_TASKS}/GetFaces.yaml",
            "chain": "FaceRecon",
            "class": 1,
            "trk_type": "obj",
            "ringctrl": "full",
        },
        "FaceRecon": {
            "config": f"{SENTINEL_TASKS}/FaceRecon.yaml",
            "class": 2,
            "trk_type": "fd1",
            "ringctrl": "trk",
        },
        "FaceSweep": {"config": f"{SENTINEL_TASKS}/FaceSweep.yaml", "class": 2},
        "FaceDataUpdate": {"config": f"{SENTINEL_TASKS}/FaceDataUpdate.yaml", "class": 2},
        "GetFaces2": {
            "alias": "GetFaces",
            "config": f"{SENTINEL_TASKS}/GetFaces.yaml",
            "chain": "FaceRecon",
            "class": 1,
        },
        "VehicleSpeed": {"config": f"{SENTINEL_TASKS}/VehicleSpeed.yaml", "class": 2},
        "DailyCleanup": {"config": f"{SENTINEL_TASKS}/DailyCleanup.yaml", "class": 3},
        "MeasureRingLatency": {"config": f"{SENTINEL_TASKS}/MeasureRingLatency.yaml", "class": 1},
    },
    "health": {
        "startup_allowance": 3.0,
        "low_rate_threshold": 8.0,
        "min_rate_frames": 20,
        "strike_limit": 3,
        "fail_strike_limit": 5,
        "job_runtime_limit": 900,
        "restart_cooldown": 300,
        "max_auto_restarts": 10,
        "restart_window_hours": 6,
    },
    "maintenance": {
        "retention_hours": 48,
        "state_file": "/home/ops/sentinel/state.json",
        "checkpoint_interval": 50,
    },
    "shutdown": {"drain_timeout": 60},
    "logconfig": {
        "version": 1,
        "handlers": {
            "zmq": {
                "class": "zmq.log.handlers.PUBHandler",
                "interface_or_socket": "tcp://*:5565",
                "root_topic": "Sentinel",
                "level": "INFO",
            }
        },
        "root": {"handlers": ["zmq"], "level": "INFO"},
    },
}

# §3.8: every value constant.
EXPECTED_VEHICLE_SPEED = {
    "refkey": "vsp",
    "camwatcher_update": True,
    "vehicle_classes": ["car", "bus", "motorbike", "train"],
    "markers_x": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "marker_y": 0.5,
    "marker_y_tolerance": 0.15,
    "street_length_meters": 21.6,
    "camera_distance_meters": 17.5,
    "viewport_width_meters": 27.0,
    "min_markers": 2,
    "speed_limit_mph": 25,
    "speed_tolerance_mph": 5,
    "centroid_max_distance": 50,
    "min_detection_confidence": 0.5,
    "track_both_directions": True,
    "speed_calibration_factor": 0.89,
}

# §3.9 with the sentinel_cleanup_* role defaults (scene keys are null, so not rendered).
EXPECTED_DAILY_CLEANUP = {
    "run_deletes": True,
    "max_scan_days": 14,
    "retention_profiles": {
        "person_tracking": {
            "strategy": "face_quality",
            "retention_days": 2,
            "min_face_ratio": 0.15,
            "confidence_threshold": 0.975,
            "nodes": ["lab1", "alpha5"],
        },
        "vehicle_tracking": {
            "strategy": "vehicle_interest",
            "retention_days": 1,
            "speed_cutoff": 45.0,
            "extended_days": 2,
            "nodes": ["east"],
        },
        "archive_all": {"strategy": "never_delete", "nodes": []},
        "default": {"strategy": "minimal_retention", "retention_days": 7},
    },
}

# §3.12, with the datapump role's default faces_data_file at face_recognition 2026-02-02.
EXPECTED_DATAPUMP = {
    "control_port": 5556,
    "camwatcher": "tcp://127.0.0.1:5566",
    "imagefolder": "/home/ops/sentinelcam/images",
    "datafolder": "/home/ops/sentinelcam/camwatcher",
    "facefile": "/home/ops/sentinelcam/face_recognition/facelist_2026-02-02.csv",
}

N = "/home/ops/imagenode/models"


def _outpost_logconfig(topic):
    return {
        "version": 1,
        "handlers": {
            "zmq": {
                "class": "zmq.log.handlers.PUBHandler",
                "interface_or_socket": "tcp://*:5565",
                "root_topic": topic,
                "level": "INFO",
            }
        },
        "root": {"handlers": ["zmq"], "level": "INFO"},
    }


def _imagenode(name, camera, camera_keys, outpost_keys):
    """§3.11: node (const keys), hub_address, one camera with its outpost detector."""
    outpost = {
        "publish_cam": 5567,
        "publish_log": 5565,
        "logconfig": _outpost_logconfig(name),
        **outpost_keys,
    }
    return {
        "node": {
            "name": name,
            "heartbeat": 10,
            "REP_watcher": False,
            "queuemax": 50,
            "send_type": "jpg",
            "send_threading": False,
            "print_settings": False,
        },
        "hub_address": {"H1": "tcp://data1:5555"},
        "cameras": {camera: {**camera_keys, "detectors": {"outpost": outpost}}},
    }


# §1.8 host_vars east (@fa4b1a2e) rendered by the b7a4fd19 template: O1 OAK, model on the camera.
EXPECTED_EAST = _imagenode(
    "east",
    "O1",
    {
        "viewname": "Front",
        "resolution": "(640, 360)",
        "framerate": 30,
    },
    {
        "encoder": "oak",
        "spyglass": "(640, 360)",
        "detectobjects": "none",
        "accelerator": "none",
        "spyglass_timeout": 30,
        "tracker": {"min_confidence_new": 0.6},
        "depthai": {
            "nn_archive": f"{N}/mobilenet_ssd_depthai/2026-06-07/mobilenet-ssd-300x300.rvc2.tar.xz",
            "crop_publish": 5568,
            "lookback_frames": 90,
            "oak_pipeline": {
                "jpeg_quality": 90,
                "detection_confidence": 0.5,
                "rotate_180": True,
                "camera_fps": 30,
            },
        },
        "sentinel_tasks": {"person": "GetFaces2", "default": "VehicleSpeed"},
    },
)

# alpha5 (@45c9ae61): P1 PiCam3 with a Coral EdgeTPU.
EXPECTED_ALPHA5 = _imagenode(
    "alpha5",
    "P1",
    {
        "viewname": "PiCam3",
        "resolution": "(640, 480)",
        "framerate": 32,
        "vflip": False,
        "threaded_read": False,
    },
    {
        "spyglass": "(640, 480)",
        "detectobjects": "mobilenetssd",
        "accelerator": "coral",
        "spyglass_timeout": 30,
        "tracker": {"min_confidence_new": 0.5},
        "sentinel_tasks": {"person": "GetFaces2", "default": "MobileNetSSD_allFrames"},
        "mobilenetssd": {
            "confidence": 0.5,
            "edgetpu_model": f"{N}/mobilenet_ssd_edgetpu/2025-12-19/"
            "ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite",
            "model_labels": f"{N}/mobilenet_ssd_edgetpu/2025-12-19/coco_labels.txt",
        },
    },
)


def expected_cpu_outpost(name):
    """lab1 (@2c97d48): P1 PiCamera, MobileNetSSD on the CPU."""
    return _imagenode(
        name,
        "P1",
        {
            "viewname": "PiCamera",
            "resolution": "(640, 480)",
            "framerate": 32,
            "vflip": False,
            "threaded_read": False,
        },
        {
            "spyglass": "(640, 480)",
            "detectobjects": "mobilenetssd",
            "accelerator": "none",
            "spyglass_timeout": 30,
            "sentinel_tasks": {"person": "GetFaces2", "default": "MobileNetSSD_allFrames"},
            "mobilenetssd": {
                "confidence": 0.5,
                "prototxt_path": f"{N}/mobilenet_ssd/2020-12-06/MobileNetSSD_deploy.prototxt",
                "model_path": f"{N}/mobilenet_ssd/2020-12-06/MobileNetSSD_deploy.caffemodel",
                "target": "cpu",
            },
        },
    )


# ------------------------------------------------------------------------------------------------
# The provisioned documents


def test_sentinel_yaml_is_the_role_default_document():
    text = provision.sentinel_yaml()
    assert text.startswith("%YAML 1.0\n---\n")  # §3.1 file header
    assert yaml.safe_load(text) == EXPECTED_SENTINEL


def test_sentinel_ring_buffers_are_tuple_literal_strings():
    doc = yaml.safe_load(provision.sentinel_yaml())
    for sizes in doc["ring_buffer_models"].values():
        for value in sizes.values():
            assert isinstance(value, str)
            (w, h), n = ast.literal_eval(value)
            assert (type(w), type(h), type(n)) == (int, int, int)


def test_sentinel_accelerator_is_alphas_only():
    doc = yaml.safe_load(provision.sentinel_yaml(accelerator="coral"))
    engines = doc["task_engines"]
    assert engines["Alpha"]["accelerator"] == "coral"
    assert engines["Bravo1"]["accelerator"] == engines["Bravo2"]["accelerator"] == "cpu"


def test_sentinel_paths_follow_home():
    doc = yaml.safe_load(provision.sentinel_yaml(home="/tmp/h"))
    assert doc["task_list"]["GetFaces"]["config"] == "/tmp/h/sentinel/tasks/GetFaces.yaml"
    assert doc["socket_dir"] == "/tmp/h/sentinel/sockets"


def test_vehicle_speed_and_daily_cleanup():
    for text, expected in (
        (provision.vehicle_speed_yaml(), EXPECTED_VEHICLE_SPEED),
        (provision.daily_cleanup_yaml(), EXPECTED_DAILY_CLEANUP),
    ):
        assert text.startswith("%YAML 1.0\n---\n")  # §3.2: every task template starts so
        assert yaml.safe_load(text) == expected


@pytest.mark.parametrize(
    "name,expected",
    [
        ("east", EXPECTED_EAST),
        ("alpha5", EXPECTED_ALPHA5),
        ("outpost7", expected_cpu_outpost("outpost7")),
        ("outpost9", expected_cpu_outpost("outpost9")),
    ],
)
def test_imagenode_yaml_per_outpost_kind(name, expected):
    text = provision.imagenode_yaml(name)
    assert yaml.safe_load(text) == expected


@pytest.mark.parametrize("name", ["east", "alpha5", "outpost7"])
def test_imagenode_yaml_renders_like_the_role(name):
    """Tuple strings are plain scalars (`resolution: (640, 480)`, as Jinja renders a string), and
    the file carries comments: the product must patch model keys and keep every other byte."""
    text = provision.imagenode_yaml(name)
    assert re.search(r"^    resolution: \(\d+, \d+\)$", text, re.M)
    assert re.search(r"^        spyglass: \(\d+, \d+\)$", text, re.M)
    assert len([line for line in text.splitlines() if line.lstrip().startswith("#")]) >= 2
    assert "ROI" not in yaml.safe_load(text)["cameras"]  # §6.9: never rendered
    camera = next(iter(yaml.safe_load(text)["cameras"].values()))
    assert ast.literal_eval(camera["resolution"]) == ast.literal_eval(
        camera["detectors"]["outpost"]["spyglass"]
    )


def test_imagenode_models_root_is_a_parameter():
    doc = yaml.safe_load(provision.imagenode_yaml("outpost7", models_root="/tmp/m"))
    m = doc["cameras"]["P1"]["detectors"]["outpost"]["mobilenetssd"]
    assert m["model_path"] == "/tmp/m/mobilenet_ssd/2020-12-06/MobileNetSSD_deploy.caffemodel"
    doc = yaml.safe_load(provision.imagenode_yaml("east", home="/tmp/h"))
    assert doc["cameras"]["O1"]["detectors"]["outpost"]["depthai"]["nn_archive"].startswith(
        "/tmp/h/imagenode/models/mobilenet_ssd_depthai/2026-06-07/"
    )


def test_outpost_kind_by_name():
    assert [provision.outpost_kind(n) for n in ("east", "alpha5", "outpost7", "lab1")] == [
        "oak",
        "coral",
        "cpu",
        "cpu",
    ]
    # An explicit kind wins over the name.
    doc = yaml.safe_load(provision.imagenode_yaml("outpost7", kind="coral"))
    assert doc["cameras"]["P1"]["detectors"]["outpost"]["accelerator"] == "coral"
    with pytest.raises(ValueError):
        provision.imagenode_yaml("outpost7", kind="gpu")


def test_datapump_yaml():
    doc = yaml.safe_load(provision.datapump_yaml())
    logconfig = doc.pop("logconfig")
    assert doc == EXPECTED_DATAPUMP
    assert logconfig["version"] == 1
    [handler] = logconfig["handlers"].values()
    assert handler["class"] == "logging.handlers.RotatingFileHandler"
    assert handler["filename"] == "/home/ops/sentinelcam/logs/datapump.log"
    assert (handler["maxBytes"], handler["backupCount"]) == (524288, 5)


def test_node_files_by_group():
    specs = {n["name"]: n for n in fleet_mod.node_specs(8)}
    sentinel = provision.node_files(specs["sentinel1"])
    assert sorted(sentinel) == [
        "/home/ops/sentinel.yaml",
        "/home/ops/sentinel/tasks/DailyCleanup.yaml",
        "/home/ops/sentinel/tasks/VehicleSpeed.yaml",
    ]
    for model_task in (
        "GetFaces",
        "MobileNetSSD_allFrames",
        "FaceRecon",
        "FaceSweep",
        "FaceDataUpdate",
    ):  # the product writes these
        assert f"/home/ops/sentinel/tasks/{model_task}.yaml" not in sentinel
    for outpost in ("east", "alpha5", "outpost7"):
        files = provision.node_files(specs[outpost])
        assert list(files) == ["/home/ops/imagenode.yaml"]
        assert yaml.safe_load(files["/home/ops/imagenode.yaml"])["node"]["name"] == outpost
    facelist = "/home/ops/sentinelcam/face_recognition/facelist_2026-02-02.csv"
    assert sorted(provision.node_files(specs["data1"])) == ["/home/ops/datapump.yaml", facelist]
    # Only the primary keeps a face list of its own; the others get theirs from a deploy.
    assert sorted(provision.node_files(specs["data2"])) == ["/home/ops/datapump.yaml"]


def test_every_provisioned_file_parses():
    for node in fleet_mod.node_specs(12):
        for path, text in provision.node_files(node).items():
            if path.endswith(".yaml"):
                assert isinstance(yaml.safe_load(text), dict), path


# ------------------------------------------------------------------------------------------------
# fleet.py: accounts, trust, fleet.json, ssh_cmd


def test_logins_alternate_and_both_kinds_are_in_every_group():
    nodes = fleet_mod.node_specs(6)
    assert {n["name"]: n["login"] for n in nodes} == {
        "data1": "ops",
        "sentinel1": "ops",
        "east": "admin",
        "data2": "admin",
        "alpha5": "ops",
        "sentinel2": "admin",
    }
    three = fleet_mod.node_specs(3)  # even the smallest fleet has both kinds of login
    assert {n["login"] for n in three} == {"ops", "admin"}
    for n in (6, 7, 8, 12, 20):
        nodes = fleet_mod.node_specs(n)
        for group in ("datasinks", "sentinels", "outposts"):
            logins = {x["login"] for x in nodes if group in x["groups"]}
            assert logins == {"ops", "admin"}, (n, group)
    assert [n["login"] for n in fleet_mod.node_specs(10)[6:]] == ["ops", "admin", "ops", "admin"]


def test_node_names_addresses_and_groups_are_unchanged(monkeypatch):
    monkeypatch.delenv("SENTINELCAM_FLEET_NET", raising=False)  # the default fleet's layout
    nodes = fleet_mod.node_specs(8)
    assert [(n["name"], n["address"], n["groups"]) for n in nodes] == [
        ("data1", "127.0.0.101", ["datasinks"]),
        ("sentinel1", "127.0.0.102", ["sentinels"]),
        ("east", "127.0.0.103", ["outposts"]),
        ("data2", "127.0.0.104", ["datasinks"]),
        ("alpha5", "127.0.0.105", ["outposts"]),
        ("sentinel2", "127.0.0.106", ["sentinels"]),
        ("outpost7", "127.0.0.107", ["outposts"]),
        ("sentinel3", "127.0.0.108", ["sentinels"]),
    ]


def test_fleet_json_format(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTINELCAM_FLEET_DIR", str(tmp_path))
    fleet_mod.write_fleet_json(fleet_mod.node_specs(6))
    data = json.loads((tmp_path / "fleet.json").read_text())
    assert data["ssh_user"] == "ops"
    assert data["root_login"] == "root"
    assert data["ssh_key"] == str(tmp_path / "id_ed25519")
    assert data["known_hosts"] == str(tmp_path / "known_hosts")
    assert all(set(n) == {"name", "address", "groups", "login"} for n in data["nodes"])


def test_ssh_cmd_user(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTINELCAM_FLEET_DIR", str(tmp_path))
    node = {"name": "data1", "address": "127.0.0.101"}
    assert fleet_mod.ssh_cmd(node, "id")[-2:] == ["ops@127.0.0.101", "id"]
    assert fleet_mod.ssh_cmd(node, "id", user="root")[-2:] == ["root@127.0.0.101", "id"]
    cmd = fleet_mod.ssh_cmd(node, "id", timeout=7, user="admin")
    assert "admin@127.0.0.101" in cmd and "ConnectTimeout=7" in cmd
    assert "StrictHostKeyChecking=yes" in cmd


def test_root_setup_grants_no_sudo():
    setup = fleet_mod.ROOT_SETUP
    assert "NOPASSWD" not in setup and "sudoers" not in setup
    assert "--uid 1000 --user-group --shell /bin/bash ops" in setup
    assert re.search(
        r"useradd --create-home --home-dir /home/admin --uid 1001 --user-group "
        r"--shell /bin/bash admin",
        setup,
    )
    assert not hasattr(fleet_mod, "node_key")


@pytest.fixture
def overlay(tmp_path, monkeypatch):
    """A fake state dir (operator key, node host keys) and a node's 'merged' dir standing in
    for the mounted overlay; chown calls are recorded, not made."""
    state = tmp_path / "state"
    monkeypatch.setenv("SENTINELCAM_FLEET_DIR", str(state))
    monkeypatch.delenv("SENTINELCAM_FLEET_NET", raising=False)  # the default fleet's names
    state.mkdir()
    (state / "id_ed25519").write_text("PRIVATE\n")
    (state / "id_ed25519.pub").write_text("ssh-ed25519 AAAAoperator sentinelcam-fleet operator\n")
    nodes = fleet_mod.node_specs(6)
    for node in nodes:
        d = state / "nodes" / node["name"]
        (d / "merged" / "home" / "ops").mkdir(parents=True)
        (d / "ssh_host_ed25519_key").write_text("HOSTKEY\n")
        (d / "ssh_host_ed25519_key.pub").write_text(f"ssh-ed25519 AAAA{node['name']}\n")
    owners: dict[str, tuple[int, int]] = {}
    monkeypatch.setattr(os, "chown", lambda p, u, g: owners.__setitem__(str(p), (u, g)))
    return state, nodes, owners


def _prepare(overlay, name):
    state, nodes, owners = overlay
    node = next(n for n in nodes if n["name"] == name)
    fleet_mod.prepare_node(node, nodes)
    return state / "nodes" / name / "merged", owners


def test_prepare_node_authorizes_only_the_operator_key(overlay):
    m, owners = _prepare(overlay, "sentinel1")
    for home, uid in (("root", 0), ("home/ops", 1000), ("home/admin", 1001)):
        keys = m / home / ".ssh" / "authorized_keys"
        assert keys.read_text() == "ssh-ed25519 AAAAoperator sentinelcam-fleet operator\n"
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600
        assert owners[str(keys)] == (uid, uid)
        assert owners[str(m / home / ".ssh")] == (uid, uid)
    # No node-to-node trust: no node key, no known hosts (the product's trust deploy makes them).
    assert not (m / "home/ops/.ssh/id_ed25519").exists()
    assert not (m / "etc/ssh/ssh_known_hosts").exists()
    sshd = (m / "etc/ssh/sshd_config.d/10-sentinelcam-fleet.conf").read_text()
    assert "PermitRootLogin prohibit-password" in sshd
    assert "PasswordAuthentication no" in sshd
    assert "ListenAddress 127.0.0.102" in sshd


@pytest.mark.parametrize("name", ["data1", "sentinel1", "east", "data2", "alpha5", "sentinel2"])
def test_prepare_node_provisions_role_files_owned_by_ops(overlay, name):
    m, owners = _prepare(overlay, name)
    node = next(n for n in overlay[1] if n["name"] == name)
    expected = provision.node_files(node)
    assert expected
    for path, text in expected.items():
        f = m / path.lstrip("/")
        assert f.read_text() == text
        assert stat.S_IMODE(f.stat().st_mode) == 0o644
        assert owners[str(f)] == (1000, 1000)
        # Directories created for it belong to ops too (home itself already existed).
        parent = f.parent
        while parent != m / "home" / "ops":
            assert owners[str(parent)] == (1000, 1000), parent
            parent = parent.parent
    # The units and the stand-in are in place and enabled.
    for svc in ("sentinel", "imagenode", "datapump"):
        assert (m / f"etc/systemd/system/multi-user.target.wants/{svc}.service").is_symlink()
    assert os.access(m / "usr/local/bin/sentinelcam-standin", os.X_OK)


def test_the_provisioned_standin_loads_the_format_checks_installed_beside_it(overlay):
    """The node's copies of the stand-in's modules and of the checks are whole packages
    (devfleet/standin/ and core/modelfiles/ are several modules each): the stand-in as installed,
    reading no file of this checkout, refuses a truncated caffemodel."""
    m, _ = _prepare(overlay, "sentinel1")
    lib = m / "usr/local/lib/sentinelcam-standin/modelfiles"
    package = Path(modelfiles.__file__).parent
    assert sorted(p.name for p in lib.iterdir()) == sorted(p.name for p in package.glob("*.py"))
    modules = m / "usr/local/lib/sentinelcam-standin/standin"
    source = Path(fleet_mod.HERE) / "standin"
    assert sorted(p.name for p in modules.iterdir()) == sorted(p.name for p in source.glob("*.py"))
    probe = (
        "import importlib, importlib.machinery, importlib.util, sys\n"
        "loader = importlib.machinery.SourceFileLoader('script', sys.argv[1])\n"
        "spec = importlib.util.spec_from_loader('script', loader)\n"
        "script = importlib.util.module_from_spec(spec)\n"
        "loader.exec_module(script)\n"
        "script.package()\n"
        "loading = importlib.import_module('standin.loading')\n"
        "checks = loading.lib('modelfiles')\n"
        "print(loading.__file__)\n"
        "print(checks.__file__)\n"
        "data = open(sys.argv[2], 'rb').read()\n"
        "print(checks.check_bytes('MobileNetSSD_deploy.caffemodel', data[: len(data) // 2]))\n"
    )
    model = m.parent / "MobileNetSSD_deploy.caffemodel"
    model.write_bytes(valid("MobileNetSSD_deploy.caffemodel", size=4096))
    env = {**os.environ, "SENTINELCAM_STANDIN_LIB": str(lib)}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(m / "usr/local/bin/sentinelcam-standin"), str(model)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loading_file, checks_file, answer = result.stdout.split("\n", 2)
    assert Path(loading_file) == modules / "loading.py"
    assert Path(checks_file) == lib / "__init__.py"
    assert answer.startswith("MobileNetSSD_deploy.caffemodel: not a valid Caffe model")


@pytest.mark.parametrize("svc", ["sentinel", "imagenode", "datapump"])
def test_units_restart_on_failure_without_a_start_limit(svc):
    text = (Path(fleet_mod.HERE) / "units" / f"{svc}.service").read_text()
    unit, service = text.split("[Service]")
    assert "StartLimitIntervalSec=0" in unit
    assert f"ConditionPathExists=/home/ops/{svc}.yaml" in unit
    for line in ("Type=notify", "User=ops", "Restart=on-failure", "RestartSec=5"):
        assert re.search(rf"^{line}$", service, re.M), line


# --- the original's fleet (devfleet up --as-original) --------------------------------------------


def original_node(name: str, group: str) -> dict:
    return {"name": name, "groups": [group], "original": True}


def test_the_original_s_sentinel2_keeps_the_role_default_accelerator():
    # §1.5: sentinel_accelerator_type defaults to coral, and Alpha's accelerator follows it.
    files = provision.node_files(original_node("sentinel2", "sentinels"))
    doc = yaml.safe_load(files["/home/ops/sentinel.yaml"])
    assert doc["task_engines"]["Alpha"]["accelerator"] == "coral"
    files = provision.node_files(original_node("sentinel1", "sentinels"))
    assert yaml.safe_load(files["/home/ops/sentinel.yaml"])["task_engines"]["Alpha"][
        "accelerator"
    ] == ("cpu")


def test_the_original_s_outpost7_is_an_oak_camera_in_the_depthai_v2_shape():
    # §3.11 "Older DepthAI v2 shape": pipeline, model (a .blob), images, jpegs, neural_nets.
    files = provision.node_files(original_node("outpost7", "outposts"))
    outpost = yaml.safe_load(files["/home/ops/imagenode.yaml"])["cameras"]["O1"]["detectors"][
        "outpost"
    ]
    depthai = outpost["depthai"]
    assert {"pipeline", "model", "images", "jpegs", "neural_nets"} <= set(depthai)
    assert "nn_archive" not in depthai and "crop_publish" not in depthai
    assert depthai["model"].endswith("/mobilenet-ssd_openvino_2021.4_6shave.blob")
    assert outpost["detectobjects"] == "none"


def test_the_original_s_datasinks_read_the_curated_gamma4_list():
    # §1.7, §3.12: group_vars/datasinks.yaml overrides faces_data_file.
    for name in ("data1", "data2"):
        files = provision.node_files(original_node(name, "datasinks"))
        doc = yaml.safe_load(files["/home/ops/datapump.yaml"])
        assert doc["facefile"] == "/home/ops/sentinelcam/faces/facelist_gamma4.csv"
        assert "/home/ops/sentinelcam/faces/facelist_gamma4.csv" in files


def test_the_original_s_datasinks_trust_every_other_node_plainly():
    from devfleet import original  # noqa: PLC0415

    keys = {n: f"ssh-ed25519 AAAA{n} ops@{n}" for n in ("data1", "sentinel1", "east")}
    text = original.datasink_authorized_keys("ssh-ed25519 AAAAoperator op", keys, "data1")
    assert text.splitlines() == [
        "ssh-ed25519 AAAAoperator op",
        "no-port-forwarding,no-X11-forwarding ssh-ed25519 AAAAeast ops@east",
        "ssh-ed25519 AAAAsentinel1 ops@sentinel1",
    ]
