"""
pyinfra's settings for this checkout. pyinfra's CLI runs this file when started in the checkout's
top directory (``pyinfra -y inventories/production.py deploys/models.py``), before it loads the
inventory; a sentinelcam-models command that deploys runs it from the checkout it acts on, before
its in-process pyinfra run (sentinelcam_models/fleet/pyinfrarun.py).

The process ends without the garbage collections the interpreter runs on its way out, which walk
every object the process holds (pyinfra, paramiko, gevent and the run: about 60,000) to find the
few in reference cycles. That walk took about 80 ms of one core after the last host had finished:
a converged 20-node deploy took 1.22 s with this file and 1.31 s without, 0.52 s and 0.60 s of
the controller's CPU (benchmarks/exit_gc.py). Frozen objects are not walked.

What is given up: an object caught in a reference cycle is not finalized at exit (no ``__del__``,
no ``finally`` of a suspended generator, no ResourceWarning under ``-X dev``). So nothing in a
process that runs this file may rely on the collector at exit: files, locks and temporary
directories are closed by ``with`` and ``try``/``finally`` (a ``TemporaryDirectory`` left open is
still removed by ``weakref.finalize``'s own exit handler).
"""

import atexit
import gc

atexit.unregister(gc.freeze)  # registered once, however many runs in one process read this file
atexit.register(gc.freeze)
