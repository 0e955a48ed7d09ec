"""Custom pyinfra facts: what a node holds and runs, and what a datasink's sshd accepts.

Each fact answers in one command per host; their shell bodies live in ``facts/scripts/*.sh``
(checked by shellcheck) and their answers are parsed by the pure core.
"""

from .output import install as _install_escaped_output

_install_escaped_output()  # node text is printed escaped in every run that uses these facts
