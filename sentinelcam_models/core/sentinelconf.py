"""What a sentinel's ``sentinel.yaml`` says about accelerators, read only (the sentinel role owns
the file; sentinelcam-configs.md §3.1).

The sentinel loads each task's models with the accelerator of the engine that runs the job
(``task_engines.<E>.accelerator``), while the task files the deploy writes follow the inventory's
``sentinel_accelerator_type``. GetFaces and MobileNetSSD_allFrames run on the engines of their
``task_list`` class (1 by default: Alpha): when those engines say another accelerator, every
GetFaces job loads the wrong model, silently. Such a sentinel is refused with one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from . import catalog, untrusted
from .yamlstrict import load

# The model task files whose content follows sentinel_accelerator_type (§3.3, §3.4).
ACCELERATED_TASKS = (catalog.GET_FACES, catalog.MOBILENET_ALL_FRAMES)


def _stem(name: str) -> str:
    return name[: -len(".yaml")] if name.endswith(".yaml") else name


def engine_accelerators(text: str | None) -> dict[str, str]:
    """``task_engines.<E>.accelerator`` for every engine that names one (``{}`` when the file is
    absent or not the expected shape)."""
    if not text:
        return {}
    doc, problems = load("sentinel.yaml", text)
    if doc is None or problems or not isinstance(doc.data, dict):
        return {}
    engines = doc.data.get("task_engines")
    if not isinstance(engines, dict):
        return {}
    return {
        str(engine): str(spec["accelerator"])
        for engine, spec in engines.items()
        if isinstance(spec, dict) and isinstance(spec.get("accelerator"), str | int | float)
    }


def _accelerated_classes(data: Mapping) -> set[int]:
    """The job classes GetFaces/MobileNetSSD_allFrames run in, from ``task_list`` (default 1)."""
    stems = {_stem(name) for name in ACCELERATED_TASKS}
    classes = set()
    tasks = data.get("task_list")
    for name, spec in tasks.items() if isinstance(tasks, dict) else ():
        if not isinstance(spec, dict):
            continue
        config = str(spec.get("config", "")).rsplit("/", 1)[-1]
        if {str(name), str(spec.get("alias", "")), _stem(config)} & stems:
            value = spec.get("class", 1)
            if isinstance(value, int) and not isinstance(value, bool):
                classes.add(value)
    return classes or {1}


def accelerator_refusal(path: str, text: str | None, accelerator: str) -> str | None:
    """One line when an engine that runs GetFaces/MobileNetSSD_allFrames names an accelerator other
    than ``sentinel_accelerator_type`` (``accelerator``); None when they agree or the file is absent."""
    if text is None:
        return None
    doc, problems = load(path, text)
    if doc is None or problems:
        return str(problems[0]) if problems else f"{path}: not YAML"
    data = doc.data if isinstance(doc.data, dict) else {}
    engines = data.get("task_engines")
    if not isinstance(engines, dict):
        return f"{path}: no task_engines mapping (the sentinel role writes it)"
    classes = _accelerated_classes(data)
    for engine, spec in engines.items():
        if not isinstance(spec, dict):
            continue
        runs = spec.get("classes")
        runs = runs if isinstance(runs, list) else [runs]
        value = spec.get("accelerator", "cpu")
        if classes & {c for c in runs if isinstance(c, int)} and str(value) != accelerator:
            return (
                f"{path}: task_engines.{engine}.accelerator is {value}, sentinel_accelerator_type "
                f"is {accelerator}; make them agree (the engine's accelerator decides how GetFaces "
                "loads its model)"
            )
    return None


_WORD = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
ENGINES_CAP = 32  # engines reported per sentinel (the role writes three)


def _shown(value: object) -> str:
    """A node's word as it may be printed: a word, else its escaped, capped repr."""
    text = str(value)
    return text if _WORD.fullmatch(text) else untrusted.short(repr(text), 40)


def engines_entry(path: str, text: str | None, accelerator: str) -> dict | None:
    """Drift's ``accelerators`` entry for a sentinel: the accelerator ``sentinel.yaml`` gives each
    task engine (read only; an engine without one runs on ``cpu``), ``sentinel_accelerator_type``,
    and ``ok`` when every engine that runs GetFaces/MobileNetSSD_allFrames agrees with it, else
    ``drift`` with the refusal line. None when the node has no such file."""
    if text is None:
        return None
    doc, problems = load(path, text)
    data = doc.data if doc is not None and not problems and isinstance(doc.data, dict) else {}
    engines = data.get("task_engines")
    found = {
        _shown(engine): _shown(spec.get("accelerator", "cpu"))
        for engine, spec in list(engines.items() if isinstance(engines, dict) else ())[:ENGINES_CAP]
        if isinstance(spec, dict)
    }
    refusal = accelerator_refusal(path, text, accelerator)
    return {
        "sentinel_accelerator_type": accelerator,
        "engines": found,
        "status": "drift" if refusal else "ok",
        "detail": refusal or "",
    }
