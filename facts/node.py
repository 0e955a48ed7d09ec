"""
What a node holds and runs, in one command: installed model versions (manifest digest, completeness,
optionally re-hashed), leftover staging, node-owned face files that differ from the store, the
config files' contents, service states, a datasink's face lists, the last health gate and, on
Coral hosts, the runtime's versions.

.. code:: python

    from facts.node import NodeState
    host.get_fact(NodeState, roots=["/home/ops/sentinel/models"],
                  configs=["/home/ops/sentinel/tasks/GetFaces.yaml"], services=["sentinel"])
"""

from __future__ import annotations

from pyinfra.api import FactBase

from sentinelcam_models.core import nodestate

from .shell import script, words


class NodeState(FactBase[nodestate.NodeState]):
    """
    Parsed into ``sentinelcam_models.core.nodestate.NodeState``; lines whose names do not validate
    are dropped (a node cannot forge its own status).
    """

    @staticmethod
    def default() -> nodestate.NodeState:
        return nodestate.NodeState()

    def requires_command(self, *args, **kwargs) -> str:
        return "sha256sum"

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
        return script(
            "node_state.sh",
            {
                "roots": words(roots),
                "configs": words(configs),
                "services": words(services),
                "facelists": facelists,
                "deep": "1" if deep else "0",
                "owned": words(owned or ()),
                "health": health,
                "coral_package": coral_package,
                "coral_venvs": words(coral_venvs or ()),
            },
        )

    def process(self, output: list[str]) -> nodestate.NodeState:
        roots, configs, owned = getattr(self, "_asked", ([], [], []))
        return nodestate.parse(output, roots, configs, owned)
