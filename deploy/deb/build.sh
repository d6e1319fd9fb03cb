#!/usr/bin/env bash
# Build the alarmbridge Debian package: dist/alarmbridge_<version>_<arch>.deb
#
#   deploy/deb/build.sh [--arch amd64|arm64] [--version DEBVERSION] [--out DIR]
#
# (also ARCH=, ALARMBRIDGE_DEB_VERSION= and PYTHON= from the environment). Cross-arch
# without emulation: nothing is compiled, every binary comes from the pinned, hashed
# wheels in requirements-<arch>.lock, installed for the target platform with
# `pip install --target --platform`. The wheels are kept in deploy/.cache/wheels/<arch>
# (git-ignored), so a repeated build needs no network.
#
# The bundled venv /opt/alarmbridge/venv is made by hand (pyvenv.cfg with home =
# /usr/bin, bin/python -> /usr/bin/python3): the target's own Python 3.11 runs it.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
arch="${ARCH:-amd64}"
debver="${ALARMBRIDGE_DEB_VERSION:-}"
out="$root/dist"
python="${PYTHON:-$root/.venv/bin/python}"

while [[ $# -gt 0 ]]; do
    case "$1" in
        --arch) arch="$2"; shift 2 ;;
        --version) debver="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$arch" in
    amd64|arm64) ;;
    *) echo "build.sh: unknown architecture '$arch' (amd64 or arm64)" >&2; exit 2 ;;
esac

say() { echo "deb: [$SECONDS s] $*"; }

# Python 3.11 builds the app's wheel and byte-compiles for the target's 3.11 (same
# bytecode on every architecture; Depends pins python3 to 3.11).
"$python" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else
    "build.sh needs Python 3.11 (PYTHON=...), found " + sys.version.split()[0])'

if [[ -z "$debver" ]]; then
    debver="$("$python" "$root/deploy/deb/debversion.py" "$root/pyproject.toml")"
fi
if ! [[ "$debver" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]]; then
    echo "build.sh: '$debver' is not a Debian version" >&2
    exit 2
fi

cache="$root/deploy/.cache"
mkdir -p "$cache"
[[ -e "$cache/.gitignore" ]] || echo '*' >"$cache/.gitignore"  # never committed
wheels="$cache/wheels/$arch"
buildtools="$cache/wheels/build"
lock="$here/requirements-$arch.lock"
buildlock="$here/requirements-build.lock"
mkdir -p "$wheels" "$buildtools" "$out"

mapfile -t target < <("$python" -c '
import sys
sys.path.insert(0, sys.argv[1])
from lock import pip_target_args
print("\n".join(pip_target_args(sys.argv[2])))' "$here" "$arch")

pip() { "$python" -m pip --disable-pip-version-check "$@"; }

# The wheels: from the cache when they are all there (offline), else from the index.
# --require-hashes either way: a wheel that does not match the lock is refused.
fetch() {  # lockfile dest [pip options]
    local lockfile="$1" dest="$2"
    shift 2
    if ! pip download --quiet --no-deps --require-hashes --no-index --find-links "$dest" \
        --dest "$dest" "$@" -r "$lockfile" >/dev/null 2>&1; then
        say "downloading the wheels in $(basename "$lockfile")"
        pip download --quiet --no-deps --require-hashes --dest "$dest" "$@" -r "$lockfile"
    fi
}
# One build at a time fills the cache (two builds at once, e.g. parallel tests, would
# write the same wheel files): flock when there is one, else go on unlocked.
if command -v flock >/dev/null; then
    exec 9>"$cache/.lock"
    flock 9
fi
fetch "$lock" "$wheels" "${target[@]}"
fetch "$buildlock" "$buildtools" --only-binary=:all:
if command -v flock >/dev/null; then
    exec 9>&-
fi
say "wheels ready"

work="$(mktemp -d "${TMPDIR:-/tmp}/alarmbridge-deb.XXXXXX")"
trap 'rm -rf "$work"' EXIT
pkg="$work/root"

# The app's own wheel, from a copy of the sources (the build leaves nothing in the
# repo), its build tools (setuptools, wheel) from the hashed, cached build lock.
src="$work/src"
mkdir -p "$src"
cp "$root/pyproject.toml" "$root/README.md" "$src/"
cp -r "$root/app" "$root/hardware" "$root/migrations" "$src/"
find "$src" -name __pycache__ -prune -exec rm -rf {} +
if ! PIP_NO_INDEX=1 PIP_FIND_LINKS="$buildtools" \
    pip wheel --quiet --no-deps --wheel-dir "$work/app-wheel" "$src" >"$work/wheel.log" 2>&1; then
    cat "$work/wheel.log" >&2
    exit 1
fi

say "app wheel built"
venv="$pkg/opt/alarmbridge/venv"
site="$venv/lib/python3.11/site-packages"
mkdir -p "$venv/bin" "$site"
ln -s /usr/bin/python3 "$venv/bin/python"
ln -s python "$venv/bin/python3"
ln -s python "$venv/bin/python3.11"
cat >"$venv/pyvenv.cfg" <<EOF
home = /usr/bin
include-system-site-packages = false
version = 3.11
EOF

say "installing the $arch wheels into the venv"
pip install --quiet --no-deps --no-index --require-hashes --find-links "$wheels" \
    --target "$site" "${target[@]}" -r "$lock"
rm -rf "$site/bin"
pip install --quiet --no-deps --no-index --target "$site" "${target[@]}" \
    "$work"/app-wheel/alarmbridge-*.whl
# Console scripts pip wrote for the build machine's Python; /usr/bin/alarmbridge is ours.
rm -rf "$site/bin"

say "venv filled"
# Byte-compiled here, not in postinst: a 3.11 pyc is the same on every architecture,
# dpkg then owns every file (remove and purge leave nothing behind, no prerm clean-up),
# and a Pi does not spend a minute compiling on its SD card at every update. Hash-based
# pycs (checked-hash) do not depend on file times and stay right if a source is edited.
"$python" -m compileall -q -j 0 --invalidation-mode checked-hash \
    -d /opt/alarmbridge/venv/lib/python3.11/site-packages "$site" >/dev/null

say "byte-compiled"
install -D -m 0755 "$here/alarmbridge.sh" "$pkg/usr/bin/alarmbridge"
install -D -m 0755 "$here/alarmbridge_update.py" "$pkg/usr/sbin/alarmbridge-update"
for unit in io network web firstboot setup-code; do
    install -D -m 0644 "$here/alarmbridge-$unit.service" \
        "$pkg/lib/systemd/system/alarmbridge-$unit.service"
done
install -D -m 0644 "$here/60-alarmbridge-gpio.rules" "$pkg/lib/udev/rules.d/60-alarmbridge-gpio.rules"
install -D -m 0644 "$here/avahi-alarmbridge.service" "$pkg/etc/avahi/services/alarmbridge.service"
install -D -m 0644 "$here/alarmbridge.env.example" "$pkg/usr/share/alarmbridge/alarmbridge.env.example"
install -D -m 0644 "$here/copyright" "$pkg/usr/share/doc/alarmbridge/copyright"
install -d -m 0755 "$pkg/etc/alarmbridge"

mkdir -p "$pkg/DEBIAN"
for script in postinst prerm postrm; do
    install -m 0755 "$here/$script" "$pkg/DEBIAN/$script"
done
size_kib="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"
sed -e "s/@VERSION@/$debver/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size_kib/" \
    "$here/control.in" >"$pkg/DEBIAN/control"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum >DEBIAN/md5sums)

# Reproducible file times. zstd (dpkg >= 1.21.18, bookworm has 1.21.22): 2 s and 15 MB,
# where xz takes 10-30 s for 13-15 MB.
find "$pkg" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}" {} +
deb="$out/alarmbridge_${debver}_${arch}.deb"
dpkg-deb --root-owner-group -Zzstd -z10 --build "$pkg" "$deb" >/dev/null
say "built $deb ($(du -h "$deb" | cut -f1))"
