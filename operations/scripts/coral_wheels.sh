# pip install the Coral wheels into a virtualenv (created if absent), from the staging directory
# only, then check the installed versions and that the packages import (operations/coral.py: wheels).
# Set before this body: what venv dir wheels sums expect imports
: "${venv?}" "${dir?}" "${wheels?}" "${sums?}" "${expect?}" "${imports?}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" || fail "cannot create the virtualenv $venv"
fi
cd "$dir" || fail "no staging directory $dir"
printf '%s' "$sums" | sed 's|  |  ./|' | sha256sum -c --quiet --strict - >/dev/null 2>&1 \
    || fail "a wheel differs from the registry's sha256; not installed"
for w in $wheels; do
    "$venv/bin/python" -m pip install --no-index --no-deps --no-input --disable-pip-version-check -q "$dir/$w" \
        || fail "pip install $w failed (exit $?)"
done
for nv in $expect; do
    n=${nv%%=*}
    v=${nv#*=}
    got=$("$venv/bin/python" -c 'import sys; from importlib import metadata; print(metadata.version(sys.argv[1]))' "$n" 2>/dev/null)
    [ "$got" = "$v" ] || fail "after pip install, $n is at ${got:-nothing}, not the registry's $v"
done
for module in $imports; do
    "$venv/bin/python" -c "import $module" 2>/dev/null || fail "$module does not import in $venv after install"
done
echo "sentinelcam: installed $what"
