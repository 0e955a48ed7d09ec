# What a node holds and runs, in one command (facts/node.py; parsed by sentinelcam_models.core.nodestate).
# Set before this body: roots configs services facelists deep owned health coral_package coral_venvs
# (space-separated lists of validated paths and names: they hold no spaces or glob characters).
: "${roots?}" "${configs?}" "${services?}" "${facelists?}" "${deep?}" "${owned?}" "${health?}"
: "${coral_package?}" "${coral_venvs?}"
LC_ALL=C
export LC_ALL
MLINE='^[0-9a-f]\{64\}  [A-Za-z0-9_+][A-Za-z0-9._+-]*\(/[A-Za-z0-9_+][A-Za-z0-9._+-]*\)*$'

# The manifest's lines for sha256sum -c: only well-formed lines, each path made relative ("./x"),
# node-owned files left out (they change on the node by design).
check_lines() {
    grep -e "$MLINE" "$1/MANIFEST.sha256" | while IFS= read -r line; do
        f=${line#*  }
        skip=0
        for o in $owned; do [ "$f" = "$o" ] && skip=1; done
        [ "$skip" = 1 ] || printf '%s  ./%s\n' "${line%%  *}" "$f"
    done
}

version_record() {  # $1 index, $2 model, $3 version, $4 directory
    v=$4
    case "$malformed" in *"
$v/MANIFEST.sha256
"*) echo "V $1 $2 $3 - 0"; return ;; esac
    d=""
    while read -r _vr_digest _vr_path; do
        [ "$_vr_path" = "$v/MANIFEST.sha256" ] && d=$_vr_digest
    done <<SUMS
$sums
SUMS
    if [ -z "$d" ]; then
        echo "V $1 $2 $3 - 0"
        return
    fi
    c=1
    while IFS= read -r line; do
        f=${line#*  }
        { [ -f "$v/$f" ] && [ ! -L "$v/$f" ]; } || { c=0; break; }
    done < "$v/MANIFEST.sha256"
    intact=""
    if [ "$deep" = 1 ]; then
        if [ "$c" = 1 ] && (cd "$v" && check_lines . | sha256sum -c --quiet --strict - >/dev/null 2>&1); then
            intact=" 1"
        else
            intact=" 0"
        fi
    fi
    echo "V $1 $2 $3 $d $c$intact"
    for o in $owned; do
        [ -f "$v/$o" ] || continue
        want=""
        while IFS= read -r line; do
            [ "${line#*  }" = "$o" ] && want=${line%%  *}
        done < "$v/MANIFEST.sha256"
        [ -n "$want" ] || continue
        have=$(sha256sum < "$v/$o" | cut -c1-64)
        if [ "$have" = "$want" ]; then echo "F $1 $2 $3 $o 0"; else echo "F $1 $2 $3 $o 1"; fi
    done
}

# Every version directory first; then one sha256sum and one grep over all their manifests (not two
# processes per version: a node may hold dozens of versions), then one record per version.
versions=""
manifests=""
i=0
for root in $roots; do
    if [ -d "$root" ]; then
        for mdir in "$root"/*; do
            m=${mdir##*/}
            case $m in '' | *[!a-z0-9_]*) continue ;; esac
            { [ -d "$mdir" ] && [ ! -L "$mdir" ]; } || continue
            for vdir in "$mdir"/* "$mdir"/.[!.]*; do
                { [ -d "$vdir" ] && [ ! -L "$vdir" ]; } || continue
                n=${vdir##*/}
                case $n in
                    [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9])
                        versions="$versions$i $m $n $vdir
"
                        if [ -f "$vdir/MANIFEST.sha256" ] && [ ! -L "$vdir/MANIFEST.sha256" ]; then
                            manifests="$manifests $vdir/MANIFEST.sha256"
                        fi ;;
                    .[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].partial | \
                    .[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].old | \
                    .[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].deleting)
                        echo "S $i $m $n" ;;
                esac
            done
        done
    fi
    i=$((i + 1))
done
sums=""
malformed=""
if [ -n "$manifests" ]; then
    # shellcheck disable=SC2086  # $manifests: paths of validated names, no spaces
    sums=$(sha256sum $manifests 2>/dev/null)
    # shellcheck disable=SC2086
    malformed=$(grep -l -v -e "$MLINE" $manifests 2>/dev/null)
fi
malformed="
$malformed
"
while read -r vi vm vn vd; do
    [ -n "$vi" ] && version_record "$vi" "$vm" "$vn" "$vd"
done <<VERSIONS
$versions
VERSIONS

j=0
for c in $configs; do
    if [ -f "$c" ] && [ ! -L "$c" ]; then echo "C $j $(base64 -w0 < "$c")"; else echo "C $j -"; fi
    j=$((j + 1))
done

for s in $services; do
    state=""
    restarts=""
    while IFS='=' read -r key value; do  # one systemctl call; its property order is its own
        case $key in ActiveState) state=$value ;; NRestarts) restarts=$value ;; esac
    done <<SHOW
$(systemctl show -p ActiveState -p NRestarts "$s.service" 2>/dev/null)
SHOW
    echo "U $s ${state:-unknown} ${restarts:--}"
done

if [ -n "$facelists" ] && [ -d "$facelists" ]; then
    for f in "$facelists"/facelist_*.csv; do
        { [ -f "$f" ] && [ ! -L "$f" ]; } || continue
        n=${f##*/}
        case $n in facelist_[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].csv) echo "L $n" ;; esac
    done
    if [ -L "$facelists/facelist_current.csv" ]; then
        t=$(readlink "$facelists/facelist_current.csv")
        case $t in '' | *[!A-Za-z0-9._+-]*) ;; *) echo "K $t" ;; esac
    fi
fi

if [ -n "$health" ] && [ -f "$health" ]; then echo "H $(base64 -w0 < "$health")"; fi

if [ -n "$coral_package" ]; then
    deb=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$coral_package" 2>/dev/null || true)
    json="{\"deb\": \"$deb\", \"venvs\": {"
    sep=""
    for venv in $coral_venvs; do
        versions=""
        if [ -x "$venv/bin/python" ]; then
            versions=$("$venv/bin/python" -c 'import json
from importlib import metadata
found = {}
for name in ("tflite_runtime", "pycoral"):
    try:
        found[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        found[name] = None
print(json.dumps(found))' 2>/dev/null || true)
        fi
        json="$json$sep\"$venv\": ${versions:-null}"
        sep=", "
    done
    echo "R $(printf '%s}}' "$json" | base64 -w0)"
fi

echo "W $(id -un)"
