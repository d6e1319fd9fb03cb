#!/bin/sh
# /usr/bin/alarmbridge: the alarmbridge command of the Debian package.
#
# Loads the settings from /etc/alarmbridge/alarmbridge.env (KEY=value lines; a variable
# already in the environment wins, so `ALARMBRIDGE_PORT=8081 alarmbridge web` and a
# systemd Environment= drop-in work) and runs app.cli:main with the bundled venv.
#
# Run as root, every command but `firstboot` (which configures the machine) and `io`
# (the io process) drops to the alarmbridge-web user first, so the files it makes
# (auth.db, the setup code) belong to the web process, as they would if it made them.
set -eu

env_file=${ALARMBRIDGE_ENV_FILE:-/etc/alarmbridge/alarmbridge.env}
if [ -r "$env_file" ]; then
    given=$(export -p | grep -E '^export ALARMBRIDGE_[A-Z0-9_]*=' || true)
    set -a
    # shellcheck disable=SC1090
    . "$env_file"
    set +a
    eval "$given"
fi

python=/opt/alarmbridge/venv/bin/python
main='import sys; from app.cli import main; sys.argv[0] = "alarmbridge"; sys.exit(main())'

if [ "$(id -u)" = 0 ]; then
    case "${1:-}" in
        firstboot | io) ;;
        *)
            cd /
            exec setpriv --reuid=alarmbridge-web --regid=alarmbridge-web --init-groups \
                -- "$python" -I -c "$main" "$@"
            ;;
    esac
fi
if [ "${1:-}" = io ] && [ -n "${RT_PRIORITY:-}" ]; then
    # Real-time scheduling when allowed (LimitRTPRIO in alarmbridge-io.service); refused
    # (a kernel or container without an RT budget), the io process runs as usual.
    chrt --fifo --pid "$RT_PRIORITY" $$ 2>/dev/null ||
        echo "alarmbridge: real-time priority $RT_PRIORITY refused; running at normal priority" >&2
fi
exec "$python" -I -c "$main" "$@"
