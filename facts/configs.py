"""
Digests of config files, so a deploy compares every rendered config in one round trip.

.. code:: python

    from facts.configs import FileDigests
    host.get_fact(FileDigests, paths=["/home/ops/sentinel.yaml"])
"""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand


class FileDigests(FactBase):
    """
    sha256 of each file, or None where it is absent:

    .. code:: python

        {"/home/ops/sentinel.yaml": "ab12…", "/home/ops/imagenode.yaml": None}
    """

    default = dict

    def requires_command(self, paths: list[str]) -> str:
        return "sha256sum"

    def command(self, paths: list[str]):
        bits: list = ["for f in"]
        bits += [QuoteString(p) for p in paths] or ["''"]
        bits.append('; do if [ -f "$f" ]; then echo "$(sha256sum < "$f" | cut -c1-64) $f"; else echo "- $f"; fi; done')
        return StringCommand(*bits)

    def process(self, output):
        digests = {}
        for line in output:
            digest, _, path = line.partition(" ")
            if path:
                digests[path] = None if digest == "-" else digest
        return digests
