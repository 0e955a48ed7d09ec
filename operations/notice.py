"""
Refuse a host: a failing operation that names why, so the run reports the host as failed and
its remaining operations do not run (other hosts go on).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra.api import QuoteString, StringCommand, operation


@operation(is_idempotent=False)
def refuse(reasons: Sequence[str]):
    """
    Fail this host with one line per reason; nothing else runs on it after this point.

    + reasons: what the operator must fix, one line each

    **Example:**

    .. code:: python

        notice.refuse(name="Configs refused", reasons=["/home/ops/imagenode.yaml does not exist yet"])
    """
    bits: list = []
    for reason in reasons:
        bits += ["echo", QuoteString(f"sentinelcam: refused: {reason}"), ">&2;"]
    yield StringCommand(*bits, "exit", "1")
