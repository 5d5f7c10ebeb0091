package postfix

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxsim/mxsim/journal"
)

// MTA-STS (RFC 8461) for a scenario with relay mta_sts: Debian's
// postfix-mta-sts-resolver (in the image from rev 2) runs in the
// container as a socketmap server on MTASTSAddr, and Postfix asks it for
// each destination's TLS policy (smtp_tls_policy_maps). Under a policy in
// mode enforce it answers "secure match=PATTERNS", so Postfix delivers
// only to MX hosts that match, over TLS with a certificate valid for the
// host (else: deferred, 4.7.5, "Server certificate not verified");
// testing and none answer nothing, and the relay's own TLS level holds.
// The resolver fetches policies from https://mta-sts.DOMAIN/ on port
// 443 (the web hosts listen there under the adapter's plan), trusting
// the environment's CA through SSL_CERT_FILE.

// MTASTSPolicyMap is Postfix's smtp_tls_policy_maps under relay mta_sts.
const MTASTSPolicyMap = "socketmap:inet:" + MTASTSAddr + ":postfix"

// MTASTSAddr is where the resolver listens in the container.
const MTASTSAddr = "127.0.0.1:8461"

// Files of the resolver in the container.
const (
	mtastsConfig = "/etc/postfix/mxsim-mta-sts.yml"
	mtastsLog    = "/var/log/mxsim-mta-sts.log"
	mtastsPID    = "/run/mxsim-mta-sts.pid"
)

// mtastsScript stops the resolver started for an earlier scenario, starts
// a new one that trusts the CA in CAFile and waits until it listens (it
// needs a second or two). Its cache is in memory: a new resolver knows no
// policy. cache_grace 0 makes it ask for the TXT record at every lookup
// (its default, 60 s, would keep a policy whose id changed a moment ago:
// a set mta_sts step, then a send). Exit 20: it did not listen within 15 s (its log follows).
const mtastsScript = `if [ -f ` + mtastsPID + ` ]; then
	old=$(cat ` + mtastsPID + `); kill $old 2>/dev/null
	i=0; while [ $i -lt 100 ] && kill -0 $old 2>/dev/null; do sleep 0.05; i=$((i+1)); done
	kill -9 $old 2>/dev/null; rm -f ` + mtastsPID + `
fi
printf 'host: 127.0.0.1\nport: 8461\nreuse_port: true\nshutdown_timeout: 1\ncache_grace: 0\ncache:\n  type: internal\n  options:\n    cache_size: 1000\ndefault_zone:\n  strict_testing: false\n  timeout: 4\n' > ` + mtastsConfig + ` || exit 1
SSL_CERT_FILE=` + CAFile + ` setsid mta-sts-daemon -c ` + mtastsConfig + ` -v info >` + mtastsLog + ` 2>&1 </dev/null &
echo $! > ` + mtastsPID + `
i=0; while [ $i -lt 300 ]; do
	python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8461), 0.2).close()' 2>/dev/null && exit 0
	sleep 0.05; i=$((i+1))
done
tail -n 20 ` + mtastsLog + `; exit 20
`

// startMTASTS (re)starts the resolver for a scenario and says so in the
// journal.
func (p *Postfix) startMTASTS(ctx context.Context, j *journal.Journal) error {
	out, code, err := p.exec(ctx, "sh", "-c", mtastsScript)
	switch {
	case err != nil:
		return fmt.Errorf("postfix: mta_sts: start the resolver: %w", err)
	case code != 0:
		return fmt.Errorf("postfix: %w: mta_sts: postfix-mta-sts-resolver did not listen on %s (exit %d): %s", ErrStart, MTASTSAddr, code, strings.TrimSpace(out))
	}
	j.Append(journal.Event{Kind: journal.KindRelayLog, Source: "relay",
		Text: "postfix-mta-sts-resolver started on " + MTASTSAddr + " (policies from https://mta-sts.DOMAIN/.well-known/mta-sts.txt, port 443)"})
	return nil
}
