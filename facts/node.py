"""
What a node holds and runs, in one command: installed model versions (manifest digest, completeness,
optionally re-hashed), leftover staging, node-owned face files that differ from the store, the
config files' contents, service states, a datasink's face lists, the last health gate and, on
Coral hosts, the runtime's versions.

.. code:: python

    from facts.node import NodeState
    host.get_fact(NodeState, roots=["/home/ops/sentinel/models"],
                  configs=["/home/ops/sentinel/tasks/GetFaces.yaml"], services=["sentinel"],
                  _timeout=NodeState.timeout(deep=False))
"""

from __future__ import annotations

import json

from pyinfra.api import FactBase, QuoteString, StringCommand

from sentinelcam_models.core import nodestate

from .shell import PYTHON, body

# The node-side limit (coreutils ``timeout``) and the controller's (``_timeout`` on the SSH
# channel, a few seconds later): a node that hangs or streams fails alone.
TIMEOUT = 120
DEEP_TIMEOUT = 900


class NodeState(FactBase[nodestate.NodeState]):
    """
    Parsed into ``sentinelcam_models.core.nodestate.NodeState`` from one JSON document
    (``operations/scripts/node_state.py``, run by the node's ``python3 -I -S``). An answer that is not
    such a document gives a NodeState whose ``failure`` names why: that host alone is refused.
    """

    @staticmethod
    def default() -> nodestate.NodeState:
        return nodestate.NodeState(failure="node state refused: the node sent no answer")

    @staticmethod
    def timeout(deep: bool = False) -> int:
        """The ``_timeout`` to pass with the fact (seconds)."""
        return (DEEP_TIMEOUT if deep else TIMEOUT) + 15

    def command(
        self,
        roots: list[str],
        configs: list[str],
        services: list[str],
        facelists: str = "",
        deep: bool = False,
        owned: list[str] | None = None,
        health: str = "",
        coral_package: str = "",
        coral_venvs: list[str] | None = None,
    ):
        # The answer names paths by index: process() maps them back with what was asked.
        self._asked = (list(roots), list(configs), list(owned or ()))
        request = {
            "roots": list(roots),
            "configs": list(configs),
            "services": list(services),
            "facelists": facelists,
            "deep": bool(deep),
            "owned": list(owned or ()),
            "health": health,
            "coral_package": coral_package,
            "coral_venvs": list(coral_venvs or ()),
        }
        return StringCommand(
            "timeout",
            "-k",
            "5",
            str(DEEP_TIMEOUT if deep else TIMEOUT),
            *PYTHON,
            "-c",
            QuoteString(body("node_state.py")),
            QuoteString(json.dumps(request, sort_keys=True)),
        )

    def process(self, output: list[str]) -> nodestate.NodeState:
        roots, configs, owned = getattr(self, "_asked", ([], [], []))
        return nodestate.parse(output, roots, configs, owned)
