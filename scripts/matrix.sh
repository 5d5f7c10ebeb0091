#!/usr/bin/env bash
# `make matrix`: the conformance library against every MTA, written to
# docs/mta-matrix.md (package internal/mtamatrix). Steps:
#   1. build mxsim;
#   2. for each relay kind of $MATRIX_RELAYS (reference postfix exim
#      opensmtpd) that this mxsim supports, `mxsim conformance -relay KIND
#      -json OUT/KIND.json` with the default profile, timed; a kind the
#      binary does not know (exit 2, "want reference, external, …") is
#      skipped with a line saying so, as are the MTAs when Docker is absent;
#   3. for each MTA with a recipe, docs/mtas/<mta>/run.sh, and each profile
#      of the recipe (profile.yaml, then profile-NAME.yaml): start its
#      long-running container on a /24 of its own (`run.sh start DNS_IP PORT
#      [NAME]`), run `mxsim conformance -relay external -profile …` against
#      it with its flush and reset commands and a persistent test CA (`mxsim
#      ca`, -ca; the recipe gets its ca.pem as $MXSIM_CA), stop it;
#   4. internal/mtamatrix/cmd/mtamatrix writes docs/mta-matrix.md, and fails
#      when a non-pass has no note, when an external verdict differs from
#      the adapter's, or when a run failed.
#
# Options: --adapters-only (skip step 3), --external (step 3 only, with
# the adapter reports of an earlier run kept in $MATRIX_OUT), --no-doc (no
# step 4). Environment: MATRIX_RELAYS (kinds to run), MATRIX_OUT (work
# dir, default bin/matrix/), MATRIX_SUBNET_BASE (the /24 of the first
# external MTA is 127.B.0.0/24 for base B, the next 127.B.1.0/24…; default
# 127.74), MATRIX_TIMEOUT (per run, default 15m), MATRIX_CASES (a -cases
# pattern for every run, e.g. 'MX-*': a quicker, partial matrix).
# Everything it starts is stopped on exit, error or interrupt.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
export TESTCONTAINERS_RYUK_DISABLED=${TESTCONTAINERS_RYUK_DISABLED:-true}

relays=${MATRIX_RELAYS:-reference postfix exim opensmtpd}
out=${MATRIX_OUT:-bin/matrix}
base=${MATRIX_SUBNET_BASE:-127.74}
limit=${MATRIX_TIMEOUT:-15m}
cases=()
if [ -n "${MATRIX_CASES:-}" ]; then
	cases=(-cases "$MATRIX_CASES")
fi
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
out=$(cd "$out" && pwd)
manifest=$out/runs.tsv
if [ -n "$adapters" ]; then
	: >"$manifest"
elif [ ! -f "$manifest" ]; then
	echo "matrix: --external needs the adapter runs of an earlier make matrix in $out" >&2
	exit 2
else
	# Keep the adapter runs, drop the external ones of earlier runs.
	awk -F '\t' '$2 != "external"' "$manifest" >"$manifest.new" || true
	mv "$manifest.new" "$manifest"
fi

started=
cleanup() {
	if [ -n "$started" ]; then
		$started stop >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "matrix: building mxsim" >&2
"$GO" build -o bin/mxsim ./cmd/mxsim
mxsim=$PWD/bin/mxsim

docker_ok() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

# record KIND MODE PROFILE STATUS SECONDS JSON DETAIL
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$manifest"; }

# timed KIND MODE PROFILE JSON ARGS...: runs mxsim conformance ARGS, records the run.
timed() {
	local kind=$1 mode=$2 prof=$3 json=$4
	shift 4
	local log=$out/${json%.json}.log t0 t1 rc=0 secs
	rm -f "$out/$json"
	local what=$mode
	[ "$prof" = - ] || what="$mode, profile $prof"
	echo "matrix: $kind ($what): mxsim conformance $*" >&2
	t0=$(date +%s.%N)
	timeout "$limit" "$mxsim" conformance "$@" "${cases[@]}" -json "$out/$json" >"$log" 2>&1 || rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ "$rc" = 2 ] && grep -q 'want reference, external' "$log"; then
		echo "matrix: $kind ($what): skipped: this mxsim has no -relay $kind ($(grep -m1 'want reference' "$log"))" >&2
		record "$kind" "$mode" "$prof" skipped - - "this mxsim has no -relay $kind"
		return 0
	fi
	if [ ! -s "$out/$json" ] || { [ "$rc" != 0 ] && [ "$rc" != 1 ]; }; then
		echo "matrix: $kind ($what): failed (exit $rc) after ${secs}s; the end of $log:" >&2
		tail -n 5 "$log" >&2
		record "$kind" "$mode" "$prof" failed "$secs" - "exit $rc: $(grep -v '^ ' "$log" | tail -n 1 | tr '\t' ' ')"
		return 0
	fi
	echo "matrix: $kind ($what): $(grep -E '^[0-9]+ passed' "$log" | tail -n 1) — wall ${secs}s" >&2
	record "$kind" "$mode" "$prof" ran "$secs" "$json" "mxsim conformance $*"
}

if [ -n "$adapters" ]; then
	for kind in $relays; do
		if [ "$kind" != reference ] && ! docker_ok; then
			echo "matrix: $kind: skipped: no Docker engine answers" >&2
			record "$kind" adapter - skipped - - "no Docker engine answered"
			continue
		fi
		timed "$kind" adapter - "$kind.json" -relay "$kind"
	done
fi

# External runs: each profile of each recipe against a fresh container.
if [ -n "$externals" ]; then
	ca=$out/ca
	if [ ! -f "$ca/ca.pem" ]; then
		"$mxsim" ca -dir "$ca" >/dev/null
	fi
	# The recipes mount it: as a file ($MXSIM_CA) or a directory ($MXSIM_CA_DIR).
	export MXSIM_CA=$ca/ca.pem MXSIM_CA_DIR=$ca
	n=0
	for kind in $relays; do
		dir=docs/mtas/$kind
		[ "$kind" != reference ] && [ -f "$dir/run.sh" ] || continue
		recipe="bash $PWD/$dir/run.sh"
		subnet=$base.$n
		n=$((n + 1))
		dns=$subnet.53
		profiles=("$dir"/profile.yaml "$dir"/profile-*.yaml)
		if [ ! -f "$dir/profile.yaml" ]; then
			# A recipe without profile.yaml is configured as docs/mtas.md says
			# for the default profile.
			printf 'route: direct\ntls: may\nhostname: relay.example.test\nretry_interval: 4s\n' >"$out/default-profile.yaml"
			profiles[0]=$out/default-profile.yaml
		fi
		for pfile in "${profiles[@]}"; do
			[ -f "$pfile" ] || continue
			prof=$(basename "$pfile" .yaml)
			prof=${prof#default-}
			prof=${prof#profile}
			prof=${prof#-}
			json=$kind.external${prof:+-$prof}.json
			if ! docker_ok; then
				record "$kind" external "${prof:--}" skipped - - "no Docker engine answered"
				continue
			fi
			port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
			echo "matrix: $kind (external${prof:+, profile $prof}): $recipe start $dns $port $prof" >&2
			started=$recipe
			if ! $recipe start "$dns" "$port" $prof >"$out/${json%.json}.start.log" 2>&1; then
				tail -n 5 "$out/${json%.json}.start.log" >&2
				record "$kind" external "${prof:--}" failed - - "$recipe start $dns $port $prof failed: $(tail -n 1 "$out/${json%.json}.start.log" | tr '\t' ' ')"
				$recipe stop >/dev/null 2>&1 || true
				started=
				continue
			fi
			timed "$kind" external "${prof:--}" "$json" -relay external -submit "127.0.0.1:$port" \
				-dns-addr "$dns:53" -smtp-port 25 -profile "$pfile" -ca "$ca" \
				-flush-cmd "$recipe flush" -reset-cmd "$recipe reset"
			$recipe stop >/dev/null 2>&1 || true
			started=
		done
	done
fi

if [ -n "$doc" ]; then
	"$GO" run ./internal/mtamatrix/cmd/mtamatrix -manifest "$manifest" -out docs/mta-matrix.md
fi
