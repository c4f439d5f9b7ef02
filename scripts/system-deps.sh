#!/usr/bin/env bash
# The Debian tools the test suite drives, when they are missing. Nothing here starts a service:
#   - headless Chromium (status page and /docs tests) is installed with apt-get; it has no daemon;
#   - promtool, amtool and Alertmanager (alert rules, the Alertmanager example) are *unpacked* from
#     their .deb files into .venv/debian/, never installed: installing the `prometheus` packages
#     on a host with systemd enables and starts prometheus and alertmanager on :9090/:9093. The
#     tests start their own Alertmanager on 127.0.0.1 and stop it.
# `make test` puts .venv/debian/usr/bin on PATH. Installing Chromium needs root (or sudo) on
# Debian/Ubuntu; elsewhere this says what is missing and the tests that need it are skipped.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
unpacked="$here/.venv/debian"
export PATH="$unpacked/usr/bin:$PATH"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
have_apt=1
command -v apt-get >/dev/null 2>&1 || have_apt=0
updated=0
apt_update() {
    if [ "$updated" -eq 0 ]; then
        $sudo apt-get update -qq
        updated=1
    fi
}

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    if [ "$have_apt" -eq 1 ]; then
        echo "system-deps: installing chromium (no service)" >&2
        apt_update
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            chromium >/dev/null
    else
        echo "system-deps: please install chromium (no apt-get here)" >&2
    fi
fi

tools=()
command -v promtool >/dev/null 2>&1 || tools+=(prometheus)
command -v amtool >/dev/null 2>&1 || tools+=(prometheus-alertmanager)
[ ${#tools[@]} -eq 0 ] && exit 0
if [ "$have_apt" -eq 0 ]; then
    echo "system-deps: please put promtool, amtool and alertmanager on PATH (no apt-get here)" >&2
    exit 0
fi
echo "system-deps: unpacking ${tools[*]} into $unpacked (not installed, no service)" >&2
apt_update
debs="$(mktemp -d)"
chmod 755 "$debs"  # apt downloads as its own unprivileged user
trap 'rm -rf "$debs"' EXIT
(cd "$debs" && apt-get download -qq "${tools[@]}" >/dev/null)
mkdir -p "$unpacked"
for deb in "$debs"/*.deb; do
    dpkg-deb -x "$deb" "$unpacked"
done
