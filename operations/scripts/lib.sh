# Shared by every script in operations/scripts: prepended to each body (facts/shell.py).
# Set before it: what (what the script works on, for messages). tries (attempts for pulls) when pulling.
LC_ALL=C
export LC_ALL
umask 022
# The temp files config_stage.sh staged in this command (none yet, whatever the environment
# holds) and the digests they must have: config_commit.sh and unstage read them.
staged=""
# shellcheck disable=SC2034  # read by config_stage.sh and config_commit.sh
wanted=""
# A manifest line: "<sha256>  <relative path of plain names>" (nothing else is passed to sha256sum).
MLINE='^[0-9a-f]\{64\}  [A-Za-z0-9_+][A-Za-z0-9._+-]*\(/[A-Za-z0-9_+][A-Za-z0-9._+-]*\)*$'
# rsync exit codes worth another try: the datasink's sshd dropped or refused the connection
# (MaxStartups: "kex_exchange_identification", exit 12/255), or a socket or timeout error.
TRANSIENT='5 10 12 30 35 255'

fail() {
    echo "sentinelcam: ${what:-step}: $1" >&2
    [ -z "$staged" ] || unstage # a config command leaves no temp file behind
    exit 1
}

# try CMD...: run it; retry transient failures with jittered backoff, up to $tries attempts.
try() {
    _t_n=0
    while :; do
        "$@" && return 0
        _t_rc=$?
        case " $TRANSIENT " in *" $_t_rc "*) ;; *) return "$_t_rc" ;; esac
        _t_n=$((_t_n + 1))
        [ "$_t_n" -lt "${tries:-6}" ] || return "$_t_rc"
        _t_r=$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')
        sleep $((_t_n + _t_r % (2 * _t_n + 1)))
    done
}

# manifest_ok DIR: every line of DIR/MANIFEST.sha256 is well formed.
manifest_ok() {
    [ -f "$1/MANIFEST.sha256" ] && [ ! -L "$1/MANIFEST.sha256" ] \
        && ! grep -v -e "$MLINE" "$1/MANIFEST.sha256" | grep -q .
}

# (POSIX sh has no local variables: each function's names start with _ and its own letters, so
# a function never overwrites a variable of the script that calls it.)

# check_lines DIR [SKIP...]: the manifest's lines for `sha256sum -c`, paths made relative ("./x",
# so a file named "-" is a file, not stdin), the named node-owned files left out.
check_lines() {
    _cl_dir=$1
    shift
    grep -e "$MLINE" "$_cl_dir/MANIFEST.sha256" | while IFS= read -r _cl_line; do
        _cl_file=${_cl_line#*  }
        _cl_skip=0
        for _cl_o in "$@"; do [ "$_cl_file" = "$_cl_o" ] && _cl_skip=1; done
        [ "$_cl_skip" = 1 ] || printf '%s  ./%s\n' "${_cl_line%%  *}" "$_cl_file"
    done
}

# verify DIR [SKIP...]: DIR matches its manifest (node-owned files aside).
verify() {
    manifest_ok "$1" || return 1
    (_v_dir=$1; shift; cd "$_v_dir" && check_lines . "$@" | sha256sum -c --quiet --strict - >/dev/null 2>&1)
}

# manifest_digest DIR
manifest_digest() {
    sha256sum < "$1/MANIFEST.sha256" | cut -c1-64
}

# store_digest DIR FILE: the digest the manifest records for FILE (empty if none).
store_digest() {
    _sd_want=""
    while IFS= read -r _sd_line; do
        [ "${_sd_line#*  }" = "$2" ] && _sd_want=${_sd_line%%  *}
    done < "$1/MANIFEST.sha256"
    printf '%s' "$_sd_want"
}

# temp_beside FILE: sets tmp to FILE's temp name beside it, its directory made, and a leftover temp
# file (or a link in its place) removed first: it is never written through.
temp_beside() {
    _tb_dir=${1%/*}
    tmp="$_tb_dir/.${1##*/}.sentinelcam-tmp"
    [ -d "$_tb_dir" ] || mkdir -p "$_tb_dir" || fail "cannot create $_tb_dir"
    if [ -e "$tmp" ] || [ -L "$tmp" ]; then rm -f "$tmp" || fail "cannot remove $tmp"; fi
}

# put_in_place TMP FILE: TMP becomes FILE in one rename, with FILE's mode (a new file: 0644, a
# chmod: a directory's default ACL overrides the umask).
put_in_place() {
    if [ -f "$2" ]; then chmod --reference="$2" "$1"; else chmod 0644 "$1"; fi
    mv -f "$1" "$2" || { rm -f "$1"; fail "cannot rename into $2"; }
}

# unstage: remove the temp files config_stage.sh staged (a config command that fails leaves none).
unstage() {
    set -f
    # shellcheck disable=SC2086  # temp names beside validated config paths: no whitespace, no glob
    [ -z "$staged" ] || rm -f -- $staged
    set +f
    staged=""
}

# swap_in STAGED TARGET: put a verified directory in place. An existing TARGET is exchanged in one
# step (renameat2 RENAME_EXCHANGE) when python3 is there, so the name never points at nothing.
swap_in() {
    if [ ! -e "$2" ]; then
        mv -T "$1" "$2"
        return
    fi
    if command -v python3 >/dev/null 2>&1 && python3 - "$1" "$2" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.renameat2(-100, os.fsencode(sys.argv[1]), -100, os.fsencode(sys.argv[2]), 2) != 0:
    sys.exit(1)
PY
    then
        rm -rf "$1"
    else
        _si_old="${2%/*}/.${2##*/}.old"
        rm -rf "$_si_old" && mv -T "$2" "$_si_old" && mv -T "$1" "$2" && rm -rf "$_si_old"
    fi
}

# archive_faces DIR STAMP FILE...: copy node-owned files that differ from the store's copy to
# DIR.faces-STAMP beside the version, before anything replaces or removes them.
archive_faces() {
    _af_dir=$1
    _af_dest="$1.faces-$2"
    shift 2
    for _af_file in "$@"; do
        [ -f "$_af_dir/$_af_file" ] || continue
        _af_want=$(store_digest "$_af_dir" "$_af_file")
        _af_have=$(sha256sum < "$_af_dir/$_af_file" | cut -c1-64)
        [ "$_af_have" = "$_af_want" ] && continue
        { mkdir -p "$_af_dest" && cp -p "$_af_dir/$_af_file" "$_af_dest/$_af_file"; } \
            || fail "cannot archive $_af_dir/$_af_file"
        echo "sentinelcam: archived node-modified $_af_dir/$_af_file in $_af_dest"
    done
}
