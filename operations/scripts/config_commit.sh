# Put the config files config_stage.sh staged in place (operations/configs.py): one sha256sum
# checks them all against their digests, one stat reads the modes the files have, then each temp
# file takes its file's mode (a new file: 0644, a chmod: a directory's default ACL overrides the
# umask) and is renamed into place, in the order staged. Nothing is renamed unless every file
# holds exactly the bytes rendered. Set before this body: what.
[ -n "$staged" ] || fail "no config file staged"
set -f
# shellcheck disable=SC2086  # temp names beside validated config paths: no whitespace, no glob
set -- $staged
set +f
got=$(sha256sum -- "$@") || { unstage; fail "cannot read the staged files"; }
[ "$got
" = "$wanted" ] || { unstage; fail "the bytes written differ from the rendered config"; }

# config_of TEMP: sets config to the file TEMP stands for (temp_beside's name, undone).
config_of() {
    _co_name=${1##*/}
    _co_name=${_co_name#.}
    config="${1%/*}/${_co_name%.sentinelcam-tmp}"
}

existing=""
for staged_file; do
    config_of "$staged_file"
    [ -f "$config" ] && existing="$existing $config"
done
modes=""
if [ -n "$existing" ]; then
    # shellcheck disable=SC2086  # validated config paths: no whitespace, no glob
    modes=$(stat -L -c '%a %n' -- $existing) || { unstage; fail "cannot read the modes of$existing"; }
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
        chmod "$mode" "$staged_file" || { unstage; fail "cannot set the mode of $staged_file"; }
    fi
done
if [ -n "$plain" ]; then
    # shellcheck disable=SC2086  # temp names beside validated config paths
    chmod 0644 $plain || { unstage; fail "cannot set the mode of$plain"; }
fi
for staged_file; do
    config_of "$staged_file"
    mv -f "$staged_file" "$config" || { unstage; fail "cannot rename into $config"; }
done
staged=""
wanted=""
