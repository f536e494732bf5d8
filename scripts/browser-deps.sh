#!/usr/bin/env bash
# Run by `npm test` before anything else (pretest): the browser tests (test/browser) drive
# Debian's Chromium at /usr/bin/chromium. When it is missing this installs it, if it may:
# as root with apt-get, as on a fresh machine of the kind CI uses. Otherwise it stops at
# once with the command to run, rather than after the build and minutes of other tests.
set -euo pipefail
chromium=/usr/bin/chromium
[ -x "$chromium" ] && exit 0

install="apt-get update && apt-get install -y --no-install-recommends chromium"
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "npm test: the browser tests need Debian's Chromium at $chromium, which is missing. Install it, then run npm test again:" >&2
  echo "  sudo sh -c '$install'" >&2
  exit 1
fi

echo "npm test: installing Debian's chromium for the browser tests ($install)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "npm test: could not install chromium ($install): the browser tests need $chromium" >&2
  exit 1
fi
"$chromium" --version
