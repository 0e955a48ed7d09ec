"""
Facts about the Coral EdgeTPU runtime: the versions a node has installed, and the store's copies.

.. code:: python

    from facts.coral import CoralRuntime
    host.get_fact(CoralRuntime, package="libedgetpu1-std", venvs=["/home/ops/.virtualenvs/py3cv4"],
                  pip_packages=["tflite_runtime", "pycoral"])
"""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand

# Run with a virtualenv's python: prints "P <index> <package> <version or ->" per package.
_PIP_VERSIONS = (
    "import sys\n"
    "from importlib import metadata\n"
    "for name in sys.argv[2:]:\n"
    "    try:\n"
    "        version = metadata.version(name)\n"
    "    except metadata.PackageNotFoundError:\n"
    "        version = '-'\n"
    "    print('P', sys.argv[1], name, version)\n"
)


class CoralRuntime(FactBase):
    """
    The installed libedgetpu package version (dpkg) and the pip versions of the Coral Python
    packages in each virtualenv, in one command.

    .. code:: python

        {
            "libedgetpu": "16.0tf2.17.1-1",      # None: not installed (or only half installed)
            "venvs": {"/home/ops/.virtualenvs/py3cv4": {"tflite_runtime": "2.17.1", "pycoral": None}},
            "rule": "ab12…",                     # with rule=PATH: sha256 of that file (absent: no file)
        }

    A virtualenv that does not exist (no ``bin/python``) is absent from ``venvs``.
    """

    @staticmethod
    def default():
        return {"libedgetpu": None, "venvs": {}}

    def command(self, package: str, venvs: list[str], pip_packages: list[str], rule: str = ""):
        bits: list = [
            "if command -v dpkg-query >/dev/null 2>&1; then dpkg-query -W -f='D ${db:Status-Abbrev} ${Version}\\n'",
            QuoteString(package), "2>/dev/null || true; fi;",
        ]
        if rule:
            bits += ["[ -f", QuoteString(rule), "] && echo \"R $(sha256sum <", QuoteString(rule), "| cut -c1-64)\";"]
        for index, venv in enumerate(venvs):
            python = QuoteString(f"{venv}/bin/python")
            bits += ["if [ -x", python, "]; then echo", QuoteString(f"V {index} {venv}"), ";", python, "-c",
                     QuoteString(_PIP_VERSIONS), str(index), *[QuoteString(name) for name in pip_packages],
                     "2>/dev/null; fi;"]
        bits.append("true")
        return StringCommand(*bits)

    def process(self, output):
        result: dict = {"libedgetpu": None, "venvs": {}}
        venvs: dict[str, dict] = {}
        for line in output:
            kind, _, rest = line.partition(" ")
            if kind == "D":
                status, _, version = rest.strip().partition(" ")
                if status == "ii" and version.strip():
                    result["libedgetpu"] = version.strip()
            elif kind == "R":
                result["rule"] = rest.strip()
            elif kind == "V":
                index, _, path = rest.partition(" ")
                venvs[index] = result["venvs"][path] = {}
            elif kind == "P":
                parts = rest.split()
                if len(parts) == 3 and parts[0] in venvs:
                    venvs[parts[0]][parts[1]] = None if parts[2] == "-" else parts[2]
        return result


class StoreCoralFiles(FactBase):
    """
    The sha256 of each named file in the store's ``coral_packages/`` on the primary datasink.

    .. code:: python

        {"libedgetpu1-std_16.0tf2.17.1-1.bookworm_arm64.deb": "ab12…", "pycoral-2.0.3-….whl": None}
    """

    default = dict

    def requires_command(self, directory: str, files: list[str]) -> str:
        return "sha256sum"

    def command(self, directory: str, files: list[str]):
        bits: list = ["cd", QuoteString(directory), "2>/dev/null || exit 0; for f in"]
        bits += [QuoteString(name) for name in files] or ["''"]
        bits.append('; do if [ -f "$f" ]; then echo "$(sha256sum < "$f" | cut -c1-64) $f"; else echo "- $f"; fi; done')
        return StringCommand(*bits)

    def process(self, output):
        found = {}
        for line in output:
            digest, _, name = line.partition(" ")
            if name:
                found[name] = None if digest == "-" else digest
        return found
