"""The local fleet: real Debian nodes booted with systemd-nspawn, for the demo, the tests and the
benchmarks. Standard library only, so it runs before any virtualenv exists.

    python -m devfleet up --nodes 6 | down | status | reset
"""
