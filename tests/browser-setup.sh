#!/bin/sh
# What the browser tests (tests/explore/test_explore_browser.py) need beyond pip: Debian's
# Chromium, which Playwright drives (Playwright's own browser download does not work
# offline).  The README's test command runs this before pytest.
#
# Installs chromium with apt-get when run as root; elsewhere it says loudly that the
# browser tests will be skipped.  With CI=true a missing browser is an error.
set -u

if [ -n "${CORR2D_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "browser-setup: installing Debian's chromium for the browser tests" >&2
    log=$(mktemp)
    if apt-get update -qq >"$log" 2>&1 \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >>"$log" 2>&1; then
        rm -f "$log"
        exit 0
    fi
    tail -n 20 "$log" >&2
    rm -f "$log"
    echo "browser-setup: apt-get could not install chromium" >&2
fi
if [ "${CI:-}" = "true" ]; then
    echo "browser-setup: no Chromium, and on CI the browser tests must run" >&2
    exit 1
fi
echo "" >&2
echo "************************************************************************" >&2
echo "* browser-setup: no Chromium and no way to install it here (not root,  *" >&2
echo "* or no apt-get): the browser tests will be SKIPPED.                   *" >&2
echo "* Install Debian's 'chromium' or set CORR2D_CHROMIUM to a Chromium.    *" >&2
echo "************************************************************************" >&2
exit 0
