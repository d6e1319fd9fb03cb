#!/bin/bash -e
# The appliance's defaults on Raspberry Pi OS: the first-boot file on the boot
# partition, relays held off from power-on, SSH off, no password logins.
boot="${ROOTFS_DIR}/boot/firmware"
on_chroot <<'CHROOT'
alarmbridge firstboot --print-template > /boot/firmware/alarmbridge.txt
board_lines="$(alarmbridge board --board default | sed -n 's/^config.txt: //p')"
{
	echo "# alarmbridge: relays off from power-on (board default)"
	echo "${board_lines}" | tr -s ' ' '\n'
	echo "# end alarmbridge"
} >> /boot/firmware/config.txt
systemctl disable ssh.service || true
passwd --lock "${FIRST_USER_NAME:-alarmbridge-admin}" || true
CHROOT
test -s "${boot}/alarmbridge.txt"
grep -q '^gpio=' "${boot}/config.txt"
