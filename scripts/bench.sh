#!/usr/bin/env bash
# `make bench`: measure mxsim against its references and rewrite
# docs/benchmarks.md (issue 7). Steps:
#   1. install the references from Debian's packages when missing: Postfix
#      (smtp-sink, smtp-source), NSD, dnsperf; stop the daemons the packages
#      start, since only the tools are wanted;
#   2. build the drivers (internal/bench/cmd/...) and mxsim into a scratch dir;
#   3. run internal/bench/cmd/benchrun, which starts every server on a random
#      loopback address, measures, profiles missed targets and writes the report;
#      its mta section times `mxsim conformance -relay KIND` for the reference
#      relay and each MTA (as `make matrix` runs them), needing Docker for the MTAs.
#      The sink section (-only sink) then runs Postfix in its container relaying
#      into smtp-sink and into an mxsim network (Docker; skipped without it).
# Everything it starts is stopped on exit, error or interrupt.
# Extra arguments go to benchrun (e.g. `scripts/bench.sh -runs 1 -only smtp`).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

missing=()
for tool in smtp-sink smtp-source nsd dnsperf; do
	PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
	echo "bench: installing postfix nsd dnsperf (missing: ${missing[*]})" >&2
	if [ "$(id -u)" != 0 ]; then
		echo "bench: need root to apt-get install postfix nsd dnsperf" >&2
		exit 1
	fi
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix nsd dnsperf >/dev/null
	# Only the tools are wanted: stop the services the packages may have started.
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		systemctl stop postfix nsd >/dev/null 2>&1 || true
		systemctl disable postfix nsd >/dev/null 2>&1 || true
	else
		service postfix stop >/dev/null 2>&1 || true
		service nsd stop >/dev/null 2>&1 || true
	fi
fi
export PATH="$PATH:/usr/sbin:/sbin"

bin=$(mktemp -d "${TMPDIR:-/tmp}/mxsim-bench-bin.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true # benchrun stops its own process groups
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$bin"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench: building drivers" >&2
for cmd in sink dnsserve envbench benchrun; do
	"$GO" build -o "$bin/$cmd" "./internal/bench/cmd/$cmd"
done
"$GO" build -o "$bin/mxsim" ./cmd/mxsim

"$bin/benchrun" -bin "$bin" -out docs/benchmarks.md "$@" &
pid=$!
wait "$pid"
