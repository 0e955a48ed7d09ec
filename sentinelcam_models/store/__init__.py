"""The version store on the primary datasink, and the agent that serves it to remote callers.

``atomic`` (atomic writes, locks), ``local`` (the store on this machine) and ``agent`` (one JSON
command per run) use the standard library alone: ``bundle`` ships them, with the core modules they
need, as one program to the datasink's own python3.
"""
