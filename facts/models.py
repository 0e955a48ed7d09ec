"""
Facts about model versions: what a node holds under its models path, and what the store holds.

Each fact answers in one command per host, so "what is installed" costs one round trip however many
models and versions there are.

.. code:: python

    from facts.models import InstalledModels
    host.get_fact(InstalledModels, models_path="/home/ops/sentinel/models")
"""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand

MANIFEST = "MANIFEST.sha256"

# Lists every {model}/{version} directory with the sha256 of its manifest and whether every file
# the manifest names is present ("complete"), plus leftover hidden staging directories.
_INSTALLED_SCRIPT = r"""
type deep >/dev/null 2>&1 || deep() { :; }
[ -d "$root" ] || exit 0
cd "$root" || exit 0
for m in *; do
  [ -d "$m" ] || continue
  for v in "$m"/* "$m"/.[!.]*; do
    [ -d "$v" ] || continue
    n=${v#*/}
    case "$n" in
      .*) echo "S $m $n" ;;
      [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9])
        if [ -f "$v/MANIFEST.sha256" ]; then
          d=$(sha256sum < "$v/MANIFEST.sha256" | cut -c1-64)
          c=1
          while read -r h f; do [ -f "$v/$f" ] || { c=0; break; }; done < "$v/MANIFEST.sha256"
          echo "V $m $n $d $c$(deep "$v")"
        else
          echo "V $m $n - 0"
        fi ;;
    esac
  done
done
"""


class InstalledModels(FactBase):
    """
    Model versions under a node's models path.

    .. code:: python

        {
            "face_recognition": {
                "versions": {"2026-02-02": {"digest": "ab12…", "complete": True}},
                "staging": [".2026-03-01.partial"],
            },
        }
    """

    default = dict

    def requires_command(self, models_path: str, deep: bool = False) -> str:
        return "sha256sum"

    def command(self, models_path: str, deep: bool = False):
        # deep: re-hash every version against its manifest ("intact"), as `drift --deep` does.
        return StringCommand(_DEEP if deep else "", "root=", QuoteString(models_path), _INSTALLED_SCRIPT,
                             _separator="")

    def process(self, output):
        models: dict[str, dict] = {}
        for line in output:
            parts = line.split()
            if len(parts) in (5, 6) and parts[0] == "V":
                model, version, digest, complete = parts[1:5]
                entry = models.setdefault(model, {"versions": {}, "staging": []})
                info = {"digest": None if digest == "-" else digest, "complete": complete == "1"}
                if len(parts) == 6:  # NodeModels(deep=True): re-hashed against the manifest
                    info["intact"] = parts[5] == "1"
                entry["versions"][version] = info
            elif len(parts) == 3 and parts[0] == "S":
                models.setdefault(parts[1], {"versions": {}, "staging": []})["staging"].append(parts[2])
        return models


class StoreManifests(FactBase):
    """
    The manifest digest of each wanted ``model/version`` in the store on the primary datasink.

    .. code:: python

        {"face_recognition/2026-02-02": "ab12…", "haarcascades/2019-01-01": None}
    """

    default = dict

    def requires_command(self, store: str, wanted: list[str]) -> str:
        return "sha256sum"

    def command(self, store: str, wanted: list[str]):
        bits: list = ["cd", QuoteString(store), "2>/dev/null || { echo NOSTORE; exit 0; }; for mv in"]
        bits += [QuoteString(item) for item in wanted] or ["''"]
        bits.append(
            '; do if [ -f "$mv/MANIFEST.sha256" ]; then '
            'echo "$mv $(sha256sum < "$mv/MANIFEST.sha256" | cut -c1-64)"; '
            'else echo "$mv -"; fi; done'
        )
        return StringCommand(*bits)

    def process(self, output):
        if output and output[0] == "NOSTORE":
            return {"__nostore__": None}
        found = {}
        for line in output:
            item, _, digest = line.partition(" ")
            if item:
                found[item] = None if digest in ("", "-") else digest
        return found


class Facelist(FactBase):
    """
    A datasink's face-list files: versioned copies present and where ``facelist_current.csv`` points.

    .. code:: python

        {"files": ["facedata_2026-02-02.hdf5", "facelist_2026-02-02.csv"], "current": "facelist_2026-02-02.csv"}
    """

    default = dict

    def command(self, directory: str):
        return StringCommand(
            "cd", QuoteString(directory), "2>/dev/null || exit 0;",
            "for f in facelist_*.csv facedata_*.hdf5; do [ -f \"$f\" ] && [ ! -L \"$f\" ] && echo \"F $f\"; done;",
            "[ -L facelist_current.csv ] && echo \"L $(readlink facelist_current.csv)\"; true",
        )

    def process(self, output):
        result = {"files": [], "current": None}
        for line in output:
            kind, _, value = line.partition(" ")
            if kind == "F":
                result["files"].append(value)
            elif kind == "L":
                result["current"] = value
        result["files"].sort()
        return result


_memo: dict = {}


def installed_models(host, models_path: str) -> dict:
    """InstalledModels for this host, read once per run (a deploy asks for it once per model).

    The state a version is judged by is the one before this run: installing one version never
    changes whether another is present, so the pre-run answer stays right for every operation.
    With host data ``verify_models=deep`` (``--data verify_models=deep``) every installed file is
    re-hashed, so a corrupted version is reinstalled.
    """
    from pyinfra import state

    current = state._get_module()
    real_host = host._get_module() if hasattr(host, "_get_module") else host
    key = (id(current), id(real_host), models_path)
    cached = _memo.get(key)
    if cached is None or cached[0] is not current or cached[1] is not real_host:
        deep = {"deep": True} if host.data.get("verify_models") == "deep" else {}
        cached = _memo[key] = (current, real_host, host.get_fact(InstalledModels, models_path=models_path, **deep))
    return cached[2]


# Re-hash a version against its manifest, node-owned face list files left out (they change on
# the node by design). Prints " 1" (matches) or " 0".
_DEEP = r"""
deep() {
  if (cd "$1" && grep -Ev '  (facelist\.csv|facedata\.hdf5)$' MANIFEST.sha256 | sha256sum -c --quiet --strict - >/dev/null 2>&1)
  then echo " 1"; else echo " 0"; fi
}
"""

_ACTIVE = r"""
for f in $configs; do
  [ -f "$f" ] || continue
  grep -ohE "/[A-Za-z0-9._/+-]+/[a-z0-9_]+/[0-9]{4}-[0-9]{2}-[0-9]{2}(/|$)|facelist_[0-9]{4}-[0-9]{2}-[0-9]{2}\.csv" "$f" \
    | sed -e 's|\([0-9]\)$|\1/|' -e "s|^|A $f |"
done
for s in $services; do echo "U $s $(systemctl is-active "$s" 2>/dev/null || true)"; done
if [ -n "$facelists" ] && [ -d "$facelists" ]; then
  for f in "$facelists"/facelist_*.csv; do [ -f "$f" ] && [ ! -L "$f" ] && echo "L ${f##*/}"; done
fi
true
"""


class NodeModels(FactBase):
    """
    Everything "what runs where" needs from one node, in one command: the installed versions under
    each models path, the model versions the deployed configs reference (read from the configs
    themselves), and the state of the services.

    .. code:: python

        {
            "installed": {"/home/ops/sentinel/models": {"face_recognition": {"versions": {...}, "staging": []}}},
            "active": {"/home/ops/sentinel.yaml": ["/home/ops/sentinel/models/face_recognition/2026-02-02/"]},
            "services": {"sentinel": "active"},
        }

    With ``deep=True`` every installed version is re-hashed and carries ``"intact": True|False``.
    """

    default = dict

    def requires_command(self, models_paths, configs, services, facelists="", deep=False) -> str:
        return "sha256sum"

    def command(self, models_paths: list[str], configs: list[str], services: list[str],
                facelists: str = "", deep: bool = False):
        bits: list = [_DEEP if deep else ""]
        for index, path in enumerate(models_paths):
            bits += [f"echo 'P {index}' ", QuoteString(path), "\n(root=", QuoteString(path), _INSTALLED_SCRIPT,
                     f") | sed 's/^/{index} /'\n"]
        bits += ["configs=", QuoteString(" ".join(configs)), "\nservices=", QuoteString(" ".join(services)),
                 "\nfacelists=", QuoteString(facelists), _ACTIVE]
        return StringCommand(*bits, _separator="")

    def process(self, output):
        result: dict = {"installed": {}, "active": {}, "services": {}, "facelists": []}
        paths: dict[str, str] = {}
        sections: dict[str, list[str]] = {}
        for line in output:
            head, _, rest = line.partition(" ")
            if head == "P":
                index, _, path = rest.partition(" ")
                paths[index] = path
                sections[index] = []
            elif head in sections:
                sections[head].append(rest)
            elif head == "A":
                config, _, ref = rest.partition(" ")
                result["active"].setdefault(config, []).append(ref)
            elif head == "U":
                service, _, status = rest.partition(" ")
                result["services"][service] = status or "unknown"
            elif head == "L":
                result["facelists"].append(rest)
        for index, path in paths.items():
            result["installed"][path] = InstalledModels().process(sections[index])
        return result


class StoreVersionCheck(FactBase):
    """
    Re-hash one store version against its manifest on the datasink: ``"ok"``, ``"missing"``,
    ``"nomanifest"`` or ``"mismatch"``.
    """

    def requires_command(self, store: str, model: str, version: str) -> str:
        return "sha256sum"

    def command(self, store: str, model: str, version: str):
        return StringCommand(
            "cd", QuoteString(f"{store}/{model}/{version}"), "2>/dev/null || { echo missing; exit 0; };",
            "[ -f MANIFEST.sha256 ] || { echo nomanifest; exit 0; };",
            "if sha256sum -c --quiet --strict MANIFEST.sha256 >/dev/null 2>&1; then echo ok; else echo mismatch; fi",
        )

    def process(self, output):
        return output[0].strip() if output else None


class ConfigReferences(FactBase):
    """
    The model version directories and face lists the given config files name (read from the files
    themselves), so nothing they reference is ever pruned.

    .. code:: python

        ["/home/ops/sentinel/models/face_recognition/2026-02-02/", "facelist_2026-02-02.csv"]
    """

    default = list

    def command(self, configs: list[str]):
        return StringCommand("configs=", QuoteString(" ".join(configs)), "\nservices=''\nfacelists=''", _ACTIVE,
                             _separator="")

    def process(self, output):
        return sorted({line.split(" ", 2)[2] for line in output if line.startswith("A ") and line.count(" ") >= 2})
