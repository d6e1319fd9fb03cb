#!/usr/bin/env bash
# Make sure the tools for tests/deploy are there: dpkg-deb and file for the package
# tests, systemd-analyze for the unit checks, debootstrap and systemd-nspawn for the
# system test that boots a Debian root with the package installed.
#
# `make test` runs this before pytest. It does nothing when everything is there; as root
# with apt-get (CI) it installs Debian's packages; otherwise it only says how, and the
# tests that need a missing tool are skipped. With ALARMBRIDGE_REQUIRE_DEPLOY=1 (set by
# .ci/run) they fail instead.
set -euo pipefail

# command -> Debian package
declare -A need=(
    [dpkg-deb]=dpkg
    [file]=file
    [systemd-analyze]=systemd
    [debootstrap]=debootstrap
    [systemd-nspawn]=systemd-container
    [nsenter]=util-linux
)
missing=()
for cmd in "${!need[@]}"; do
    command -v "$cmd" >/dev/null || missing+=("${need[$cmd]}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [[ "${ALARMBRIDGE_REQUIRE_DEPLOY:-}" == 1 ]]; then
    outcome="the deploy tests will fail (ALARMBRIDGE_REQUIRE_DEPLOY=1)"
else
    outcome="the deploy tests that need them will be skipped"
fi
if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "install-tools: missing ${missing[*]}: install with 'sudo apt-get install ${missing[*]}'; $outcome." >&2
    exit 0
fi

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
echo "install-tools: installing ${missing[*]} for the deploy tests..."
# A fresh machine may have no package lists yet: only then pay for `apt-get update`.
if ! apt_install 2>/dev/null; then
    if ! { apt-get update -qq && apt_install; }; then
        echo "install-tools: 'apt-get install ${missing[*]}' failed; $outcome." >&2
        [[ "${ALARMBRIDGE_REQUIRE_DEPLOY:-}" == 1 ]] && exit 1
        exit 0
    fi
fi
