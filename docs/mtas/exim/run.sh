#!/usr/bin/env bash
# run.sh: a long-running Exim in a container, as an external relay under
# test for mxsim (docs/exim.md). It runs the image mxsim/exim (build it
# with `mxsim image exim`) with exim4.conf from this directory.
#
#   run.sh start DNS_IP [SUBMIT_PORT [SUBMISSION_PORT SUBMISSIONS_PORT]]
#       start the container mxsim-ext-exim (host network, DNS_IP as its
#       only resolver) and wait for Exim's greeting on 127.0.0.1:SUBMIT_PORT
#       (default 2525; the 587-style and 465-style services default to
#       2587 and 2465). With MXSIM_CA_DIR set (mxsim ca -dir DIR), its
#       ca.pem is mounted as /etc/exim4/mxsim-ca.pem.
#   run.sh flush   retry the whole queue now (exim -qff, in the background)
#   run.sh reset   stop deliveries in progress, remove every message and
#                  the hints databases (retry times, connection reuse)
#   run.sh stop    remove the container
#
# MXSIM_EXIM_IMAGE chooses the image (default: the newest mxsim/exim tag).
set -euo pipefail

name=${MXSIM_EXT_NAME:-mxsim-ext-exim}
here=$(cd "$(dirname "$0")" && pwd)

usage() {
	echo "usage: $0 start DNS_IP [SUBMIT_PORT [SUBMISSION_PORT SUBMISSIONS_PORT]] | flush | reset | stop" >&2
	exit 2
}

image() {
	if [ -n "${MXSIM_EXIM_IMAGE:-}" ]; then
		echo "$MXSIM_EXIM_IMAGE"
		return
	fi
	local tag
	tag=$(docker images --format '{{.Repository}}:{{.Tag}}' mxsim/exim | sort -V | tail -n 1)
	if [ -z "$tag" ]; then
		echo "run.sh: no mxsim/exim image: build it with mxsim image exim" >&2
		exit 1
	fi
	echo "$tag"
}

# The script that runs in the container: the configuration with the
# ports asked for, a self-signed certificate for Exim's own STARTTLS, an
# empty spool, then Exim as a foreground daemon with a queue runner every
# second.
container_script='set -e
sed -e "s/^daemon_smtp_ports = .*/daemon_smtp_ports = $SUBMIT_PORT : $SUBMISSION_PORT : $SUBMISSIONS_PORT/" \
    -e "s/^tls_on_connect_ports = .*/tls_on_connect_ports = $SUBMISSIONS_PORT/" \
    -e "s/{2587}/{$SUBMISSION_PORT}/g" -e "s/{2465}/{$SUBMISSIONS_PORT}/g" \
    /etc/exim4/exim4.conf.mxsim > /etc/exim4/exim4.conf
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj /CN=relay.example.test -keyout /etc/exim4/mxsim-server.key -out /etc/exim4/mxsim-server.pem 2>/dev/null
chown root:Debian-exim /etc/exim4/mxsim-server.key && chmod 640 /etc/exim4/mxsim-server.key
rm -rf /var/spool/exim4/input/* /var/spool/exim4/msglog/* /var/spool/exim4/db/*
exec exim -bdf -q1s'

# The reset: every Exim process but the daemon (PID 1) is stopped, and the
# spool emptied before and after, so that a queue runner started meanwhile
# finds nothing.
reset_script='empty() { rm -rf /var/spool/exim4/input/* /var/spool/exim4/msglog/* /var/spool/exim4/db/*; }
empty
for d in /proc/[0-9]*; do
	p=${d#/proc/}
	[ "$p" = 1 ] && continue
	case "$(cat "$d/comm" 2>/dev/null)" in exim|exim4) kill -9 "$p" 2>/dev/null || true;; esac
done
empty'

greeting() { # port: wait up to 30s for "220"
	local i
	for i in $(seq 1 60); do
		if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && head -c 3 <&3" 2>/dev/null | grep -q 220; then
			return 0
		fi
		if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
			docker logs "$name" >&2 || true
			echo "run.sh: the container stopped" >&2
			return 1
		fi
		sleep 0.5
	done
	echo "run.sh: no greeting on 127.0.0.1:$1 after 30s" >&2
	docker logs "$name" >&2 || true
	return 1
}

case "${1:-}" in
start)
	[ $# -ge 2 ] || usage
	dns=$2 submit=${3:-2525} submission=${4:-2587} submissions=${5:-2465}
	img=$(image)
	docker rm -f "$name" >/dev/null 2>&1 || true
	ca=()
	if [ -n "${MXSIM_CA_DIR:-}" ]; then
		ca=(-v "$MXSIM_CA_DIR/ca.pem:/etc/exim4/mxsim-ca.pem:ro")
	fi
	docker run -d --name "$name" --network host --dns "$dns" \
		-e SUBMIT_PORT="$submit" -e SUBMISSION_PORT="$submission" -e SUBMISSIONS_PORT="$submissions" \
		-v "$here/exim4.conf:/etc/exim4/exim4.conf.mxsim:ro" "${ca[@]}" \
		"$img" sh -c "$container_script" >/dev/null
	greeting "$submit"
	echo "Exim ($img) listening on 127.0.0.1:$submit ($submission, $submissions), resolving through $dns"
	;;
flush)
	docker exec -d "$name" exim -qff
	;;
reset)
	docker exec "$name" sh -c "$reset_script"
	;;
stop)
	docker rm -f "$name" >/dev/null
	;;
*)
	usage
	;;
esac
