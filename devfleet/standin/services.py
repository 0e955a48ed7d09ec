"""What each service (sentinel, imagenode, datapump) reads and loads before it runs."""

import os

from .config import Cfg, dictconfig, is_int, is_ring, is_roi, is_size, non_empty
from .loading import ConfigError, MissingKey, load_caffe, load_file, load_tflite, read_yaml
from .places import HOME

# ------------------------------------------------------------------------------------------------
# Service start: what each service reads before it runs


def check_sentinel(loaded):
    """~/sentinel.yaml (§3.1), read once at start; the task files are read per job."""
    path = os.path.join(HOME, "sentinel.yaml")
    c = Cfg(read_yaml(path, loaded), path)
    for key, kind in (
        ("control_port", "int"),
        ("logging_port", "int"),
        ("default_pump", "str"),
        ("socket_dir", "str"),
    ):
        c.req(key, kind)
    rings = non_empty(c.sub("ring_buffer_models"))
    for model in rings.names():
        sizes = non_empty(rings.sub(model))
        for size in sizes.names():
            sizes.tuple_literal(size, is_ring)
    engines = non_empty(c.sub("task_engines"))
    for name in engines.names():
        e = engines.sub(name)
        classes = e.req("classes", "list")
        if not classes or not all(is_int(x) for x in classes):
            raise ConfigError(f"{path}: {e.dotted('classes')} must be a non-empty list of integers")
        ring = e.req("ring_buffers", "str")
        if ring not in rings.data:
            raise MissingKey(
                f"{path}: {e.dotted('ring_buffers')} names {ring!r}, which "
                "ring_buffer_models does not define"
            )
        e.req("accelerator", "str")
    tasks = non_empty(c.sub("task_list"))
    for name in tasks.names():
        t = tasks.sub(name)
        t.req("config", "str")
        t.req("class", "int")
        for key in ("chain", "trk_type", "alias"):
            t.opt(key, "str")
        ringctrl = t.opt("ringctrl", "str")
        if ringctrl is not None:
            t.one_of("ringctrl", ringctrl, ("full", "trk"))
        t.opt("runtime_limit", "number")
    health = c.sub("health", required=False)
    if health is not None:
        for key in ("startup_allowance", "low_rate_threshold"):
            health.opt(key, "number")
        for key in (
            "min_rate_frames",
            "strike_limit",
            "fail_strike_limit",
            "job_runtime_limit",
            "restart_cooldown",
            "max_auto_restarts",
            "restart_window_hours",
        ):
            health.opt(key, "int")
    maint = c.sub("maintenance", required=False)
    if maint is not None:
        maint.opt("retention_hours", "int")
        maint.opt("state_file", "str")
        maint.opt("checkpoint_interval", "int")
    shutdown = c.sub("shutdown", required=False)
    if shutdown is not None:
        shutdown.opt("drain_timeout", "int")
    # The code overwrites handlers.zmq.interface_or_socket: the handler must be named zmq.
    dictconfig(c.sub("logconfig")).sub("zmq")
    return c.data


def check_outpost(o, camera, loaded):
    """cameras.<id>.detectors.outpost (§3.11): Outpost, SpyGlass and its lens."""
    o.req("publish_cam", "int")
    o.req("publish_log", "int")
    dictconfig(o.sub("logconfig")).sub("zmq")
    o.tuple_literal("spyglass", is_size)
    detect = o.one_of(
        "detectobjects", o.opt("detectobjects", "str", "none"), ("mobilenetssd", "none", "motion")
    )
    accel = o.one_of("accelerator", o.opt("accelerator", "str", "none"), ("none", "ncs2", "coral"))
    o.opt("spyglass_timeout", "int")
    encoder = o.opt("encoder", "str")
    if encoder is not None:
        o.one_of("encoder", encoder, ("oak", "cpu"))
    if "ROI" in o.data:
        o.tuple_literal("ROI", is_roi)
    tasks = o.sub("sentinel_tasks")
    for key in tasks.names():
        tasks.req(key, "str")
    if detect == "motion":
        o.sub("motion_params")
    if detect == "mobilenetssd":
        m = o.sub("mobilenetssd")
        m.req("confidence", "number")
        if accel == "coral":
            load_tflite(load_file(m.req("edgetpu_model", "str"), loaded))
            load_file(m.req("model_labels", "str"), loaded)
        else:
            proto = load_file(m.req("prototxt_path", "str"), loaded)
            load_caffe(proto, load_file(m.req("model_path", "str"), loaded))
            m.one_of("target", m.req("target", "str"), ("cpu", "myriad"))
    depthai = o.sub("depthai", required=camera.startswith("O"))
    if depthai is not None:
        load_file(depthai.req("nn_archive", "str"), loaded)
        depthai.req("crop_publish", "int")
        depthai.opt("lookback_frames", "int")
        depthai.opt("oak_pipeline", "map")


def check_imagenode(loaded):
    """~/imagenode.yaml (§3.11): Settings, then every camera and its outpost detector."""
    path = os.path.join(HOME, "imagenode.yaml")
    c = Cfg(read_yaml(path, loaded), path)
    node = c.sub("node")
    node.req("name", "str")
    for key, kind in (
        ("heartbeat", "int"),
        ("REP_watcher", "bool"),
        ("queuemax", "int"),
        ("send_type", "str"),
        ("send_threading", "bool"),
        ("print_settings", "bool"),
    ):
        node.opt(key, kind)
    c.sub("hub_address").req("H1", "str")
    cameras = non_empty(c.sub("cameras"))
    for cam in cameras.names():
        name = str(cam)
        if name[:1] not in ("P", "O", "W"):
            raise ConfigError(
                f"{path}: cameras.{name}: a camera id starts with P (PiCamera), "
                "O (OAK) or W (webcam)"
            )
        k = cameras.sub(cam)
        k.req("viewname", "str")
        k.tuple_literal("resolution", is_size)
        k.req("framerate", "int")
        if name.startswith("P"):
            k.opt("vflip", "bool")
            k.opt("threaded_read", "bool")
        detectors = k.sub("detectors", required=False)
        outpost = detectors and detectors.sub("outpost", required=False)
        if outpost is not None:
            check_outpost(outpost, name, loaded)
    return c.data


def check_datapump(loaded):
    """~/datapump.yaml (§3.12): datapump main(); the face list is read at start (FaceList)."""
    path = os.path.join(HOME, "datapump.yaml")
    c = Cfg(read_yaml(path, loaded), path)
    c.req("control_port", "int")
    c.req("camwatcher", "str")
    c.req("imagefolder", "str")
    c.req("datafolder", "str")
    load_file(c.req("facefile", "str"), loaded)
    dictconfig(c.sub("logconfig"))
    return c.data


CHECKS = {"sentinel": check_sentinel, "imagenode": check_imagenode, "datapump": check_datapump}
