#!/usr/bin/env bash
# Build a Raspberry Pi OS Lite (bookworm, arm64) image with AlarmBridge, using
# pi-gen and the stage in this directory. This is the route for a Raspberry Pi 5
# (Debian's own kernel, used by deploy/image/, does not support it) and for anyone
# who prefers Raspberry Pi OS.
#
#   sudo deploy/pi-gen/build.sh dist/alarmbridge_<version>_arm64.deb
#
# Needs: root, a Debian or Raspberry Pi OS build machine, about 20 GB of disk and
# network access to archive.raspberrypi.com and github.com (pi-gen itself).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
deb="${1:-}"
# The last Raspberry Pi OS release on bookworm (Python 3.11, which the .deb needs).
PIGEN_REF="${PIGEN_REF:-2025-05-13-raspios-bookworm-arm64}"
PIGEN_DIR="${PIGEN_DIR:-${repo}/deploy/.cache/pi-gen}"

die() { echo "pi-gen build: $*" >&2; exit 1; }

[ -n "${deb}" ] || die "usage: $0 dist/alarmbridge_<version>_arm64.deb (make deb ARCH=arm64)"
[ -f "${deb}" ] || die "no such package: ${deb}"
case "${deb}" in *_arm64.deb) ;; *) die "${deb} is not an arm64 package" ;; esac
[ "$(id -u)" -eq 0 ] || die "run as root (pi-gen mounts file systems and uses chroot)"
if ! curl -fsS --max-time 15 -o /dev/null http://archive.raspberrypi.com/debian/dists/bookworm/Release; then
	die "cannot reach archive.raspberrypi.com: pi-gen needs the Raspberry Pi OS archive. \
Build on a machine that reaches it, or use 'make image' (Debian packages only)."
fi

if [ ! -d "${PIGEN_DIR}/.git" ]; then
	git clone --branch "${PIGEN_REF}" --depth 1 https://github.com/RPi-Distro/pi-gen.git "${PIGEN_DIR}"
fi
git -C "${PIGEN_DIR}" checkout --quiet "${PIGEN_REF}"

rm -rf "${PIGEN_DIR}/stage-alarmbridge"
cp -a "${here}/stage-alarmbridge" "${PIGEN_DIR}/"
cp "${deb}" "${PIGEN_DIR}/stage-alarmbridge/00-install/files/"
# Lite: stages 0-2, then ours; no desktop, and only our stage exports an image.
touch "${PIGEN_DIR}/stage2/SKIP_IMAGES"

version="$(basename "${deb}" | cut -d_ -f2)"
cat > "${PIGEN_DIR}/config.alarmbridge" <<CONFIG
IMG_NAME="alarmbridge-${version}"
RELEASE=bookworm
DEPLOY_COMPRESSION=xz
TARGET_HOSTNAME=alarmbridge
LOCALE_DEFAULT=en_GB.UTF-8
TIMEZONE_DEFAULT=Etc/UTC
# A console user is required by Raspberry Pi OS; its password is random and then
# locked (the stage does it). Administer with the web UI, or SSH with a key given
# in alarmbridge.txt on the boot partition.
FIRST_USER_NAME=alarmbridge-admin
FIRST_USER_PASS="$(head -c 24 /dev/urandom | base64)"
DISABLE_FIRST_BOOT_USER_RENAME=1
ENABLE_SSH=0
STAGE_LIST="stage0 stage1 stage2 stage-alarmbridge"
CONFIG

cd "${PIGEN_DIR}"
./build.sh -c config.alarmbridge
echo "pi-gen build: images in ${PIGEN_DIR}/deploy/"
