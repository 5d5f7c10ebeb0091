package postfix

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/mxsim/mxsim/harness"
)

// OpenDKIM signs for Postfix when a scenario's relay has dkim: (see
// docs/dkim-signing.md). It runs in the container as a milter on a unix
// socket (the container shares the machine's network: a TCP port could
// collide with another container's), as root, without a UserID line, so
// that the key file, root's and 0600, passes its safe-keys check. It logs
// to syslog, which is the adapter's log socket: its lines reach the
// scenario's journal as relay.log events, "DKIM-Signature field added
// (s=SEL, d=DOMAIN)" among them.
const (
	dkimDir    = "/run/mxsim-opendkim"
	dkimSocket = dkimDir + "/opendkim.sock"
	dkimPid    = dkimDir + "/opendkim.pid"
	dkimConf   = "/etc/opendkim-mxsim.conf"
	// DKIMKeyFile is where the scenario's signing key is written.
	DKIMKeyFile = "/etc/opendkim-mxsim.key"
)

// dkimParams are the main.cf parameters that put OpenDKIM in front of
// Postfix: on mail submitted over SMTP (smtpd_milters) and locally
// (non_smtpd_milters, which bounces are not: Postfix makes them itself);
// a milter that does not answer makes Postfix refuse the mail for now
// (tempfail) rather than send it unsigned.
func dkimParams() map[string]string {
	milter := "unix:" + dkimSocket
	return map[string]string{
		"smtpd_milters":         milter,
		"non_smtpd_milters":     milter,
		"milter_default_action": "tempfail",
	}
}

// dkimConfig is OpenDKIM's configuration for d: sign (Mode s) mail whose
// From domain is d.Domain or below it (SubDomains), from the clients
// OpenDKIM takes as internal (its default InternalHosts, 127.0.0.1,
// where the harness submits from).
func dkimConfig(d *harness.DKIMSigning) string {
	algo := "rsa-sha256"
	if _, ok := d.Key.Public().(ed25519.PublicKey); ok {
		algo = "ed25519-sha256"
	}
	return strings.Join([]string{
		"SignatureAlgorithm " + algo,
		"Syslog yes",
		"SyslogSuccess yes",
		"LogWhy yes",
		"Mode s",
		"Domain " + d.Domain,
		"SubDomains yes",
		"Selector " + d.Selector,
		"KeyFile " + DKIMKeyFile,
		"Canonicalization relaxed/relaxed",
		"Socket local:" + dkimSocket,
		"PidFile " + dkimPid,
		"UMask 000",
		"",
	}, "\n")
}

// dkimScript (re)starts OpenDKIM for a scenario: it stops the one of the
// last scenario, writes the key ($1) and the configuration ($2) and starts
// OpenDKIM, waiting up to 10 s for its socket. With no key it only stops
// it. OpenDKIM takes five seconds to end on SIGTERM (measured here), and
// the queue is empty between scenarios: it is killed (Postfix's master,
// the container's init, reaps it). Exit 13: OpenDKIM did not start (its
// output follows).
const dkimScript = `key=$1 conf=$2
if [ -f ` + dkimPid + ` ]; then
	pid=$(cat ` + dkimPid + `); kill -9 "$pid" 2>/dev/null
	i=0; while [ $i -lt 50 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.02; i=$((i+1)); done
	rm -f ` + dkimPid + `
fi
rm -f ` + dkimSocket + `
[ -n "$key" ] || exit 0
mkdir -p ` + dkimDir + ` && chmod 755 ` + dkimDir + ` || exit 1
umask 077
printf '%s' "$key" > ` + DKIMKeyFile + ` && chown root:root ` + DKIMKeyFile + ` && chmod 600 ` + DKIMKeyFile + ` || exit 1
printf '%s' "$conf" > ` + dkimConf + ` || exit 1
out=$(opendkim -x ` + dkimConf + ` 2>&1) || { printf '%s\n' "$out"; exit 13; }
i=0; while [ $i -lt 500 ]; do [ -S ` + dkimSocket + ` ] && exit 0; sleep 0.02; i=$((i+1)); done
printf '%s\n' "$out"; echo "no socket ` + dkimSocket + ` after 10s"; exit 13
`

// startDKIM runs OpenDKIM with d's key, or stops it when d is nil.
func (p *Postfix) startDKIM(ctx context.Context, d *harness.DKIMSigning) error {
	key, conf := "", ""
	if d != nil {
		der, err := x509.MarshalPKCS8PrivateKey(d.Key)
		if err != nil {
			return fmt.Errorf("postfix: %w: dkim key: %w", ErrSettings, err)
		}
		key = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		conf = dkimConfig(d)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, code, err := p.exec(ctx, "sh", "-c", dkimScript, "sh", key, conf)
	switch {
	case err != nil:
		return fmt.Errorf("postfix: opendkim: %w", err)
	case code == 13:
		return fmt.Errorf("postfix: %w: opendkim did not start: %s", ErrStart, strings.TrimSpace(out))
	case code != 0:
		return fmt.Errorf("postfix: opendkim: exit %d: %s", code, strings.TrimSpace(out))
	}
	return nil
}
