#!/bin/bash
# Build the AlarmBridge SD-card image for Raspberry Pi 3, 4, 400, CM4 and Zero 2 W
# from Debian bookworm arm64 packages only:
#
#   dist/alarmbridge-<version>-arm64.img.xz  (+ .sha256)
#
# Run as root on a Debian 12 host (x86-64 or arm64): `make image`, or
#   deploy/image/build.sh [--deb dist/alarmbridge_X_arm64.deb] [--fresh] [--no-xz] [--base-only]
#
# Two stages:
#   base  debootstrap + every Debian package in packages.txt (kernel, firmware,
#         NetworkManager, ...), cached in deploy/image/.cache/base/ and reused while
#         packages.txt and BASE_REVISION below are unchanged (--fresh rebuilds it).
#   app   a copy of the base: apt-get dist-upgrade, the AlarmBridge .deb (apt resolves
#         its Depends), the files in rootfs/, config.txt, clean-up, then genimage
#         writes the card image (MBR: vfat RASPIFIRM + ext4 RASPIROOT) and xz packs it.
#
# Nothing is loop-mounted: genimage builds the filesystems with mkfs.vfat/mtools and
# mke2fs -d. Foreign-architecture chroot commands run under qemu-user-static.
set -euo pipefail

BASE_REVISION=1 # bump to force a new base rootfs when the base steps below change
SUITE=bookworm
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
ARCH=arm64

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${IMAGE_CACHE:-$HERE/.cache}
DIST=$REPO/dist

DEB=""
FRESH=0
XZ=1
BASE_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
    --deb) DEB=$2; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    --no-xz) XZ=0; shift ;;
    --base-only) BASE_ONLY=1; shift ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

T0=$(date +%s)
log() { printf '[image %4ds] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot need it)"

# ---------------------------------------------------------------- host tools
HOST_TOOLS=(debootstrap qemu-user-static binfmt-support genimage mtools dosfstools
    e2fsprogs xz-utils fdisk)
missing=()
for p in "${HOST_TOOLS[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing host tools: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "$(dpkg --print-architecture)" != "$ARCH" ]; then
    [ -e /proc/sys/fs/binfmt_misc/status ] ||
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] ||
        die "qemu-aarch64 binfmt handler not registered (update-binfmts --enable qemu-aarch64)"
fi

# ---------------------------------------------------------------- inputs
VERSION=$(python3 -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' \
    "$REPO/pyproject.toml")
IMG_NAME=alarmbridge-$VERSION-$ARCH.img

# ---------------------------------------------------------------- chroot helpers
# Every mount made under a rootfs is listed here and undone on exit, before any rm.
MOUNTED_ROOTS=()

chroot_mount() {
    local r=$1
    mount -t proc proc "$r/proc"
    mount -t sysfs sysfs "$r/sys"
    mount --bind /dev "$r/dev"
    mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts" 2>/dev/null || true
    mount -t tmpfs tmpfs "$r/run"
    mkdir -p "$CACHE/apt-archives" "$r/var/cache/apt/archives"
    mount --bind "$CACHE/apt-archives" "$r/var/cache/apt/archives"
    MOUNTED_ROOTS+=("$r")
    # name resolution for apt inside the chroot (removed again by clean_rootfs)
    rm -f "$r/etc/resolv.conf"
    cp -L /etc/resolv.conf "$r/etc/resolv.conf"
    # no daemon starts inside the chroot
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
    chmod 755 "$r/usr/sbin/policy-rc.d"
}

chroot_umount() {
    local r=$1 m
    # deepest first
    for m in $(findmnt -rn -o TARGET | grep -F "$r/" | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
}

unmount_all() {
    local r
    for r in "${MOUNTED_ROOTS[@]}"; do chroot_umount "$r"; done
    MOUNTED_ROOTS=()
}
trap unmount_all EXIT

# Remove a rootfs directory, refusing if anything is still mounted under it.
safe_rm_rootfs() {
    local r=$1
    [ -e "$r" ] || return 0
    chroot_umount "$r"
    if findmnt -rn -o TARGET | grep -qF "$r/"; then
        die "refusing to delete $r: something is still mounted under it"
    fi
    rm -rf --one-file-system "$r"
}

in_chroot() {
    local r=$1
    shift
    chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true "$@"
}

APT_OPTS=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
    -o APT::Install-Recommends=false)

# ---------------------------------------------------------------- base stage
BASE=$CACHE/base
read_list() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$1" | grep -v '^$' | sort -u; }
PACKAGES=$(read_list "$HERE/packages.txt" | tr '\n' ' ')
BASE_KEY=$( (echo "rev=$BASE_REVISION suite=$SUITE arch=$ARCH mirror=$MIRROR"; echo "$PACKAGES") |
    sha256sum | cut -c1-16)

write_sources() {
    local r=$1
    cat >"$r/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main non-free-firmware
deb $MIRROR $SUITE-updates main non-free-firmware
deb $SECURITY_MIRROR $SUITE-security main non-free-firmware
EOF
}

# The initramfs holds a short module list (MODULES=list): mkinitramfs under
# qemu-user takes about 30 minutes with Debian's default MODULES=most.
write_initramfs_config() {
    local r=$1
    mkdir -p "$r/etc/initramfs-tools/conf.d"
    cat >"$r/etc/initramfs-tools/conf.d/alarmbridge.conf" <<'EOF'
# AlarmBridge image: only the modules listed in /etc/initramfs-tools/modules
# (storage for the Pi 3/4/400/CM4/Zero 2 W and QEMU); the rest load from the root
# filesystem. Delete this file to get Debian's default (MODULES=most, a bigger initrd).
MODULES=list
EOF
    install -m 644 "$HERE/initramfs-modules" "$r/etc/initramfs-tools/modules"
}

build_base() {
    local r=$BASE/rootfs.new
    log "base: debootstrap $SUITE $ARCH (first stage)"
    safe_rm_rootfs "$r"
    mkdir -p "$r" "$CACHE/debootstrap-cache"
    debootstrap --arch="$ARCH" --foreign --variant=minbase \
        --components=main,non-free-firmware --cache-dir="$CACHE/debootstrap-cache" \
        "$SUITE" "$r" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
        { tail -20 "$CACHE/debootstrap.log"; die "debootstrap (first stage) failed"; }
    log "base: debootstrap second stage (under qemu-user)"
    chroot "$r" /debootstrap/debootstrap --second-stage >>"$CACHE/debootstrap.log" 2>&1 ||
        { tail -20 "$CACHE/debootstrap.log"; die "debootstrap (second stage) failed"; }

    chroot_mount "$r"
    write_sources "$r"
    printf 'LANG=C.UTF-8\n' >"$r/etc/default/locale"
    # no man pages, docs or translations in the image (copyright files stay)
    cat >"$r/etc/dpkg/dpkg.cfg.d/alarmbridge-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
    log "base: apt-get update, dist-upgrade"
    in_chroot "$r" apt-get update -q >/dev/null
    in_chroot "$r" apt-get "${APT_OPTS[@]}" dist-upgrade >"$CACHE/base-apt.log" 2>&1 ||
        { tail -30 "$CACHE/base-apt.log"; die "apt-get dist-upgrade failed"; }
    # initramfs-tools first, so the kernel's initrd is built with our short list
    in_chroot "$r" apt-get "${APT_OPTS[@]}" install initramfs-tools zstd >>"$CACHE/base-apt.log" 2>&1 ||
        { tail -30 "$CACHE/base-apt.log"; die "apt-get install initramfs-tools failed"; }
    write_initramfs_config "$r"
    log "base: apt-get install ($(wc -w <<<"$PACKAGES") packages)"
    # shellcheck disable=SC2086
    in_chroot "$r" apt-get "${APT_OPTS[@]}" install $PACKAGES >>"$CACHE/base-apt.log" 2>&1 ||
        { tail -30 "$CACHE/base-apt.log"; die "apt-get install failed (see $CACHE/base-apt.log)"; }
    write_raspi_firmware_config "$r"
    sha256sum "$HERE/initramfs-modules" | cut -d' ' -f1 >"$r/etc/initramfs-tools/.alarmbridge-modules.sha256"
    chroot_umount "$r"
    MOUNTED_ROOTS=()
    rm -f "$r/etc/resolv.conf" "$r/usr/sbin/policy-rc.d"

    safe_rm_rootfs "$BASE/rootfs"
    mv "$r" "$BASE/rootfs"
    echo "$BASE_KEY" >"$BASE/key"
    log "base: done, cached in $BASE (key $BASE_KEY)"
}

# /etc/default/raspi-firmware (a conffile, sourced by the kernel hook that writes
# /boot/firmware/config.txt and cmdline.txt):
#   ROOTPART  root by label, the same on every card
#   CMA=0     no cma= on the command line: the Pi 4 may not boot with cma=64M and a
#             headless appliance needs no graphics memory (the device tree's pool stays)
#   CONSOLES  HDMI and the GPIO header's UART (ttyS1 on arm64 Pi 3/4); not probed,
#             since the build host's /dev says nothing about the Pi
write_raspi_firmware_config() {
    local r=$1 f=$1/etc/default/raspi-firmware
    mkdir -p "$r/etc/default"
    [ -f "$f" ] && sed -i '/^# AlarmBridge image settings/,$d' "$f"
    cat >>"$f" <<'EOF'
# AlarmBridge image settings
ROOTPART=LABEL=RASPIROOT
CMA=0
CONSOLES="tty0 ttyS1,115200"
EOF
}

mkdir -p "$CACHE" "$DIST"
if [ "$FRESH" = 1 ] || [ ! -d "$BASE/rootfs" ] || [ "$(cat "$BASE/key" 2>/dev/null)" != "$BASE_KEY" ]; then
    TB=$(date +%s)
    build_base
    BASE_SECONDS=$(($(date +%s) - TB))
else
    log "base: cached (key $BASE_KEY, built $(date -r "$BASE/key" '+%F %T'))"
    BASE_SECONDS=0
fi

[ "$BASE_ONLY" = 1 ] && { log "base only: done"; exit 0; }

# ---------------------------------------------------------------- app stage
if [ -z "$DEB" ]; then
    DEB=$(ls -t "$DIST"/alarmbridge_*_"$ARCH".deb 2>/dev/null | head -1 || true)
fi
[ -n "$DEB" ] && [ -f "$DEB" ] ||
    die "no AlarmBridge .deb for $ARCH in dist/ (make deb ARCH=$ARCH), or pass --deb FILE"
DEB=$(readlink -f "$DEB")
log "version $VERSION, package $(basename "$DEB")"
TA=$(date +%s)
WORK=$CACHE/work
R=$WORK/rootfs
log "app: copying the base rootfs"
safe_rm_rootfs "$R"
mkdir -p "$WORK"
cp -a "$BASE/rootfs" "$R"

chroot_mount "$R"
write_sources "$R"
write_raspi_firmware_config "$R"
log "app: apt-get update, dist-upgrade"
in_chroot "$R" apt-get update -q >/dev/null
in_chroot "$R" apt-get "${APT_OPTS[@]}" dist-upgrade >"$WORK/apt.log" 2>&1 ||
    { tail -30 "$WORK/apt.log"; die "apt-get dist-upgrade failed"; }

log "app: installing $(basename "$DEB") with apt"
cp "$DEB" "$R/tmp/alarmbridge.deb"
in_chroot "$R" apt-get "${APT_OPTS[@]}" install /tmp/alarmbridge.deb >>"$WORK/apt.log" 2>&1 ||
    { tail -30 "$WORK/apt.log"; die "installing the .deb failed (see $WORK/apt.log)"; }
rm -f "$R/tmp/alarmbridge.deb"
# alarmbridge-update keeps the installed package here, for a rollback to it.
install -D -m 644 "$DEB" "$R/var/lib/alarmbridge-updates/$(basename "$DEB")"
APP_VERSION=$(in_chroot "$R" dpkg-query -W -f='${Version}' alarmbridge)
log "app: alarmbridge $APP_VERSION installed"

log "app: image files (rootfs/) and settings"
cp -a --no-preserve=ownership "$HERE/rootfs/." "$R/"
chmod 755 "$R/usr/local/sbin/"*
mkdir -p "$R/var/log/journal" "$R/boot/firmware"
# The commented settings file, from the installed program (one template, in app/firstboot).
in_chroot "$R" alarmbridge firstboot --print-template >"$R/boot/firmware/alarmbridge.txt"
grep -q '^hostname=alarmbridge' "$R/boot/firmware/alarmbridge.txt" ||
    die "alarmbridge firstboot --print-template gave no template"
printf 'alarmbridge\n' >"$R/etc/hostname"
cat >"$R/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	alarmbridge
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
cat >"$R/etc/fstab" <<'EOF'
# <file system>   <mount point>   <type>  <options>                          <dump> <pass>
LABEL=RASPIROOT   /               ext4    rw,noatime,errors=remount-ro       0      1
LABEL=RASPIFIRM   /boot/firmware  vfat    rw,noatime,umask=0077,flush        0      2
EOF

# units: ours on, SSH off (first boot turns it on only when given a key)
in_chroot "$R" systemctl enable alarmbridge-growroot.service alarmbridge-ssh-keygen.service \
    systemd-timesyncd.service NetworkManager.service avahi-daemon.service >/dev/null 2>&1
in_chroot "$R" systemctl disable ssh.service ssh.socket >/dev/null 2>&1 || true
# the package's postinst enables its own units; check the ones the appliance needs
for unit in alarmbridge-io.service alarmbridge-web.service alarmbridge-firstboot.service \
    alarmbridge-setup-code.service; do
    [ "$(in_chroot "$R" systemctl is-enabled "$unit" 2>/dev/null)" = enabled ] ||
        die "$unit is not enabled after installing the package"
done
[ "$(in_chroot "$R" systemctl is-enabled ssh.service 2>/dev/null)" != enabled ] || die "ssh.service is enabled"
log "app: enabled: $(in_chroot "$R" sh -c 'systemctl list-unit-files --state=enabled --no-legend 2>/dev/null | cut -d" " -f1 | grep -E "alarmbridge|ssh|Network|avahi|timesync" | tr "\n" " "')"

# config.txt: gpio lines that hold the relays off from power-on, for the default board
# preset, asked of the CLI that was just installed; kept in raspi-firmware-custom so the
# kernel hook puts them back into config.txt on every kernel or firmware update.
AB=$(in_chroot "$R" sh -c 'command -v alarmbridge || ls /opt/alarmbridge/*/bin/alarmbridge 2>/dev/null | head -1')
[ -n "$AB" ] || die "the installed package has no alarmbridge command"
GPIO_LINES=$(in_chroot "$R" env HOME=/tmp "$AB" board --board default --pins mock |
    sed -n 's/^config.txt: //p' | sed 's/  \+/\n/g')
echo "$GPIO_LINES" | grep -q '^gpio=' || die "no config.txt lines from '$AB board --board default'"
CUSTOM=$R/etc/default/raspi-firmware-custom
touch "$CUSTOM"
sed -i '/^# alarmbridge: relays off from power-on$/,/^# end alarmbridge$/d' "$CUSTOM"
{
    echo "# alarmbridge: relays off from power-on"
    echo "$GPIO_LINES"
    echo "# end alarmbridge"
} >>"$CUSTOM"

# the initrd again only if the module list changed since the base was built
want=$(sha256sum "$HERE/initramfs-modules" | cut -d' ' -f1)
if [ "$want" != "$(cat "$R/etc/initramfs-tools/.alarmbridge-modules.sha256" 2>/dev/null)" ]; then
    log "app: initramfs module list changed: update-initramfs"
    write_initramfs_config "$R"
    in_chroot "$R" update-initramfs -u -k all >>"$WORK/apt.log" 2>&1
    echo "$want" >"$R/etc/initramfs-tools/.alarmbridge-modules.sha256"
fi
# the hook writes /boot/firmware: kernel, initrd, device trees, config.txt, cmdline.txt
in_chroot "$R" env DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware >>"$WORK/apt.log" 2>&1
grep -qF "$(echo "$GPIO_LINES" | head -1)" "$R/boot/firmware/config.txt" ||
    die "config.txt lacks the gpio lines"
grep -q 'root=LABEL=RASPIROOT' "$R/boot/firmware/cmdline.txt" || die "cmdline.txt lacks root=LABEL=RASPIROOT"

log "app: clean-up"
# (no apt-get clean: the archive cache is bind-mounted from .cache/apt-archives and kept)
chroot_umount "$R"
MOUNTED_ROOTS=()
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/cache/apt/archives/partial"
rm -rf "$R/var/lib/apt/lists/"* "$R/var/cache/apt/"*.bin "$R/var/cache/debconf/"*-old \
    "$R/var/lib/dpkg/"*-old "$R/var/log/journal/"* "$R/var/lib/systemd/random-seed" \
    "$R/root/.bash_history" "$R/tmp/"* "$R/var/tmp/"* "$R/etc/ssh/ssh_host_"* \
    "$R/etc/resolv.conf" "$R/usr/sbin/policy-rc.d" "$R/var/lib/dbus/machine-id"
find "$R/var/log" -type f -exec truncate -s 0 {} +
: >"$R/etc/machine-id"
mkdir -p "$R/var/log/journal"
[ -z "$(ls "$R/etc/ssh/" | grep ssh_host_ || true)" ] || die "SSH host keys left in the image"
APP_SECONDS=$(($(date +%s) - TA))

# ---------------------------------------------------------------- image
TI=$(date +%s)
log "image: genimage"
rm -f "$DIST/$IMG_NAME" "$DIST/$IMG_NAME".*
root_mib=$(du -sm --exclude=./boot/firmware "$R" | cut -f1)
boot_mib=$(du -sm "$R/boot/firmware" | cut -f1)
# room for first boot (the database, the journal) before the root grows to fill the card
ROOT_MIB=$(((root_mib * 115 / 100 + 256 + 63) / 64 * 64))
BOOT_MIB=256
[ "$boot_mib" -lt $((BOOT_MIB - 64)) ] || die "boot files ($boot_mib MiB) do not fit in $BOOT_MIB MiB"
GI=$WORK/genimage
rm -rf "$GI"
mkdir -p "$GI/out" "$GI/in"
sed -e "s/@ROOT_SIZE@/${ROOT_MIB}M/" -e "s/@BOOT_SIZE@/${BOOT_MIB}M/" -e "s/@IMAGE@/$IMG_NAME/" \
    "$HERE/genimage.cfg.in" >"$GI/genimage.cfg"
genimage --config "$GI/genimage.cfg" --rootpath "$R" --tmppath "$GI/tmp" \
    --inputpath "$GI/in" --outputpath "$GI/out" >"$GI/genimage.log" 2>&1 ||
    { tail -30 "$GI/genimage.log"; die "genimage failed"; }
mv -f "$GI/out/$IMG_NAME" "$DIST/$IMG_NAME"
rm -rf "$GI"
IMG_BYTES=$(stat -c %s "$DIST/$IMG_NAME")
ASSEMBLY_SECONDS=$(($(date +%s) - TI))

TX=$(date +%s)
if [ "$XZ" = 1 ]; then
    log "image: xz"
    xz -T0 "-${XZ_LEVEL:-6}" -k -f "$DIST/$IMG_NAME"
    (cd "$DIST" && sha256sum "$IMG_NAME.xz" >"$IMG_NAME.xz.sha256")
    OUT=$DIST/$IMG_NAME.xz
else
    OUT=$DIST/$IMG_NAME
fi
(cd "$DIST" && sha256sum "$IMG_NAME" >"$IMG_NAME.sha256")
XZ_SECONDS=$(($(date +%s) - TX))

cat >"$DIST/$IMG_NAME.build.txt" <<EOF
image:     $OUT
package:   alarmbridge $APP_VERSION ($(basename "$DEB"))
base key:  $BASE_KEY
sizes:     root fs ${ROOT_MIB} MiB (${root_mib} MiB used), boot ${BOOT_MIB} MiB (${boot_mib} MiB used),
           image $((IMG_BYTES / 1048576)) MiB, compressed $(($(stat -c %s "$OUT") / 1048576)) MiB
seconds:   base ${BASE_SECONDS} (0 = cached), app ${APP_SECONDS}, genimage ${ASSEMBLY_SECONDS}, xz ${XZ_SECONDS}, total $(($(date +%s) - T0))
EOF
cat "$DIST/$IMG_NAME.build.txt"
log "done: $OUT"
