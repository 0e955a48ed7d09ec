"""
pyinfra's settings for this checkout. pyinfra's CLI runs this file before it loads the inventory
(``pyinfra -y inventories/production.py deploys/models.py``), and so does every sentinelcam-models
command that deploys (sentinelcam_models/fleet/pyinfrarun.py).

A run ends without a last garbage collection. On its way out the interpreter walks every object
the process holds (pyinfra, paramiko, gevent and the run: about 60,000) to find the few in
reference cycles. On a 20-node first rollout that walk took about 80 ms of one core after the last
host had finished: 2% of the rollout, in its serial tail (benchmarks/profile_first.py,
"Disconnecting from hosts"). Frozen objects are not walked. The process is ending: what a
collection would free goes with it, and the files this project writes are closed by the code
that writes them (``with`` blocks), never left for the collector to close.
"""

import atexit
import gc

atexit.unregister(gc.freeze)  # registered once, however many runs in one process read this file
atexit.register(gc.freeze)
