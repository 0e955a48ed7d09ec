"""gevent's subprocess, started the way the standard library starts a child (for test workers).

Once the standard library is patched for gevent (as pyinfra's CLI does, and as each pytest-xdist
worker does before its first test: tests/conftest.py), ``subprocess.Popen`` is gevent's: it forks
the whole interpreter and runs Python in the child until ``exec``. From a test worker (a few hundred
MB of pages to mark copy-on-write and fault back in) that costs about 10 ms of CPU per process,
and a unit run starts several hundred (git, sh, rsync, the standin). The standard library starts
a child with ``vfork`` in C (about 1 ms).

``Popen`` here is gevent's ``Popen`` (its cooperative pipes, ``wait``, ``communicate`` and
timeouts are untouched) whose child is started by the standard library's own ``_execute_child``,
from a private copy of the ``subprocess`` module, so the C ``fork_exec`` of this Python version
does the work. The child is then handed to gevent exactly as ``gevent.os.fork_and_watch`` hands
over a forked one (a child watcher registered before the hub runs again), so its exit status
reaches ``wait`` and ``waitpid`` even when libev's SIGCHLD handler reaps it.

One detail makes the standard library's code hang if it runs with gevent's ``os`` module: gevent
(25.8+) patches ``os.close`` to defer closing a pipe to the next loop iteration, so the
standard library's blocking read of its exec-error pipe would never see the end of the pipe it
has just "closed". The private copy gets the unpatched ``os.close`` (none of the descriptors it
closes is watched by the hub: they are the child's ends and the error pipe).

A ``preexec_fn`` (Python to run in the child) keeps gevent's own fork. Where this Python's
``_execute_child`` does not take the arguments gevent passes, ``install`` changes nothing.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import types

from gevent import monkey
from gevent import os as gevent_os
from gevent import subprocess as gevent_subprocess


def _stdlib_subprocess() -> types.ModuleType:
    """A private copy of the standard library's subprocess module (gevent patches the shared one)."""
    spec = importlib.util.find_spec("subprocess")
    assert spec is not None and spec.origin is not None
    copy_spec = importlib.util.spec_from_file_location("_tests_stdlib_subprocess", spec.origin)
    assert copy_spec is not None and copy_spec.loader is not None
    module = importlib.util.module_from_spec(copy_spec)
    copy_spec.loader.exec_module(module)
    real_os = types.ModuleType("os")
    real_os.__dict__.update(os.__dict__)
    real_os.close = monkey.get_original("os", "close")
    module.os = real_os  # type: ignore[attr-defined]
    # os.posix_spawn would need the standard library's own Popen (self._posix_spawn)
    module._USE_POSIX_SPAWN = False  # type: ignore[attr-defined]
    return module


_STDLIB = _stdlib_subprocess()
_STDLIB_EXECUTE_CHILD = _STDLIB.Popen._execute_child


_GEVENT_EXECUTE_CHILD = inspect.signature(gevent_subprocess.Popen._execute_child)


class Popen(gevent_subprocess.Popen):
    """gevent's Popen; the child is started by the standard library's vfork/exec."""

    _close_pipe_fds = _STDLIB.Popen._close_pipe_fds

    def _execute_child(self, *args, **kwargs):  # gevent's arguments, as run() and call() pass them
        given = _GEVENT_EXECUTE_CHILD.bind(self, *args, **kwargs).arguments
        if given["preexec_fn"] is not None:
            return super()._execute_child(*args, **kwargs)
        self._loop.install_sigchld()
        del given["universal_newlines"]  # the standard library's takes the rest, in this order
        if given["process_group"] is None:  # gevent's default; the standard library's is -1
            given["process_group"] = -1
        _STDLIB_EXECUTE_CHILD(*given.values())
        # what gevent.os.fork_and_watch does after its fork, before the hub can run
        gevent_os._watch_child(self.pid, self._on_child, self._loop, True)
        return None


def _same_arguments() -> bool:
    """The standard library's _execute_child takes what gevent's is given, and gevent still
    watches a child the way this module hands one over."""
    ours = list(_GEVENT_EXECUTE_CHILD.parameters)
    ours.remove("universal_newlines")
    return ours == list(inspect.signature(_STDLIB_EXECUTE_CHILD).parameters) and hasattr(
        gevent_os, "_watch_child"
    )


def install() -> bool:
    """Make ``subprocess.Popen`` (and so ``run``, ``check_output``...) this one, in a process the
    standard library is patched for gevent in. False (nothing changed) where the arguments
    differ from what this module was written against."""
    if not monkey.is_module_patched("subprocess") or not _same_arguments():
        return False
    gevent_subprocess.Popen = Popen  # type: ignore[misc]  # run(), call()... look it up here
    subprocess.Popen = Popen  # type: ignore[misc]
    return True
