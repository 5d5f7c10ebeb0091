#!/usr/bin/env bash
# `make matrix`: the conformance library against every MTA, written to
# docs/mta-matrix.md (package internal/mtamatrix). Steps:
#   1. build mxsim;
#   2. for each relay kind of $MATRIX_RELAYS (reference postfix exim
#      opensmtpd) that this mxsim supports, `mxsim conformance -relay KIND
#      -json OUT/KIND.json` with the default profile, timed; a kind the
#      binary does not know (exit 2, "want reference, external, …") is
#      skipped with a line saying so, as are the MTAs when Docker is absent;
#   3. for each MTA with a recipe, docs/mtas/<mta>/run.sh: start its
#      long-running container on a /24 of its own, run `mxsim conformance
#      -relay external` against it with the documented profile and its
#      flush and reset commands, stop it;
#   4. internal/mtamatrix/cmd/mtamatrix writes docs/mta-matrix.md, and fails
#      when a non-pass has no note, when an external verdict differs from
#      the adapter's, or when a run failed.
#
# Options: --adapters-only (skip step 3), --external (step 3 only, with
# the adapter reports of an earlier run kept in $MATRIX_OUT), --no-doc (no
# step 4). Environment: MATRIX_RELAYS (kinds to run), MATRIX_OUT (work
# dir, default bin/matrix/), MATRIX_SUBNET_BASE (the /24 of the first
# external MTA is 127.B.0.0/24 for base B, the next 127.B.1.0/24…; default
# 127.74), MATRIX_TIMEOUT (per run, default 15m).
# Everything it starts is stopped on exit, error or interrupt.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
export TESTCONTAINERS_RYUK_DISABLED=${TESTCONTAINERS_RYUK_DISABLED:-true}

relays=${MATRIX_RELAYS:-reference postfix exim opensmtpd}
out=${MATRIX_OUT:-bin/matrix}
base=${MATRIX_SUBNET_BASE:-127.74}
limit=${MATRIX_TIMEOUT:-15m}
adapters=1 externals=1 doc=1
for arg in "$@"; do
	case $arg in
	--adapters-only) externals= ;;
	--external) adapters= ;;
	--no-doc) doc= ;;
	*)
		echo "usage: scripts/matrix.sh [--adapters-only | --external] [--no-doc]" >&2
		exit 2
		;;
	esac
done

mkdir -p "$out" bin
manifest=$out/runs.tsv
if [ -n "$adapters" ]; then
	: >"$manifest"
elif [ ! -f "$manifest" ]; then
	echo "matrix: --external needs the adapter runs of an earlier make matrix in $out" >&2
	exit 2
else
	# Keep the adapter runs, drop the external ones of earlier runs.
	grep -v -P '^[^\t]*\texternal\t' "$manifest" >"$manifest.new" || true
	mv "$manifest.new" "$manifest"
fi

started=
cleanup() {
	if [ -n "$started" ]; then
		"$started" stop >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "matrix: building mxsim" >&2
"$GO" build -o bin/mxsim ./cmd/mxsim
mxsim=$PWD/bin/mxsim

docker_ok() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

# record KIND MODE STATUS SECONDS JSON DETAIL
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$manifest"; }

# timed KIND MODE JSON ARGS...: runs mxsim conformance ARGS, records the run.
timed() {
	local kind=$1 mode=$2 json=$3
	shift 3
	local log=$out/$kind.$mode.log t0 t1 rc=0 secs
	rm -f "$out/$json"
	echo "matrix: $kind ($mode): mxsim conformance $*" >&2
	t0=$(date +%s.%N)
	timeout "$limit" "$mxsim" conformance "$@" -json "$out/$json" >"$log" 2>&1 || rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ "$rc" = 2 ] && grep -q 'want reference, external' "$log"; then
		echo "matrix: $kind: skipped: this mxsim has no -relay $kind ($(grep -m1 'want reference' "$log"))" >&2
		record "$kind" "$mode" skipped - - "this mxsim has no -relay $kind"
		return 0
	fi
	if [ ! -s "$out/$json" ] || { [ "$rc" != 0 ] && [ "$rc" != 1 ]; }; then
		echo "matrix: $kind ($mode): failed (exit $rc) after ${secs}s; the end of $log:" >&2
		tail -n 5 "$log" >&2
		record "$kind" "$mode" failed "$secs" - "exit $rc: $(grep -v '^ ' "$log" | tail -n 1 | tr '\t' ' ')"
		return 0
	fi
	echo "matrix: $kind ($mode): $(grep -E '^[0-9]+ passed' "$log" | tail -n 1) — wall ${secs}s" >&2
	record "$kind" "$mode" ran "$secs" "$json" "mxsim conformance $*"
}

if [ -n "$adapters" ]; then
	for kind in $relays; do
		if [ "$kind" != reference ] && ! docker_ok; then
			echo "matrix: $kind: skipped: no Docker engine answers" >&2
			record "$kind" adapter skipped - - "no Docker engine answered"
			continue
		fi
		timed "$kind" adapter "$kind.json" -relay "$kind"
	done
fi

# The profile of an external run: the recipe's profile.yaml, which says
# how its configuration file sets the MTA up.
if [ -n "$externals" ]; then
	n=0
	for kind in $relays; do
		recipe=docs/mtas/$kind/run.sh
		[ "$kind" != reference ] && [ -x "$recipe" ] || continue
		if ! docker_ok; then
			record "$kind" external skipped - - "no Docker engine answered"
			continue
		fi
		subnet=$base.$n
		n=$((n + 1))
		dns=$subnet.53
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
		recipe=$PWD/$recipe
		echo "matrix: $kind (external): $recipe start $dns $port" >&2
		t0=$(date +%s.%N)
		started=$recipe
		if ! "$recipe" start "$dns" "$port" >"$out/$kind.start.log" 2>&1; then
			tail -n 5 "$out/$kind.start.log" >&2
			record "$kind" external failed - - "$recipe start $dns $port failed: $(tail -n 1 "$out/$kind.start.log" | tr '\t' ' ')"
			"$recipe" stop >/dev/null 2>&1 || true
			started=
			continue
		fi
		profile=()
		if [ -f "docs/mtas/$kind/profile.yaml" ]; then
			profile=(-profile "docs/mtas/$kind/profile.yaml")
		fi
		timed "$kind" external "$kind.external.json" -relay external -submit "127.0.0.1:$port" \
			-dns-addr "$dns:53" -smtp-port 25 "${profile[@]}" \
			-flush-cmd "$recipe flush" -reset-cmd "$recipe reset"
		"$recipe" stop >/dev/null 2>&1 || true
		started=
		t1=$(date +%s.%N)
		echo "matrix: $kind (external): with the container $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s" >&2
	done
fi

if [ -n "$doc" ]; then
	"$GO" run ./internal/mtamatrix/cmd/mtamatrix -manifest "$manifest" -out docs/mta-matrix.md
fi
