"""Custom pyinfra facts: what a node holds and runs, and what a datasink's sshd accepts.

Each fact answers in one command per host; their shell bodies live in ``facts/scripts/*.sh``
(checked by shellcheck) and their answers are parsed by the pure core.
"""
