# Put the config files config_stage.sh staged in place (operations/configs.py): one sha256sum
# checks them all against their digests, one stat reads the modes the files have, then each temp
# file takes its file's mode (a new file: 0644, a chmod: a directory's default ACL overrides the
# umask) and is renamed into place, in the order staged. Nothing is renamed unless every file
# holds exactly the bytes rendered and none of the places is a directory. A failure removes the
# staged files (lib.sh: fail). Set before this body: what.
[ -n "$staged" ] || fail "no config file staged"
set -f
# shellcheck disable=SC2086  # temp names beside validated config paths: no whitespace, no glob
set -- $staged
set +f
# config_of TEMP: sets config to the file TEMP stands for (temp_beside's name, undone).
config_of() {
    _co_name=${1##*/}
    _co_name=${_co_name#.}
    config="${1%/*}/${_co_name%.sentinelcam-tmp}"
}

got=$(sha256sum -- "$@") || fail "cannot read the staged files"
if [ "$got
" != "$wanted" ]; then
    differ=""
    while read -r _d _t; do
        case "$wanted" in *"$_d  $_t
"*) ;; *) config_of "$_t" && differ="$differ $config" ;; esac
    done <<SUMS
$got
SUMS
    fail "the bytes written to$differ differ from the rendered config"
fi

existing=""
for staged_file; do
    config_of "$staged_file"
    [ ! -d "$config" ] || fail "$config is a directory, not a config file"
    [ -f "$config" ] && existing="$existing $config"
done
modes=""
if [ -n "$existing" ]; then
    # shellcheck disable=SC2086  # validated config paths: no whitespace, no glob
    modes=$(stat -L -c '%a %n' -- $existing) || fail "cannot read the modes of$existing"
fi
plain=""
for staged_file; do
    config_of "$staged_file"
    mode=644
    while read -r _m _p; do
        [ "$_p" = "$config" ] && mode=$_m
    done <<MODES
$modes
MODES
    if [ "$mode" = 644 ]; then
        plain="$plain $staged_file"
    else
        chmod "$mode" "$staged_file" || fail "cannot set the mode of $staged_file"
    fi
done
if [ -n "$plain" ]; then
    # shellcheck disable=SC2086  # temp names beside validated config paths
    chmod 0644 $plain || fail "cannot set the mode of$plain"
fi
for staged_file; do
    config_of "$staged_file"
    mv -fT "$staged_file" "$config" || fail "cannot rename into $config"
done
staged=""
wanted=""
