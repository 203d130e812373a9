#!/usr/bin/env bash
# Make sure the real servers the test suite starts itself are installed:
#   - PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb, pg_ctl)
#   - mosquitto and mosquitto_passwd
#   - Debian chromium (/usr/bin/chromium) for browser tests
#   - promtool (Debian package prometheus) to check the hub's /metrics text
#   - ip (iproute2): the contract fuzzing runs the hub in a loopback-only network namespace
#
# As root, missing Debian packages are installed (apt-get update runs once,
# only if something is missing).  As a normal user, a message naming the
# missing packages is printed and the script exits non-zero.
#
# Quiet and idempotent when everything is already present.
#
# The tests never use the packaged services: PostgreSQL clusters are created
# with initdb in a temp dir and mosquitto is started with its own config, both
# on free loopback ports.  Whether the packages' postinst scripts start a
# "main" cluster on 5432 or a broker on 1883 (or are blocked by policy-rc.d)
# does not matter.
set -euo pipefail

missing=()

have_pg_server() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then
            return 0
        fi
    done
    return 1
}

# mosquitto lives in /usr/sbin, which a non-root PATH may lack.
have_cmd() {
    command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" || -x "/usr/bin/$1" ]]
}

have_pg_server || missing+=(postgresql)
{ have_cmd mosquitto && have_cmd mosquitto_passwd; } || missing+=(mosquitto)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
have_cmd promtool || missing+=(prometheus)
have_cmd ip || missing+=(iproute2)

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    {
        echo "ensure-test-servers: missing test server package(s): ${missing[*]}"
        echo "ensure-test-servers: install them as root, e.g.:"
        echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
        echo "ensure-test-servers: (or run this script as root: sudo scripts/ensure-test-servers.sh)"
    } >&2
    exit 1
fi

echo "ensure-test-servers: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Verify.
fail=0
have_pg_server || { echo "ensure-test-servers: PostgreSQL initdb/pg_ctl still missing" >&2; fail=1; }
have_cmd mosquitto || { echo "ensure-test-servers: mosquitto still missing" >&2; fail=1; }
have_cmd mosquitto_passwd || { echo "ensure-test-servers: mosquitto_passwd still missing" >&2; fail=1; }
[[ -x /usr/bin/chromium ]] || { echo "ensure-test-servers: /usr/bin/chromium still missing" >&2; fail=1; }
have_cmd promtool || { echo "ensure-test-servers: promtool still missing" >&2; fail=1; }
exit "$fail"
