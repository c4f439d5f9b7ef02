#!/usr/bin/env bash
# Installs the Debian packages the test suite drives, when they are missing: headless Chromium
# (status page test), promtool and amtool (alert rules and Alertmanager example in alerts/).
# Needs root (or sudo) on Debian/Ubuntu; elsewhere it says what is missing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: please install: ${missing[*]} (no apt-get here)" >&2
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "system-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ " ${missing[*]} " == *" prometheus"* ]] && [ -d /run/systemd/system ]; then
    echo "system-deps: the prometheus packages also start their services (:9090, :9093);" \
        "the tests only need promtool and amtool:" \
        "$sudo systemctl disable --now prometheus prometheus-alertmanager" >&2
fi
