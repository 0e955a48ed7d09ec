# Pull model versions from a datasink in ONE rsync/SSH session, verify each against the store's
# manifest, and rename each into place (operations/models.py: pull).
# Set before this body: what root stage src port ssh tries owned items
#   items: one "model version digest basis keep" per line; basis: an installed version whose files
#   seed the staging copy (hard links; "-" for none); keep=1: the node's own files in an existing
#   copy of this version stay (they are left out of the transfer and of the check).
: "${root?}" "${stage?}" "${src?}" "${port?}" "${ssh?}" "${owned?}" "${items?}"

# Few processes per version (on a small node they cost more CPU than the bytes): directories are
# made in one mkdir each time, and every version is verified at once (all_verified, below).
set -- "$stage"
while read -r m v digest basis keep; do
    [ -n "$m" ] || continue
    set -- "$@" "$stage/$m"
done <<ITEMS
$items
ITEMS
mkdir -p "$@" || fail "cannot create $stage"
sources=""
adopting=""
excludes=""
first=1
set --
while read -r m v digest basis keep; do
    [ -n "$m" ] || continue
    d="$stage/$m/$v"
    # A copy without a manifest (the original's deploys made these) is adopted in place: only the
    # store's manifest travels; the copy's own files (hard links) are checked against it below, one
    # hashing pass, and fetched only if they differ. (Files it cannot link: pulled as usual.)
    if [ "$keep" = 1 ] && [ -d "$root/$m/$v" ] && [ ! -e "$root/$m/$v/MANIFEST.sha256" ] \
        && { rm -rf "$d" && cp -al "$root/$m/$v" "$d" 2>/dev/null || { rm -rf "$d"; false; }; }; then
        what_src=":/$m/$v/MANIFEST.sha256"
        adopting="$adopting $m/$v"
    else
        what_src=":/$m/$v/"
    fi
    if [ ! -d "$d" ] && [ "$basis" != "-" ] && [ -d "$root/$m/$basis" ]; then
        # Unchanged files become hard links: rsync writes changed ones to a new file and renames it,
        # so the basis version is never modified.
        # (Hard links need one file system: otherwise the version is pulled whole.)
        cp -al "$root/$m/$basis" "$d" 2>/dev/null || rm -rf "$d"
    fi
    set -- "$@" "$d"
    if [ "$first" = 1 ]; then sources="$src$what_src"; first=0; else sources="$sources $what_src"; fi
    if [ "$keep" = 1 ]; then
        for o in $owned; do excludes="$excludes --exclude=/$m/$v/$o"; done
    fi
done <<ITEMS
$items
ITEMS
[ "$#" = 0 ] || mkdir -p "$@" || fail "cannot create the staging directories in $stage"

# No links, devices or special files (no -l, -D), no owners (no -o, -g); modes: what the store has,
# never setuid or executable, never writable by others. Node-owned copies being kept are excluded.
flags="-rtR --stats --chmod=D0755,Fu+rw,Fa-x,Fgo-w,Fa-s"
# received: the bytes rsync reports having received (its --stats), summed over this run's transfers.
received=0
count_received() {
    printf '%s\n' "$1"
    _cr_n=""
    while IFS= read -r _cr_line; do
        case $_cr_line in "Total bytes received:"*) _cr_n=${_cr_line#Total bytes received:} ;; esac
    done <<STATS
$1
STATS
    _cr_digits=""
    while [ -n "$_cr_n" ]; do # digits only (rsync may group them with "," or ".")
        _cr_rest=${_cr_n#?}
        _cr_c=${_cr_n%"$_cr_rest"}
        _cr_n=$_cr_rest
        case $_cr_c in [0-9]) _cr_digits=$_cr_digits$_cr_c ;; esac
    done
    received=$((received + ${_cr_digits:-0}))
}
cd "$stage" || fail "cannot enter $stage"
# shellcheck disable=SC2086  # flags/sources/excludes: lists of validated names (no spaces)
stats=$(try rsync $flags --delete -e "$ssh -p $port" $excludes $sources ./) \
    || fail "pull from the datasink failed (rsync exit $?)"
count_received "$stats"

# good DIR DIGEST SKIP...: DIR holds the store's manifest (by digest) and matches it.
good() {
    _g_dir=$1
    _g_digest=$2
    shift 2
    manifest_ok "$_g_dir" && [ "$(manifest_digest "$_g_dir")" = "$_g_digest" ] && verify "$_g_dir" "$@"
}

# all_verified: every version pulled is good, as `good` says of each (a manifest of well-formed
# lines, the store's digest, every file but the kept node-owned ones matching it), checked with
# one grep, one sha256sum and one sha256sum -c for all of them. Anything else: each on its own.
all_verified() {
    set --
    while read -r m v digest basis keep; do
        [ -n "$m" ] || continue
        { [ -f "$m/$v/MANIFEST.sha256" ] && [ ! -L "$m/$v/MANIFEST.sha256" ]; } || return 1
        set -- "$@" "$m/$v/MANIFEST.sha256"
    done <<ITEMS
$items
ITEMS
    [ "$#" -gt 0 ] || return 1
    # Stricter than manifest_ok (an empty line fails here): a doubt only means the slow path.
    ! grep -q -v -e "$MLINE" -- "$@" || return 1
    _av_sums=$(sha256sum -- "$@") || return 1
    while read -r m v digest basis keep; do
        [ -n "$m" ] || continue
        case "
$_av_sums
" in
        *"
$digest  $m/$v/MANIFEST.sha256
"*) ;;
        *) return 1 ;;
        esac
    done <<ITEMS
$items
ITEMS
    # The check lines are built here (no process): a manifest's last line without its newline is
    # checked too, and a version that gives no line (an empty manifest, or only node-owned files)
    # takes the slow path, where verify refuses it, instead of passing on the others' lines.
    _av_lines=""
    while read -r m v digest basis keep; do
        [ -n "$m" ] || continue
        _av_skip=""
        [ "$keep" = 1 ] && _av_skip=$owned
        _av_n=0
        while IFS= read -r _av_line || [ -n "$_av_line" ]; do
            _av_file=${_av_line#*  }
            for _av_o in $_av_skip; do [ "$_av_file" = "$_av_o" ] && continue 2; done
            _av_lines="$_av_lines${_av_line%%  *}  ./$m/$v/$_av_file
"
            _av_n=$((_av_n + 1))
        done <"$m/$v/MANIFEST.sha256"
        [ "$_av_n" -gt 0 ] || return 1
    done <<ITEMS
$items
ITEMS
    printf '%s' "$_av_lines" | sha256sum -c --quiet --strict - >/dev/null 2>&1
}

set --
while read -r m v digest basis keep; do
    [ -n "$m" ] || continue
    d="$stage/$m/$v"
    if [ "$keep" = 1 ] && [ -d "$root/$m/$v" ]; then
        for o in $owned; do
            [ -f "$root/$m/$v/$o" ] && [ ! -e "$d/$o" ] && { cp -p "$root/$m/$v/$o" "$d/$o" || fail "cannot keep $o"; }
        done
    fi
    set -- "$@" "$root/$m"
done <<ITEMS
$items
ITEMS
# A model's directory is made only for a version going into place (a refused pull leaves none):
# all at once when every version passed, else each just before its version is swapped in.
verified=0
if all_verified; then
    verified=1
    [ "$#" = 0 ] || mkdir -p "$@" || fail "cannot create the model directories in $root"
fi

while read -r m v digest basis keep; do
    [ -n "$m" ] || continue
    what="$m $v"
    d="$stage/$m/$v"
    skip=""
    [ "$keep" = 1 ] && skip=$owned
    how=installed
    case "$adopting " in *" $m/$v "*) how=adopted ;; esac
    # shellcheck disable=SC2086  # $skip: node-owned file names
    if [ "$verified" = 0 ] && ! good "$d" "$digest" $skip; then
        how=installed
        # A seeded file with the store's size and mtime but other bytes (damaged on this node)
        # passes rsync's quick check: fetch this version again comparing checksums, once.
        # shellcheck disable=SC2086
        stats=$(try rsync $flags --checksum -e "$ssh -p $port" $excludes "$src:/$m/$v/" ./) \
            || fail "pull from the datasink failed (rsync exit $?)"
        count_received "$stats"
        manifest_ok "$d" || fail "the store's MANIFEST.sha256 is missing or malformed"
        got=$(manifest_digest "$d")
        [ "$got" = "$digest" ] || fail "store manifest changed during the deploy (expected $digest, got $got)"
        # shellcheck disable=SC2086
        verify "$d" $skip || fail "verification against MANIFEST.sha256 failed"
    fi
    [ "$verified" = 1 ] || [ -d "$root/$m" ] || mkdir -p "$root/$m" \
        || fail "cannot create $root/$m"
    swap_in "$d" "$root/$m/$v" || fail "cannot rename $d into place"
    echo "sentinelcam: $how $m $v"
done <<ITEMS
$items
ITEMS
echo "sentinelcam: received $received bytes from ${src#*@}"
cd "$root" && rmdir "$stage"/* "$stage" 2>/dev/null
exit 0
