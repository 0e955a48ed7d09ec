"""Typed access to a parsed config (Cfg), with one-line errors naming file and key path."""

import ast
import json

from .loading import ConfigError, MissingKey

# ------------------------------------------------------------------------------------------------
# Typed access to a parsed config, with one-line errors naming file and key path

KINDS = {
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "number": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "map": (lambda v: isinstance(v, dict), "a mapping"),
    "list": (lambda v: isinstance(v, list), "a list"),
}


class Cfg:
    """A mapping inside a config file; ``req``/``opt`` read keys the way the service code does."""

    def __init__(self, data, file, path=()):
        self.data, self.file, self.path = data, file, path
        if not isinstance(data, dict):
            raise ConfigError(
                f"{file}: {self.dotted() or 'the document'} must be a mapping, not {describe(data)}"
            )

    def dotted(self, key=None):
        return ".".join(str(p) for p in (*self.path, *([] if key is None else [key])))

    def names(self):
        return list(self.data)

    def check(self, key, value, kind):
        ok, desc = KINDS[kind]
        if not ok(value):
            raise ConfigError(
                f"{self.file}: {self.dotted(key)} must be {desc}, not {describe(value)}"
            )
        return value

    def req(self, key, kind):
        if key not in self.data:
            raise MissingKey(f"{self.file}: {self.dotted(key)} is missing")
        return self.check(key, self.data[key], kind)

    def opt(self, key, kind, default=None, nullable=False):
        if key not in self.data or (nullable and self.data[key] is None):
            return default
        return self.check(key, self.data[key], kind)

    def sub(self, key, required=True):
        if key not in self.data and not required:
            return None
        return Cfg(self.req(key, "map"), self.file, (*self.path, key))

    def one_of(self, key, value, allowed):
        if value not in allowed:
            raise ConfigError(
                f"{self.file}: {self.dotted(key)} is {value!r}, not one of {', '.join(allowed)}"
            )
        return value

    def tuple_literal(self, key, shape):
        """A Python tuple literal string (ast.literal_eval'd by the service), e.g. "(640, 480)"."""
        text = self.req(key, "str")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
        if not shape(value):
            raise ConfigError(
                f"{self.file}: {self.dotted(key)} is {text!r}, not a tuple literal "
                "of the expected shape"
            )
        return value


def describe(value):
    return f"{type(value).__name__} {json.dumps(value, default=str)[:40]}"


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_size(v):
    """(width, height)"""
    return isinstance(v, tuple) and len(v) == 2 and all(is_int(x) and x > 0 for x in v)


def is_ring(v):
    """((width, height), buffer_length)"""
    return isinstance(v, tuple) and len(v) == 2 and is_size(v[0]) and is_int(v[1]) and v[1] > 0


def is_roi(v):
    """((x1, y1), (x2, y2))"""
    return (
        isinstance(v, tuple)
        and len(v) == 2
        and all(isinstance(p, tuple) and len(p) == 2 and all(is_int(x) for x in p) for p in v)
    )


def dictconfig(c):
    """A logging.config.dictConfig map: dictConfig refuses one without ``version: 1``."""
    if c.req("version", "int") != 1:
        raise ConfigError(f"{c.file}: {c.dotted('version')} must be 1 (logging.config.dictConfig)")
    return c.sub("handlers")


def non_empty(c):
    if not c.data:
        raise ConfigError(f"{c.file}: {c.dotted()} is empty")
    return c
