"""sentinel.yaml's engine accelerators against sentinel_accelerator_type (sentinelcam-configs.md
§3.1, §3.2: the model loaders get the engine's accelerator; GetFaces and MobileNetSSD_allFrames are
class 1, which the Alpha engine runs)."""

from __future__ import annotations

from sentinelcam_models.core.sentinelconf import (
    accelerator_refusal,
    engine_accelerators,
    engines_entry,
)

PATH = "/home/ops/sentinel.yaml"


def sentinel_yaml(alpha: str, getfaces_class: int = 1) -> str:
    # The shape of §3.1 with the role defaults (task_engines and task_list abridged).
    return f"""\
%YAML 1.0
---
control_port: 5566
task_engines:
  Alpha:
    classes: [1]
    ring_buffers: default
    accelerator: {alpha}
  Bravo1:
    classes: [2]
    ring_buffers: default
    accelerator: cpu
  Bravo2:
    classes: [2, 3]
    ring_buffers: default
    accelerator: cpu
task_list:
  MobileNetSSD_allFrames:
    config: /home/ops/sentinel/tasks/MobileNetSSD_allFrames.yaml
    chain: GetFaces
    class: 1
  GetFaces:
    config: /home/ops/sentinel/tasks/GetFaces.yaml
    class: {getfaces_class}
  FaceRecon:
    config: /home/ops/sentinel/tasks/FaceRecon.yaml
    class: 2
"""


def test_the_fact_reads_every_engine_s_accelerator():
    assert engine_accelerators(sentinel_yaml("coral")) == {
        "Alpha": "coral",
        "Bravo1": "cpu",
        "Bravo2": "cpu",
    }
    assert engine_accelerators(None) == {}
    assert engine_accelerators("- a list\n") == {}


def test_agreeing_accelerators_pass_and_bravo_s_cpu_is_no_disagreement():
    assert accelerator_refusal(PATH, sentinel_yaml("coral"), "coral") is None
    assert accelerator_refusal(PATH, sentinel_yaml("cpu"), "cpu") is None


def test_a_disagreeing_sentinel_is_refused_with_one_line_naming_both_values_and_the_file():
    line = accelerator_refusal(PATH, sentinel_yaml("coral"), "cpu")
    assert line is not None and "\n" not in line
    assert line.startswith(PATH)
    assert "task_engines.Alpha.accelerator is coral" in line
    assert "sentinel_accelerator_type is cpu" in line


def test_the_engine_that_runs_getfaces_is_the_one_compared():
    # GetFaces moved to class 2 (Bravo engines, cpu): a cpu inventory disagrees with Alpha's coral
    # still (MobileNetSSD_allFrames stays class 1), and a coral one with Bravo's cpu.
    text = sentinel_yaml("cpu", getfaces_class=2)
    assert accelerator_refusal(PATH, text, "cpu") is None
    line = accelerator_refusal(PATH, text, "coral")
    assert line is not None and "task_engines.Alpha.accelerator is cpu" in line


def test_no_file_is_no_refusal_and_a_broken_one_is_one_line():
    assert accelerator_refusal(PATH, None, "coral") is None
    line = accelerator_refusal(PATH, "task_engines: [unclosed\n", "coral")
    assert line is not None and PATH in line


def test_drift_reports_every_engine_s_accelerator_against_the_inventory():
    # §3.1: Alpha gets sentinel_accelerator_type from the role, Bravo1/Bravo2 cpu.
    entry = engines_entry(PATH, sentinel_yaml("coral"), "coral")
    assert entry == {
        "sentinel_accelerator_type": "coral",
        "engines": {"Alpha": "coral", "Bravo1": "cpu", "Bravo2": "cpu"},
        "status": "ok",
        "detail": "",
    }
    disagreeing = engines_entry(PATH, sentinel_yaml("coral"), "cpu")
    assert disagreeing is not None and disagreeing["status"] == "drift"
    assert disagreeing["detail"] == accelerator_refusal(PATH, sentinel_yaml("coral"), "cpu")
    assert engines_entry(PATH, None, "cpu") is None  # no sentinel.yaml on the node


def test_an_engine_without_accelerator_runs_on_cpu_and_node_text_is_escaped():
    text = 'task_engines:\n  Alpha:\n    classes: [1]\n  "Bad\\e[31m": {accelerator: "x\\ny"}\n'
    entry = engines_entry(PATH, text, "cpu")
    assert entry is not None and entry["engines"]["Alpha"] == "cpu"
    assert entry["status"] == "ok"
    shown = [k for k in entry["engines"] if k != "Alpha"]
    assert len(shown) == 1 and "\x1b" not in shown[0]
    assert "\n" not in entry["engines"][shown[0]]
