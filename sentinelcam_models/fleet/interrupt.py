"""Ctrl-C always reaches the command, even while pyinfra's engine runs.

pyinfra patches threading with gevent, so paramiko's transport threads are greenlets on the main
thread. Python runs a signal handler in whatever greenlet is current; a KeyboardInterrupt raised in a
"thread" is printed and swallowed by threading, and the command goes on (a rollout the operator
stopped would carry on to its next wave). This handler sends the interrupt to the main greenlet.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    greenlet = sys.modules.get("greenlet")
    if greenlet is not None:
        current = greenlet.getcurrent()
        root = current
        while root.parent is not None:
            root = root.parent
        if current is not root:
            root.throw(KeyboardInterrupt)  # switches to the main greenlet and raises there
            return
    raise KeyboardInterrupt


def deliver_to_main() -> None:
    """Install the handler, unless SIGINT is ignored (a background job keeps ignoring it)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)
