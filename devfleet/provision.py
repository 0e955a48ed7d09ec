"""The files the real SentinelCam Ansible roles leave on a node, as text, for the local fleet.

A real fleet is never empty when sentinelcam-models first deploys to it: the `sentinel`,
`imagenode` and `datapump` roles of shumwaymark/sentinelcam have already written the services'
main configs (and the two task files that hold no model path). The product must patch or read
those files as they are, so the fleet provisions them before boot instead of letting the tests
start from nothing. Every value below comes from ``sentinelcam-configs.md`` (the reference of
the files the services read): the role defaults of §1.5-§1.7, the host_vars of §1.8 and the
per-file tables of §3. Nothing here is a convenience for the product: the five model task files
(GetFaces, MobileNetSSD_allFrames, FaceRecon, FaceSweep, FaceDataUpdate) and every model file
are left to the product's deploy.

Pure functions returning file text, standard library only (the fleet runs before any virtualenv
exists). Paths derive from ``home`` (``/home/{sentinelcam_user}`` in the roles) so that unit tests
can point everything into a temporary directory.
"""

from __future__ import annotations

HOME = "/home/ops"
PRIMARY_DATASINK = "data1"  # site.yaml `primary_datasink` (§1.3)

# Model versions current in the reference's registry (§1.4): what the roles rendered.
MODEL_VERSIONS = {
    "mobilenet_ssd": "2020-12-06",
    "mobilenet_ssd_depthai": "2026-06-07",
    "mobilenet_ssd_edgetpu": "2025-12-19",
    "face_recognition": "2026-02-02",
}

# sentinelcam_ports (§1.2)
PORTS = {
    "imagenode_publisher": 5567,
    "imagenode_logging": 5565,
    "imagenode_crops": 5568,
    "imagehub_zmq": 5555,
    "camwatcher_control": 5566,
    "datapump_control": 5556,
    "sentinel_control": 5566,
    "sentinel_logging": 5565,
}

# The task files the sentinel role renders that hold no model path (§3.8, §3.9): the fleet
# provisions these; the product owns (and writes) the other five.
ROLE_TASK_FILES = ("VehicleSpeed.yaml", "DailyCleanup.yaml")

# Outpost kinds, by node name: which real outpost each fleet outpost imitates (§1.8 host_vars).
OAK, CORAL, CPU = "oak", "coral", "cpu"
OAK_V2 = "oak-v2"  # an OAK outpost the imagenode role provisioned before v3 (DepthAI v2 shape)
OUTPOST_KINDS = {"east": OAK, "alpha5": CORAL}
# The original's fleet (devfleet up --as-original): outpost7 is an OAK outpost still in the v2 shape.
ORIGINAL_OUTPOST_KINDS = {**OUTPOST_KINDS, "outpost7": OAK_V2}
# The blob the v2 imagenode role pointed at (§1.6, snapshot), under a version the registry no longer
# lists (the v2 path was removed with no rollback).
DEPTHAI_V2_VERSION = "2022-04-02"
DEPTHAI_V2_BLOB = "mobilenet-ssd_openvino_2021.4_6shave.blob"


def outpost_kind(name: str) -> str:
    """``oak`` for east (OAK camera, model on the camera), ``coral`` for alpha5 (PiCamera plus
    an EdgeTPU), ``cpu`` for every other outpost (a PiCamera outpost like lab1)."""
    return OUTPOST_KINDS.get(name, CPU)


def _zmq_logconfig(indent: str, port: int, topic: str, level: str = "INFO") -> str:
    """The dictConfig both sentinel and imagenode take: a PUBHandler that must be named ``zmq``
    (the code overwrites ``handlers.zmq.interface_or_socket`` with its bound socket)."""
    lines = [
        "logconfig:",
        "  version: 1",
        "  handlers:",
        "    zmq:",
        "      class: zmq.log.handlers.PUBHandler",
        f"      interface_or_socket: tcp://*:{port}",
        f"      root_topic: {topic}",
        f"      level: {level}",
        "  root:",
        "    handlers: [zmq]",
        f"    level: {level}",
    ]
    return "".join(f"{indent}{line}\n" for line in lines)


# ------------------------------------------------------------------------------------------------
# Sentinels (§3.1, §3.8, §3.9)

# sentinel_ring_buffer_models (§1.5): name -> size -> ((w, h), buffer_length)
RING_BUFFER_MODELS = {
    "default": {"vga": ((640, 480), 5), "sd": ((640, 360), 5), "hd": ((768, 432), 5)},
}

# sentinel_tasks (§1.5), in the role's order: name -> optional keys as rendered.
SENTINEL_TASKS: dict[str, dict[str, object]] = {
    "MobileNetSSD_allFrames": {
        "config_file": "MobileNetSSD_allFrames.yaml",
        "chain": "GetFaces",
        "class": 1,
    },
    "GetFaces": {
        "config_file": "GetFaces.yaml",
        "chain": "FaceRecon",
        "class": 1,
        "trk_type": "obj",
        "ringctrl": "full",
    },
    "FaceRecon": {
        "config_file": "FaceRecon.yaml",
        "class": 2,
        "trk_type": "fd1",
        "ringctrl": "trk",
    },
    "FaceSweep": {"config_file": "FaceSweep.yaml", "class": 2},
    "FaceDataUpdate": {"config_file": "FaceDataUpdate.yaml", "class": 2},
    "GetFaces2": {
        "alias": "GetFaces",
        "config_file": "GetFaces.yaml",
        "chain": "FaceRecon",
        "class": 1,
    },
    "VehicleSpeed": {"config_file": "VehicleSpeed.yaml", "class": 2},
    "DailyCleanup": {"config_file": "DailyCleanup.yaml", "class": 3},
    "MeasureRingLatency": {"config_file": "MeasureRingLatency.yaml", "class": 1},
}


def sentinel_tasks_dir(home: str = HOME) -> str:
    """``{sentinel_install_path}/tasks``: where task_list's config paths point."""
    return f"{home}/sentinel/tasks"


def sentinel_yaml(
    accelerator: str = "cpu", home: str = HOME, primary_datasink: str = PRIMARY_DATASINK
) -> str:
    """``~/sentinel.yaml`` as the sentinel role renders it (§3.1) with the role defaults.

    ``accelerator`` is ``sentinel_accelerator_type``: it becomes the Alpha engine's accelerator
    (the Bravo engines are always cpu), which decides how GetFaces and MobileNetSSD_allFrames
    load their models. The test fleet has no EdgeTPU, hence cpu.
    """
    tasks = sentinel_tasks_dir(home)
    out = [
        "%YAML 1.0\n",
        "---\n",
        "# Settings file sentinel.yaml\n",
        "# Deployed by the sentinel role (Ansible); restart sentinel after a change.\n",
        "\n",
        f"control_port: {PORTS['sentinel_control']}\n",
        f"logging_port: {PORTS['sentinel_logging']}\n",
        f"default_pump: tcp://{primary_datasink}:{PORTS['datapump_control']}\n",
        f"socket_dir: {home}/sentinel/sockets\n",
        "\n",
        "# Ring buffer sizes per model: a Python tuple literal ((width, height), length).\n",
        "ring_buffer_models:\n",
    ]
    for model, sizes in RING_BUFFER_MODELS.items():
        out.append(f"  {model}:\n")
        for size, ((w, h), n) in sizes.items():
            out.append(f'    {size}: "(({w}, {h}), {n})"\n')
    out += ["\n", "task_engines:\n"]
    for engine, classes, accel in (
        ("Alpha", "[1]", accelerator),
        ("Bravo1", "[2]", "cpu"),
        ("Bravo2", "[2, 3]", "cpu"),
    ):
        out += [
            f"  {engine}:\n",
            f"    classes: {classes}\n",
            "    ring_buffers: default\n",
            f"    accelerator: {accel}\n",
        ]
    out += ["\n", "task_list:\n"]
    for task, spec in SENTINEL_TASKS.items():
        out.append(f"  {task}:\n")
        out.append(f"    config: {tasks}/{spec['config_file']}\n")
        # Optional keys only when defined, in the order of the §3.1 table.
        for key in ("chain", "class", "trk_type", "ringctrl", "alias"):
            if key in spec:
                out.append(f"    {key}: {spec[key]}\n")
    out += [
        "\n",
        "health:\n",
        "  startup_allowance: 3.0\n",
        "  low_rate_threshold: 8.0\n",
        "  min_rate_frames: 20\n",
        "  strike_limit: 3\n",
        "  fail_strike_limit: 5\n",
        "  job_runtime_limit: 900\n",
        "  restart_cooldown: 300\n",
        "  max_auto_restarts: 10\n",
        "  restart_window_hours: 6\n",
        "\n",
        "maintenance:\n",
        "  retention_hours: 48\n",
        f"  state_file: {home}/sentinel/state.json\n",
        "  checkpoint_interval: 50\n",
        "\n",
        "shutdown:\n",
        "  drain_timeout: 60\n",
        "\n",
        _zmq_logconfig("", PORTS["sentinel_logging"], "Sentinel"),
    ]
    return "".join(out)


def vehicle_speed_yaml() -> str:
    """``tasks/VehicleSpeed.yaml`` (§3.8): calibration constants only, no model path."""
    markers = ", ".join(f"{x / 100:.2f}" for x in range(10, 100, 10))
    return (
        "%YAML 1.0\n"
        "---\n"
        "# VehicleSpeed task: speed estimates for vehicles crossing the view.\n"
        "refkey: vsp\n"
        "camwatcher_update: True\n"
        "vehicle_classes: ['car', 'bus', 'motorbike', 'train']\n"
        "# Marker lines across the frame, as fractions of its width\n"
        f"markers_x: [{markers}]\n"
        "marker_y: 0.50\n"
        "marker_y_tolerance: 0.15\n"
        "street_length_meters: 21.6\n"
        "camera_distance_meters: 17.5\n"
        "viewport_width_meters: 27.0\n"
        "min_markers: 2\n"
        "speed_limit_mph: 25\n"
        "speed_tolerance_mph: 5\n"
        "centroid_max_distance: 50\n"
        "min_detection_confidence: 0.5\n"
        "track_both_directions: true\n"
        "speed_calibration_factor: 0.89\n"
    )


def daily_cleanup_yaml() -> str:
    """``tasks/DailyCleanup.yaml`` (§3.9) with the role defaults (no scene keys: the role renders
    them only when a ``*_scene_retention_days`` is set, and the defaults are null)."""
    return (
        "%YAML 1.0\n"
        "---\n"
        "# DailyCleanup task: retention policy for event data.\n"
        "run_deletes: true\n"
        "max_scan_days: 14\n"
        "retention_profiles:\n"
        "  person_tracking:\n"
        "    strategy: face_quality\n"
        "    retention_days: 2\n"
        "    min_face_ratio: 0.15\n"
        "    confidence_threshold: 0.975\n"
        "    nodes: [lab1, alpha5]\n"
        "  vehicle_tracking:\n"
        "    strategy: vehicle_interest\n"
        "    retention_days: 1\n"
        "    speed_cutoff: 45.0\n"
        "    extended_days: 2\n"
        "    nodes: [east]\n"
        "  archive_all:\n"
        "    strategy: never_delete\n"
        "    nodes: []\n"
        "  default:\n"
        "    strategy: minimal_retention\n"
        "    retention_days: 7\n"
    )


# ------------------------------------------------------------------------------------------------
# Outposts (§3.11)


def imagenode_models_root(home: str = HOME) -> str:
    """``imagenode_models_path`` (§1.6)."""
    return f"{home}/imagenode/models"


def imagenode_yaml(
    name: str,
    kind: str | None = None,
    home: str = HOME,
    models_root: str | None = None,
    datasink: str = PRIMARY_DATASINK,
) -> str:
    """``~/imagenode.yaml`` as the imagenode role renders it (§3.11) for an outpost of ``kind``
    (default: by name, see :func:`outpost_kind`).

    Most of the file is camera content from the host's inventory, which the product must keep
    byte for byte; only the model paths under ``detectors.outpost`` are the product's. Model
    paths are ``{models_root}/{model}/{version}/{file}``; ``models_root`` defaults to the role's
    ``{home}/imagenode/models``.
    """
    kind = kind or outpost_kind(name)
    if kind not in (OAK, CORAL, CPU, OAK_V2):
        raise ValueError(f"unknown outpost kind {kind!r}")
    root = models_root or imagenode_models_root(home)

    def model(m: str, file: str) -> str:
        return f"{root}/{m}/{MODEL_VERSIONS[m]}/{file}"

    # host_vars imagenode_config cameras (§1.8): east O1 Front (640, 360)/30, alpha5 P1 PiCam3
    # (640, 480)/32, lab1 P1 PiCamera (640, 480)/32.
    camera, viewname, resolution, framerate = {
        OAK: ("O1", "Front", "(640, 360)", 30),
        OAK_V2: ("O1", "Front", "(640, 360)", 30),
        CORAL: ("P1", "PiCam3", "(640, 480)", 32),
        CPU: ("P1", "PiCamera", "(640, 480)", 32),
    }[kind]
    out = [
        f"# Settings file imagenode.yaml for outpost {name}\n",
        "# Deployed by the imagenode role (Ansible) from host_vars imagenode_config.\n",
        "\n",
        "node:\n",
        f"  name: {name}\n",
        "  heartbeat: 10\n",
        "  REP_watcher: False\n",
        "  queuemax: 50\n",
        "  send_type: jpg\n",
        "  send_threading: False\n",
        "  print_settings: False\n",
        "\n",
        "hub_address:\n",
        f"  H1: tcp://{datasink}:{PORTS['imagehub_zmq']}\n",
        "\n",
        "cameras:\n",
        f"  {camera}:\n",
        f"    viewname: {viewname}\n",
        f"    resolution: {resolution}\n",
        f"    framerate: {framerate}\n",
    ]
    if camera.startswith("P"):
        out += ["    vflip: False\n", "    threaded_read: False\n"]
    out += ["    detectors:\n", "      outpost:\n"]
    if kind in (OAK, OAK_V2):
        out.append("        encoder: oak\n")
    out += [
        f"        publish_cam: {PORTS['imagenode_publisher']}\n",
        f"        publish_log: {PORTS['imagenode_logging']}\n",
        _zmq_logconfig("        ", PORTS["imagenode_logging"], name),
        "        # SpyGlass view size: a Python tuple literal, like resolution\n",
        f"        spyglass: {resolution}\n",
        f"        detectobjects: {'none' if kind in (OAK, OAK_V2) else 'mobilenetssd'}\n",
        f"        accelerator: {'coral' if kind == CORAL else 'none'}\n",
        "        spyglass_timeout: 30\n",
    ]
    if kind == OAK:
        out += [
            "        tracker:\n",
            "          min_confidence_new: 0.6\n",
            "        # Detection runs on the OAK camera itself (DepthAI v3 NN Archive)\n",
            "        depthai:\n",
            "          nn_archive: "
            f"{model('mobilenet_ssd_depthai', 'mobilenet-ssd-300x300.rvc2.tar.xz')}\n",
            f"          crop_publish: {PORTS['imagenode_crops']}\n",
            "          lookback_frames: 90\n",
            "          oak_pipeline:\n",
            "            jpeg_quality: 90\n",
            "            detection_confidence: 0.5\n",
            "            rotate_180: true\n",
            "            camera_fps: 30\n",
        ]
    elif kind == OAK_V2:
        # §3.11 "Older DepthAI v2 shape": pipeline, model (a .blob), images, jpegs, neural_nets.
        blob = f"{root}/mobilenet_ssd_depthai/{DEPTHAI_V2_VERSION}/{DEPTHAI_V2_BLOB}"
        out += [
            "        # Detection runs on the OAK camera itself (DepthAI v2 pipeline)\n",
            "        depthai:\n",
            "          pipeline: ImageNode\n",
            f"          model: {blob}\n",
            "          images: {camera: RGB, size: (640, 360)}\n",
            "          jpegs: {quality: 90}\n",
            "          neural_nets:\n",
            "            Q1: nn\n",
        ]
    elif kind == CORAL:
        out += ["        tracker:\n", "          min_confidence_new: 0.5\n"]
    default_task = "VehicleSpeed" if kind in (OAK, OAK_V2) else "MobileNetSSD_allFrames"
    out += [
        "        sentinel_tasks:\n",
        "          person: GetFaces2\n",
        f"          default: {default_task}\n",
    ]
    if kind == CORAL:
        out += [
            "        mobilenetssd:\n",
            "          confidence: 0.5\n",
            "          edgetpu_model: "
            + model(
                "mobilenet_ssd_edgetpu", "ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite"
            )
            + "\n",
            f"          model_labels: {model('mobilenet_ssd_edgetpu', 'coco_labels.txt')}\n",
        ]
    elif kind == CPU:
        out += [
            "        mobilenetssd:\n",
            "          confidence: 0.5\n",
            f"          prototxt_path: {model('mobilenet_ssd', 'MobileNetSSD_deploy.prototxt')}\n",
            f"          model_path: {model('mobilenet_ssd', 'MobileNetSSD_deploy.caffemodel')}\n",
            "          target: cpu\n",
        ]
    return "".join(out)


# ------------------------------------------------------------------------------------------------
# Datasinks (§3.12)


def facefile_path(home: str = HOME) -> str:
    """The datapump role's default ``faces_data_file``: the face list of the registry's current
    face_recognition version, under ``{sentinelcam_data_path}/face_recognition``."""
    return f"{home}/sentinelcam/face_recognition/facelist_{MODEL_VERSIONS['face_recognition']}.csv"


def gamma4_path(home: str = HOME) -> str:
    """``faces_data_file`` as the real fleet's group_vars/datasinks.yaml overrides it (§1.7, §3.12)."""
    return f"{home}/sentinelcam/faces/facelist_gamma4.csv"


def datapump_yaml(home: str = HOME, facefile: str | None = None) -> str:
    """``~/datapump.yaml`` as the datapump role renders it (§3.12); ``facefile`` defaults to the
    role default (the registry's current face list)."""
    data = f"{home}/sentinelcam"
    return (
        "# Settings file datapump.yaml\n"
        "# Deployed by the datapump role (Ansible); restart datapump after a change.\n"
        f"control_port: {PORTS['datapump_control']}\n"
        f"camwatcher: tcp://127.0.0.1:{PORTS['camwatcher_control']}\n"
        f"imagefolder: {data}/images\n"
        f"datafolder: {data}/camwatcher\n"
        "# Face list: names the events datapump locks against deletion\n"
        f"facefile: {facefile or facefile_path(home)}\n"
        "logconfig:\n"
        "  version: 1\n"
        "  handlers:\n"
        "    file:\n"
        "      class: logging.handlers.RotatingFileHandler\n"
        f"      filename: {data}/logs/datapump.log\n"
        "      maxBytes: 524288\n"
        "      backupCount: 5\n"
        "      level: INFO\n"
        "  root:\n"
        "    handlers: [file]\n"
        "    level: INFO\n"
    )


def facelist_csv() -> str:
    """The primary datasink's face list. On a real fleet the primary's list is maintained outside
    model deployment (the ML trainer writes it; deploys only copy versioned lists to the other
    datasinks), so the fleet provides it there; its content is opaque to the stand-in."""
    return "name,uuid,status\n"


# ------------------------------------------------------------------------------------------------
# Per node


def node_files(
    node: dict,
    home: str = HOME,
    sentinel_accelerator: str = "cpu",
    primary_datasink: str = PRIMARY_DATASINK,
) -> dict[str, str]:
    """{absolute path on the node: text} for one fleet node (``name`` and ``groups`` as in
    fleet.json): what the roles of its groups left on it.

    A node of the original's fleet (``node["original"]``, devfleet up --as-original) has what the
    real fleet's group_vars and older roles left: sentinel2's sentinel.yaml keeps the role default
    accelerator (coral) where the inventory says cpu, outpost7's imagenode.yaml is the DepthAI v2
    shape, every datapump.yaml reads the curated facelist_gamma4.csv."""
    name, groups = node["name"], node.get("groups", ())
    original = bool(node.get("original"))
    files: dict[str, str] = {}
    if "sentinels" in groups:
        accelerator = "coral" if original and name == "sentinel2" else sentinel_accelerator
        files[f"{home}/sentinel.yaml"] = sentinel_yaml(accelerator, home, primary_datasink)
        tasks = sentinel_tasks_dir(home)
        files[f"{tasks}/VehicleSpeed.yaml"] = vehicle_speed_yaml()
        files[f"{tasks}/DailyCleanup.yaml"] = daily_cleanup_yaml()
    if "outposts" in groups:
        kind = ORIGINAL_OUTPOST_KINDS.get(name, CPU) if original else None
        files[f"{home}/imagenode.yaml"] = imagenode_yaml(
            name, kind, home=home, datasink=primary_datasink
        )
    if "datasinks" in groups:
        files[f"{home}/datapump.yaml"] = datapump_yaml(
            home, gamma4_path(home) if original else None
        )
        if name == primary_datasink:
            files[facefile_path(home)] = facelist_csv()
        if original:
            files[gamma4_path(home)] = "name,uuid,status\ncurated,by-the-operator,locked\n"
    return files
