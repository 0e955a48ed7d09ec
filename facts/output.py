"""Text from a node, printed escaped and on one line wherever a deploy shows it.

pyinfra prints a failed command's or fact's output as the node sent it: escape sequences from a
node would reach the operator's terminal (a title change, a cleared screen, a faked "success").
``print_node_output`` prints each line through ``problems.one_line`` (control characters shown as
``\\x1b``, ``\\r``...), keeping pyinfra's own colours; ``install`` makes pyinfra's operation and fact
runners use it. Every deploy and the fleet queries import this package, so it is installed there.
"""

from __future__ import annotations

import logging
from typing import Any

from pyinfra.api import facts as _facts
from pyinfra.api import operations as _operations
from pyinfra.api.util import format_text

from sentinelcam_models.core.problems import one_line

logger = logging.getLogger("pyinfra")


def node_text(text: object) -> str:
    """One printable line of a node's text."""
    return one_line(str(text))


def print_node_output(host: Any, output: Any) -> None:
    """pyinfra's ``print_host_combined_output``, each line escaped."""
    for line in output:
        shown = node_text(line.line)
        if line.buffer_name == "stderr":
            logger.error(f"{host.print_prefix}{format_text(shown, 'red')}")
        else:
            logger.error(f"{host.print_prefix}{shown}")


def install() -> None:
    """Route pyinfra's printing of failed commands and facts through ``print_node_output``."""
    _operations.print_host_combined_output = print_node_output
    _facts.print_host_combined_output = print_node_output
