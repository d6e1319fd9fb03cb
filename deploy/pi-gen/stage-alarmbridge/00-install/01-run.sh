#!/bin/bash -e
# Install AlarmBridge's .deb (copied into files/ by deploy/pi-gen/build.sh): the
# same package the Debian image and the nspawn test install.
shopt -s nullglob
debs=(files/alarmbridge_*_arm64.deb)
if [ "${#debs[@]}" -ne 1 ]; then
	echo "stage-alarmbridge: expected one files/alarmbridge_*_arm64.deb, found ${#debs[@]}" >&2
	exit 1
fi
install -D -m 644 "${debs[0]}" "${ROOTFS_DIR}/var/lib/alarmbridge-updates/$(basename "${debs[0]}")"
on_chroot <<CHROOT
apt-get install -y --no-install-recommends "/var/lib/alarmbridge-updates/$(basename "${debs[0]}")"
CHROOT
