# Pull the Coral package files from the store into the node's staging directory and check each
# against the registry's sha256; nothing is installed when one differs (operations/coral.py: stage).
# Set before this body: what dir src port ssh tries files sums
: "${dir?}" "${src?}" "${port?}" "${ssh?}" "${files?}" "${sums?}"
{ mkdir -p "$dir" && cd "$dir"; } || fail "cannot create $dir"
inc=""
for f in $files; do inc="$inc --include=$f"; done
# No --delete: the staging directory may be shared; only the named files change.
# shellcheck disable=SC2086  # $inc: --include options for validated file names
try rsync -rt --checksum --chmod=D0755,Fu+rw,Fa-x,Fgo-w,Fa-s $inc --exclude='*' -e "$ssh -p $port" \
    "$src:/coral_packages/" ./ || fail "pull from the datasink failed (rsync exit $?)"
bad=$(printf '%s' "$sums" | sed 's|  |  ./|' | sha256sum -c --strict - 2>/dev/null | sed -n 's|^\./||; s/: FAILED.*$//p' | tr '\n' ' ')
missing=""
for f in $files; do [ -f "$f" ] || missing="$missing$f "; done
if [ -n "$bad$missing" ]; then
    # shellcheck disable=SC2086
    rm -f -- $bad
    why=""
    [ -z "$bad" ] || why="${bad}differs from the sha256 in the registry"
    [ -z "$missing" ] || why="${why:+$why; }${missing}not in the store"
    fail "$why; nothing installed"
fi
echo "sentinelcam: Coral packages verified in $dir"
