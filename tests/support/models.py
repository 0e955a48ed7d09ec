"""Small model files of the format their names say, for unit tests (devfleet.modelgen, without a
fleet: the pickle, HDF5 and cascade are the standard-library stand-ins that pass the checks)."""

from __future__ import annotations

from devfleet import modelgen


def valid(name: str, seed: str = "", size: int = 1024) -> bytes:
    return modelgen.file_bytes(name, size, seed or name, modelgen.STDLIB_TEMPLATES)
