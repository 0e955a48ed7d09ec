#!/bin/sh
# Make sure this machine has the Debian packages a make target needs, before anything else runs.
#
#   host-packages.sh [--root-for WHAT] CHECK:PACKAGE ...
#
# CHECK is a command name, a path (starting with /) that must exist, or import=MODULE (a module
# that ${PYTHON:-python3} must import, e.g. import=ensurepip for python3-venv). Missing packages are
# installed with apt-get when run as root (one line says which); otherwise one line names them and
# the exit status is 1. With --root-for WHAT, a non-root run stops first with one line saying that
# WHAT needs root. Runs before any virtualenv exists, so it is plain POSIX sh.
set -eu

root_for=""
if [ "${1:-}" = "--root-for" ]; then
    root_for=$2
    shift 2
fi

if [ -n "$root_for" ] && [ "$(id -u)" -ne 0 ]; then
    echo "$root_for" >&2
    exit 1
fi

missing=""
for item in "$@"; do
    check=${item%%:*}
    package=${item#*:}
    case $check in
        /*) [ -e "$check" ] && continue ;;
        import=*) "${PYTHON:-python3}" -c "import ${check#import=}" >/dev/null 2>&1 && continue ;;
        *) command -v "$check" >/dev/null 2>&1 && continue ;;
    esac
    case " $missing " in
        *" $package "*) ;;
        *) missing="${missing:+$missing }$package" ;;
    esac
done

[ -n "$missing" ] || exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: $missing; install them with \`sudo apt-get install -y $missing\`, or run this as root" >&2
    exit 1
fi

echo "installing Debian packages: $missing"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
# shellcheck disable=SC2086  # $missing is a space-separated list of package names
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
    echo "apt-get could not install $missing; its output:" >&2
    tail -n 20 "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
