#!/usr/bin/env bash
# Runs OpenSMTPD as mxsim's external relay in a long-running container,
# from the mxsim/opensmtpd image (mxsim image opensmtpd), with smtpd.conf
# next to this script.
#
#   run.sh start DNS_IP SUBMIT_PORT   start it (mxsim's DNS at DNS_IP:53), wait for its greeting
#   run.sh flush                      retry the queue now (smtpctl schedule all)
#   run.sh reset                      empty the queue and start a fresh smtpd
#   run.sh stop                       remove the container
#
# MXSIM_OPENSMTPD_IMAGE overrides the image (default: the newest mxsim/opensmtpd tag).
set -euo pipefail

name=${MXSIM_EXT_NAME:-mxsim-ext-opensmtpd}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=${TMPDIR:-/tmp}/$name

die() { echo "run.sh: $*" >&2; exit 1; }

image() {
	if [ -n "${MXSIM_OPENSMTPD_IMAGE:-}" ]; then
		echo "$MXSIM_OPENSMTPD_IMAGE"
		return
	fi
	local tag
	tag=$(docker images --format '{{.Repository}}:{{.Tag}}' mxsim/opensmtpd | sort -V | tail -n 1)
	[ -n "$tag" ] || die "no mxsim/opensmtpd image: run mxsim image opensmtpd"
	echo "$tag"
}

# greeting PORT: wait up to 15 s for a 220 on 127.0.0.1:PORT.
greeting() {
	local line i
	for i in $(seq 150); do
		if { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null; then
			line=
			read -r -t 2 line <&3 || true
			exec 3<&- 3>&-
			[[ $line == 220* ]] && return 0
		fi
		sleep 0.1
	done
	docker logs --tail 5 "$name" >&2 || true
	die "no greeting on 127.0.0.1:$1"
}

start() {
	local dns=$1 port=$2
	[[ $port =~ ^[0-9]+$ ]] || die "SUBMIT_PORT $port: not a port"
	mkdir -p "$state"
	sed "s/^listen on 127.0.0.1 port 2525 /listen on 127.0.0.1 port $port /" "$here/smtpd.conf" >"$state/smtpd.conf"
	printf '%s %s\n' "$dns" "$port" >"$state/args"
	# Detached: nothing of smtpd stays attached to this command's output.
	docker run -d --name "$name" --network host --dns "$dns" -v "$state:/etc/mxsim:ro" "$(image)" \
		sh -c 'mkdir -p -m 711 /var/spool/smtpd && exec smtpd -d -f /etc/mxsim/smtpd.conf' >/dev/null
	greeting "$port"
}

stop() { docker rm -f "$name" >/dev/null 2>&1 || true; }

case "${1:-}" in
start)
	[ $# -eq 3 ] || die "usage: run.sh start DNS_IP SUBMIT_PORT"
	stop
	start "$2" "$3"
	;;
flush)
	docker exec "$name" smtpctl schedule all >/dev/null
	;;
reset)
	# OpenSMTPD keeps suspended routes, connect delays, open sessions and
	# resolved MX sets in memory, and has no reload: a new container gives a
	# fresh smtpd and an empty queue.
	[ -f "$state/args" ] || die "not started (run.sh start DNS_IP SUBMIT_PORT)"
	read -r dns port <"$state/args"
	stop
	start "$dns" "$port"
	;;
stop)
	stop
	;;
*)
	die "usage: run.sh start DNS_IP SUBMIT_PORT | flush | reset | stop"
	;;
esac
