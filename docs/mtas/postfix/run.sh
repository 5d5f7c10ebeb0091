#!/usr/bin/env bash
# Postfix as an external relay under test: one long-running container,
# configured once by main.cf (next to this script), that mxsim drives with
#   mxsim conformance -relay external -submit 127.0.0.1:SUBMIT_PORT \
#     -dns-addr DNS_IP:53 -smtp-port 25 -tls may -hostname relay.example.test \
#     -retry-interval 4s -flush-cmd 'run.sh flush' -reset-cmd 'run.sh reset'
#
#   run.sh start DNS_IP SUBMIT_PORT [PROFILE]
#                                     start container mxsim-ext-postfix and wait for its 220;
#                                     PROFILE (smarthost, verify) adds main-PROFILE.cf to main.cf
#                                     (mxsim's flags: profile-PROFILE.yaml); $MXSIM_CA, the ca.pem
#                                     of `mxsim ca`, is mounted as /mxsim/ca.pem
#   run.sh flush                      retry the deferred mail now (postqueue -f)
#   run.sh reset                      forget earlier cases: empty the queue, restart qmgr
#   run.sh stop                       remove the container
#   run.sh logs                       Postfix's log (docker logs)
#
# The image is the newest mxsim/postfix:VERSION-rN (`mxsim image postfix`
# builds it), or $MXSIM_POSTFIX_IMAGE. Needs the docker CLI. See docs/mtas.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${MXSIM_EXT_NAME:-mxsim-ext-postfix}

usage() {
	echo "usage: run.sh start DNS_IP SUBMIT_PORT [PROFILE] | flush | reset | stop | logs" >&2
	exit 2
}

image() {
	if [ -n "${MXSIM_POSTFIX_IMAGE:-}" ]; then
		echo "$MXSIM_POSTFIX_IMAGE"
		return
	fi
	local tag
	tag=$(docker images --format '{{.Repository}}:{{.Tag}}' mxsim/postfix | grep -E ':[0-9.]+-r[0-9]+$' | sort -V | tail -n 1)
	if [ -z "$tag" ]; then
		echo "run.sh: no mxsim/postfix:VERSION-rN image: build it with 'mxsim image postfix'" >&2
		exit 1
	fi
	echo "$tag"
}

# greeting waits until 127.0.0.1:$1 answers 220, for up to 60 s.
greeting() {
	local port=$1 i line
	for ((i = 0; i < 240; i++)); do
		if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
			echo "run.sh: container $name is not running; its output:" >&2
			docker logs --tail 20 "$name" >&2 || true
			return 1
		fi
		if line=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && head -c 4 <&3 && printf 'QUIT\r\n' >&3" 2>/dev/null) &&
			[ "${line:0:3}" = 220 ]; then
			return 0
		fi
		sleep 0.25
	done
	echo "run.sh: no 220 greeting on 127.0.0.1:$port within 60 s" >&2
	return 1
}

case "${1:-}" in
start)
	[ $# = 3 ] || [ $# = 4 ] || usage
	dns=$2 port=$3 profile=${4:-}
	[[ $dns =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "run.sh: DNS_IP $dns: want an IPv4 address" >&2; exit 2; }
	[[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || { echo "run.sh: SUBMIT_PORT $port: want 1..65535" >&2; exit 2; }
	mounts=(-v "$here/main.cf:/mxsim/main.cf:ro")
	extra=/dev/null
	if [ -n "$profile" ]; then
		[ -f "$here/main-$profile.cf" ] || { echo "run.sh: no profile $profile: $here/main-$profile.cf is missing" >&2; exit 2; }
		mounts+=(-v "$here/main-$profile.cf:/mxsim/main-profile.cf:ro")
		extra=/mxsim/main-profile.cf
	fi
	if [ -n "${MXSIM_CA:-}" ]; then
		[ -f "$MXSIM_CA" ] || { echo "run.sh: MXSIM_CA=$MXSIM_CA: no such file (mxsim ca prints where ca.pem is)" >&2; exit 2; }
		mounts+=(-v "$(cd "$(dirname "$MXSIM_CA")" && pwd)/$(basename "$MXSIM_CA"):/mxsim/ca.pem:ro")
	fi
	img=$(image)
	docker rm -f "$name" >/dev/null 2>&1 || true
	# No chroot, no listener on port 25 (the simulated hosts use it), an
	# smtpd on 127.0.0.1:SUBMIT_PORT; main.cf as written next to this script,
	# then the profile's lines (a parameter set twice: the last one wins).
	docker run -d --name "$name" --label mxsim.external=postfix --network host --dns "$dns" \
		"${mounts[@]}" "$img" sh -c "
set -e
cat /mxsim/main.cf $extra >/etc/postfix/main.cf
postconf -F '*/*/chroot = n'
postconf -MX smtp/inet
postconf -M '127.0.0.1:$port/inet=127.0.0.1:$port inet n - n - - smtpd'
exec postfix start-fg" >/dev/null
	greeting "$port"
	echo "run.sh: $name ($img${profile:+, profile $profile}) takes mail on 127.0.0.1:$port, resolves through $dns"
	;;
flush)
	docker exec "$name" postqueue -f
	;;
reset)
	# Empty the queue, then end the queue manager, which remembers
	# destinations it found dead ("delivery temporarily suspended"); the
	# master starts a fresh one when the next message arrives. No TLS
	# session cache is kept (main.cf), and no address verification cache.
	docker exec "$name" sh -c '
postsuper -d ALL 2>/dev/null
pid=$(grep -lx qmgr /proc/[0-9]*/comm 2>/dev/null | cut -d/ -f3)
[ -n "$pid" ] || exit 0
kill "$pid"
i=0
while [ -d "/proc/$pid" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
[ ! -d "/proc/$pid" ] || { echo "reset: qmgr $pid did not end within 5 s" >&2; exit 1; }'
	;;
stop)
	if docker inspect "$name" >/dev/null 2>&1; then
		docker rm -f "$name" >/dev/null
	fi
	;;
logs)
	docker logs "$name"
	;;
*)
	usage
	;;
esac
