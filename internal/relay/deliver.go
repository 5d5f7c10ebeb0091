package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxsim/mxsim/journal"
)

// verdict is what became of one recipient in one attempt.
type verdict int

const (
	verdictDeferred  verdict = iota // try again later (4yz, or no host reachable)
	verdictDelivered                // a host said 2yz to DATA
	verdictBounced                  // 5yz, or a permanent routing failure
)

// rcptResult is one recipient's outcome in one attempt.
type rcptResult struct {
	Rcpt    string
	Verdict verdict
	Reply   reply
}

// resultsFor gives every recipient the same verdict from rep.
func resultsFor(rcpts []string, rep reply) []rcptResult {
	v := verdictDeferred
	if rep.permanent() {
		v = verdictBounced
	}
	out := make([]rcptResult, 0, len(rcpts))
	for _, rc := range rcpts {
		out = append(out, rcptResult{Rcpt: rc, Verdict: v, Reply: rep})
	}
	return out
}

// deliver makes one delivery attempt of m to rcpts (all at domain, or all
// through the smarthost) and returns a result for every recipient.
func (r *Relay) deliver(ctx context.Context, m *message, domain string, rcpts []string) []rcptResult {
	port := r.cfg.Port
	if r.smart != nil {
		port = r.smart.Port
	}
	hosts, v := r.route(ctx, domain)
	if v != nil {
		return resultsFor(rcpts, *v)
	}
	// RFC 5321 §5.1: try more than one host, up to a limit (rule 8).
	if len(hosts) > r.cfg.MaxMXHosts {
		hosts = hosts[:r.cfg.MaxMXHosts]
	}
	// MTA-STS (RFC 8461, rule 24): the policy may drop hosts and make TLS
	// with a valid certificate mandatory (mtasts.go).
	if sts := r.mtasts(ctx, m, domain); sts != nil {
		kept, skip := r.stsHosts(m, sts, hosts)
		if skip != nil {
			r.logf(*skip, "id=%s: %s", m.ID, skip.Text)
			return resultsFor(rcpts, *skip)
		}
		hosts = kept
		if r.stsTLS(sts) {
			ctx = withSTS(ctx)
		}
	}
	var results []rcptResult
	pending := slices.Clone(rcpts)
	last := reply{Code: codeLocalError, Status: statusNoAnswer, Text: "no MX host could be tried"}
	anyAddr, anyTemp := false, false
hosts:
	for _, h := range hosts {
		if r.closing() {
			// Close has begun: no new session (see Close).
			break
		}
		addrs, st := r.lookupAddrs(ctx, h.Name)
		if r.closing() {
			break
		}
		if len(addrs) == 0 {
			// Rule 9/10: an MX host without an address is skipped.
			anyTemp = anyTemp || st.Temp != nil
			last = reply{Code: codeLocalError, Status: statusDNSTemp, Text: noAddressText(h.Name, st)}
			r.logf(last, "id=%s: MX host %s skipped: %s", m.ID, h.Name, last.Text)
			continue
		}
		anyAddr = true
		dp, skip := r.dane(ctx, m, h, st, port)
		if skip != nil {
			last = *skip
			continue
		}
		for _, a := range addrs {
			if ctx.Err() != nil || r.closing() {
				break hosts
			}
			done, hostErr := r.sessionWithFallback(ctx, m, h.Name, a, port, pending, dp)
			results = append(results, done...)
			for _, d := range done {
				pending = slices.DeleteFunc(pending, func(rc string) bool { return rc == d.Rcpt })
			}
			if hostErr == nil || len(pending) == 0 {
				break hosts
			}
			if r.cfg.Bugs.NoFailover {
				// Planted bug: rule 13 says try the next address and host.
				last = *hostErr
				break hosts
			}
			if r.cfg.Bugs.FirstAddressOnly {
				// Planted bug: rule 8 says try every address of the host.
				last = *hostErr
				continue hosts
			}
			// Rules 13/14: refused, timeout, 4yz, 554 greeting: next address, next host.
			last = *hostErr
		}
	}
	if len(pending) > 0 && !anyAddr && !anyTemp && r.smart == nil && len(hosts) > 0 && ctx.Err() == nil && !r.closing() {
		// Rule 10: MX hosts exist but none has an address, and the DNS said
		// so for sure (NXDOMAIN/NODATA, no temporary error): unroutable.
		last = reply{Code: codeMailboxNotFound, Status: statusUnableToRoute,
			Text: fmt.Sprintf("unable to route mail for %s: %s", domain, last.Text)}
	}
	return append(results, resultsFor(pending, last)...)
}

// noAddressText says why an MX host has no address.
func noAddressText(host string, st addrStatus) string {
	switch {
	case st.Temp != nil:
		return fmt.Sprintf("temporary DNS failure resolving MX host %s: %v", host, st.Temp)
	case st.NXDomain:
		return fmt.Sprintf("MX host %s not found (NXDOMAIN)", host)
	}
	return fmt.Sprintf("MX host %s has no A or AAAA record", host)
}

// sessionWithFallback runs a session; under TLSMay a failed handshake is
// followed by one plaintext session to the same address.
func (r *Relay) sessionWithFallback(ctx context.Context, m *message, host string, addr netip.Addr, port int, rcpts []string, dp *danePolicy) ([]rcptResult, *reply) {
	done, hostErr, tlsFailed := r.session(ctx, m, host, addr, port, rcpts, false, dp)
	opportunistic := (r.cfg.TLS == TLSMay || r.cfg.TLS == TLSDane && !dp.mandatory()) && (dp != nil || !stsIn(ctx))
	if tlsFailed && opportunistic && ctx.Err() == nil && !r.closing() {
		// RFC 7435 §1.3 / Postfix "may": opportunistic TLS falls back to plaintext.
		done, hostErr, _ = r.session(ctx, m, host, addr, port, rcpts, true, dp)
	}
	return done, hostErr
}

// logf appends a relay.log event carrying rep's code.
func (r *Relay) logf(rep reply, format string, args ...any) {
	r.j.Append(journal.Event{Kind: journal.KindRelayLog, Source: source, Code: rep.Code, Text: fmt.Sprintf(format, args...)})
}

// session is one SMTP session to one address of one host. It returns the
// recipients that got an outcome here, and a host failure (nil when the
// session ran to its end) that sends the others to the next address.
// tlsFailed reports a failed STARTTLS handshake.
func (r *Relay) session(ctx context.Context, m *message, host string, addr netip.Addr, port int, rcpts []string, plain bool, dp *danePolicy) (done []rcptResult, hostErr *reply, tlsFailed bool) {
	remote := netip.AddrPortFrom(addr, uint16(port))
	target := fmt.Sprintf("%s[%s]:%d", host, addr, port)
	r.j.Append(journal.Event{Kind: journal.KindRelayAttempt, Source: source, Remote: remote.String(), Peer: host,
		Text: fmt.Sprintf("%s id=%s to=%s", target, m.ID, strings.Join(rcpts, ","))})
	fail := func(rep reply, err error) *reply {
		rep = asTemporary(rep)
		if ctx.Err() != nil {
			// Close ran out of grace and closed the connection under the
			// session: say so, not what the socket said about it.
			rep, err = reply{Code: codeServiceNotAvail, Status: statusShuttingDown,
				Text: "session cut short: the relay is closing"}, nil
		}
		e := journal.Event{Kind: journal.KindRelayLog, Source: source, Remote: remote.String(), Code: rep.Code,
			Text: fmt.Sprintf("%s id=%s: %s", target, m.ID, rep)}
		if err != nil {
			e.Err = err.Error()
		}
		r.j.Append(e)
		return &rep
	}

	d := net.Dialer{Timeout: r.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", remote.String())
	if err != nil {
		return nil, fail(reply{Code: codeServiceNotAvail, Status: statusNoAnswer, Text: "connect to " + target + ": " + errText(err)}, err), false
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	// Implicit TLS to a smarthost (RFC 8314 §3.3): the handshake comes
	// before the greeting, and a failure skips the host as a failed
	// STARTTLS would.
	implicit := r.smart != nil && r.smart.Implicit
	var tlsConn *tls.Conn
	if implicit {
		tlsConn = tls.Client(conn, r.tlsConfig(ctx, host, dp))
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return nil, fail(reply{Code: codeLocalError, Status: statusTLSUnavailable,
				Text: fmt.Sprintf("implicit TLS with %s failed (policy %s): %s", host, r.cfg.TLS, errText(err))}, err), true
		}
		st := tlsConn.ConnectionState()
		r.logf(reply{}, "%s id=%s: implicit TLS %s %s (policy %s)", target, m.ID, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), r.cfg.TLS)
		conn = tlsConn
	}

	// Greeting and EHLO (go-smtp falls back to HELO on 500/502).
	c := r.newClient(conn)
	c.conn = tlsConn
	if err := c.Hello(r.cfg.Hostname); err != nil {
		// Rules 13/14: 4yz or 554 greeting, or a failed EHLO: next host.
		return nil, fail(r.hostReply(err, host, "greeting or EHLO"), err), false
	}
	// bye ends a session that fails while the host still listens with QUIT
	// (RFC 5321 §4.1.1.10: the client MUST NOT close the channel without
	// it), but not when the host said 421 or the connection is gone.
	bye := func(rep reply) reply {
		if rep.Code != codeServiceNotAvail {
			_ = c.Quit()
		}
		return rep
	}

	// Planted bug: AUTH before STARTTLS (rule 25 forbids it).
	authDone := false
	if r.smart != nil && r.cfg.SmarthostAuth != nil && r.cfg.Bugs.AuthBeforeTLS && !implicit {
		if rep := r.authenticate(c, host, true); rep != nil {
			return nil, fail(bye(*rep), nil), false
		}
		authDone = true
	}

	// STARTTLS (rules 19–22).
	tlsOn := implicit
	if (r.cfg.TLS != TLSNone || stsIn(ctx)) && !plain && !implicit {
		mandatory := r.cfg.TLS == TLSEncrypt || r.cfg.TLS == TLSVerify || dp.mandatory() || stsIn(ctx)
		offered, _ := c.Extension("STARTTLS")
		switch {
		case offered || r.cfg.Bugs.StartTLSUnadvertised:
			// Rule 19: STARTTLS only when advertised (the planted bug
			// StartTLSUnadvertised sends it regardless).
			var stale []byte
			if r.cfg.Bugs.NoEHLOAfterStartTLS {
				stale = learnedEHLO(c, host)
			}
			tc, refused, err := r.startTLS(ctx, conn, host, stale, dp)
			switch {
			case err == nil:
				c, tlsOn = tc, true
				st := tc.conn.ConnectionState()
				r.logf(reply{}, "%s id=%s: STARTTLS %s %s (policy %s)", target, m.ID, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), r.cfg.TLS)
				// RFC 3207 §4.2: forget what was learned; EHLO again (with
				// NoEHLOAfterStartTLS the stale reply answers it, see startTLS).
				if err := c.Hello(r.cfg.Hostname); err != nil {
					return nil, fail(r.hostReply(err, host, "EHLO after STARTTLS"), err), false
				}
			case refused != nil && (!mandatory || r.cfg.Bugs.StartTLSUnadvertised):
				// STARTTLS answered with an error: the session goes on in
				// plaintext (under mandatory TLS only with the planted bug).
				r.logf(*refused, "%s id=%s: STARTTLS refused, continuing in plaintext: %s", target, m.ID, refused)
			case refused != nil:
				return nil, fail(bye(reply{Code: codeLocalError, Status: statusTLSUnavailable,
					Text: fmt.Sprintf("STARTTLS refused by %s and TLS is required (policy %s): %s", host, r.cfg.TLS, refused)}), err), false
			default:
				// Rule 21/22: a failed handshake or certificate check skips the host.
				return nil, fail(reply{Code: codeLocalError, Status: statusTLSUnavailable,
					Text: fmt.Sprintf("TLS with %s failed (policy %s): %s", host, r.cfg.TLS, errText(err))}, err), true
			}
		case mandatory && r.cfg.Bugs.PlaintextWhenMandatory:
			// Planted bug: rule 21 forbids plaintext under mandatory TLS.
			r.logf(reply{}, "%s id=%s: no STARTTLS offered, continuing in plaintext (policy %s)", target, m.ID, r.cfg.TLS)
		case mandatory && dp == nil && stsIn(ctx):
			// RFC 8461 §4.2 / rule 24: under a policy in enforce mode, never plaintext.
			return nil, fail(bye(reply{Code: codeLocalError, Status: statusTLSUnavailable,
				Text: fmt.Sprintf("MTA-STS: %s does not offer STARTTLS and the policy enforces TLS: not delivering in plaintext", host)}), nil), false
		case mandatory && dp != nil:
			// RFC 7672 §2.2 / rule 23: secure TLSA records make TLS mandatory.
			return nil, fail(bye(reply{Code: codeLocalError, Status: statusTLSUnavailable,
				Text: fmt.Sprintf("DANE: %s does not offer STARTTLS but has TLSA records at %s: not delivering in plaintext", host, dp.owner)}), nil), false
		case mandatory:
			// RFC 3207 §4 / rule 21: never send in plaintext under mandatory TLS.
			return nil, fail(bye(reply{Code: codeLocalError, Status: statusTLSUnavailable,
				Text: fmt.Sprintf("%s does not offer STARTTLS and TLS is required (policy %s)", host, r.cfg.TLS)}), nil), false
		}
	}

	// AUTH to the smarthost (rule 25).
	if r.smart != nil && r.cfg.SmarthostAuth != nil && !authDone {
		if rep := r.authenticate(c, host, tlsOn); rep != nil {
			return nil, fail(bye(*rep), nil), false
		}
	}

	done, hostErr = r.transaction(c, m, host, target, remote.String(), rcpts)
	if hostErr != nil {
		return done, fail(bye(*hostErr), nil), false
	}
	_ = c.Quit()
	return done, nil, false
}

// transaction runs MAIL, RCPT and DATA (RFC 5321 §3.3). Every recipient
// that got a final reply here is in done; a non-nil hostErr sends the
// others to the next host.
func (r *Relay) transaction(c *client, m *message, host, target, remote string, rcpts []string) (done []rcptResult, hostErr *reply) {
	if err := c.Mail(m.From, nil); err != nil {
		rep := r.hostReply(err, host, "MAIL")
		if rep.permanent() {
			// Rule 14: 5yz to MAIL fails every recipient for good.
			return resultsFor(rcpts, rep), nil
		}
		// Rule 13: 4yz to MAIL: next host for all.
		return nil, &rep
	}
	var accepted []string
	for _, rc := range rcpts {
		err := c.Rcpt(rc, nil)
		if err == nil {
			accepted = append(accepted, rc)
			continue
		}
		rep := r.hostReply(err, host, "RCPT")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code == codeServiceNotAvail {
			// The session is gone: whoever is left goes to the next host.
			return done, &rep
		}
		// Rule 18: each recipient on its own. 5yz bounces (rule 14);
		// 4yz defers (RFC 5321 §4.2.5: try again later), no next host.
		done = append(done, resultsFor([]string{rc}, rep)...)
	}
	if len(accepted) == 0 {
		return done, nil
	}
	dataErr := func(err error) ([]rcptResult, *reply) {
		rep := r.hostReply(err, host, "DATA")
		if rep.permanent() {
			return append(done, resultsFor(accepted, rep)...), nil
		}
		return done, &rep
	}
	w, err := c.Data()
	if err != nil {
		return dataErr(err)
	}
	if _, err := w.Write(m.Data); err != nil {
		_ = w.Close()
		return dataErr(err)
	}
	if err := w.Close(); err != nil {
		return dataErr(err)
	}
	r.j.Append(journal.Event{Kind: journal.KindRelayDeliver, Source: source, Remote: remote, Code: codeOK,
		Text:    fmt.Sprintf("%s id=%s to=%s", target, m.ID, strings.Join(accepted, ",")),
		Message: m.journal(accepted)})
	for _, rc := range accepted {
		done = append(done, rcptResult{Rcpt: rc, Verdict: verdictDelivered, Reply: reply{Code: codeOK, Status: "2.0.0", Text: "delivered", Host: host}})
	}
	return done, nil
}

// hostReply turns an error of the SMTP client into a reply: the remote's
// reply when there was one, else a connection failure (4.4.2).
func (r *Relay) hostReply(err error, host, stage string) reply {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		rep := replyFromSMTP(se, host)
		rep.Text += " (in reply to " + stage + ")"
		return rep
	}
	return reply{Code: codeServiceNotAvail, Status: statusBadConnection, Host: host,
		Text: fmt.Sprintf("lost connection in %s: %s", stage, errText(err))}
}

// asTemporary turns a host-level failure into a temporary verdict: a 554
// greeting or a 5yz to EHLO makes the relay move on (rule 14), and if no
// host is left the mail is deferred, not bounced.
func asTemporary(rep reply) reply {
	if !rep.permanent() {
		return rep
	}
	st := "4" + strings.TrimPrefix(string(rep.Status), "5")
	return reply{Code: codeLocalError, Status: status(st), Text: fmt.Sprintf("%d %s %s", rep.Code, rep.Status, rep.Text), Host: rep.Host}
}

// errText shortens network errors for the journal.
func errText(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// client is a go-smtp client with the connection under it, so the relay
// can run STARTTLS and AUTH on its own terms.
type client struct {
	*smtp.Client
	nc   net.Conn  // the connection the go-smtp client speaks over
	conn *tls.Conn // set once under TLS
}

// newClient wraps conn in a go-smtp client with the relay's timeouts.
func (r *Relay) newClient(conn net.Conn) *client {
	c := smtp.NewClient(conn)
	c.CommandTimeout = r.cfg.Timeout
	c.SubmissionTimeout = r.cfg.Timeout
	return &client{Client: c, nc: conn}
}

// startTLS sends STARTTLS on conn and runs the TLS handshake (RFC 3207).
// go-smtp's client does STARTTLS only before its first EHLO or not under
// our EHLO name, so this small part is done by hand: the client is idle
// after EHLO, nothing is buffered, and the new client gets a synthetic
// greeting so that it starts right at EHLO. refused is set when the server
// answered STARTTLS with an error reply. stale, when set (the planted bug
// NoEHLOAfterStartTLS), answers the new client's EHLO instead of the host,
// which never sees it.
func (r *Relay) startTLS(ctx context.Context, conn net.Conn, host string, stale []byte, dp *danePolicy) (c *client, refused *reply, err error) {
	_ = conn.SetDeadline(time.Now().Add(r.cfg.Timeout))
	if _, err := conn.Write([]byte("STARTTLS\r\n")); err != nil {
		return nil, nil, fmt.Errorf("send STARTTLS to %s: %w", host, err)
	}
	tp := textproto.NewReader(bufio.NewReaderSize(oneByteReader{conn}, 16))
	if _, _, err := tp.ReadResponse(codeStartTLSReady); err != nil {
		var pe *textproto.Error
		if errors.As(err, &pe) {
			rep := r.hostReply(smtpErrorOf(pe), host, "STARTTLS")
			return nil, &rep, fmt.Errorf("STARTTLS at %s: %w", host, err)
		}
		return nil, nil, fmt.Errorf("STARTTLS at %s: %w", host, err)
	}
	tc := tls.Client(conn, r.tlsConfig(ctx, host, dp))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, nil, fmt.Errorf("TLS handshake with %s: %w", host, err)
	}
	_ = conn.SetDeadline(time.Time{})
	nc := r.newClient(&greetedConn{Conn: tc, pending: []byte("220 " + host + " TLS ready\r\n"), stale: stale})
	nc.conn = tc
	return nc, nil, nil
}

// tlsConfig is the client TLS configuration for host under the policy.
func (r *Relay) tlsConfig(ctx context.Context, host string, dp *danePolicy) *tls.Config {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if dp != nil {
		// Rule 23: the certificate must match a TLSA record (RFC 7672 §3).
		dp.tlsConfig(cfg, host)
		return cfg
	}
	if stsIn(ctx) {
		// Rule 24: a valid certificate for the MX host (RFC 8461 §4.2).
		r.stsTLSConfig(cfg, host)
		return cfg
	}
	if r.cfg.TLS == TLSVerify && !r.cfg.Bugs.SkipCertChecks {
		// Rule 22: chain to RootCAs, name matches the MX host, not expired.
		cfg.RootCAs = r.cfg.RootCAs
	} else {
		// RFC 7435: opportunistic / "encrypt" TLS does not authenticate the peer.
		cfg.InsecureSkipVerify = true
	}
	return cfg
}

// smtpErrorOf turns a textproto error into go-smtp's form, parsing the
// enhanced code.
func smtpErrorOf(pe *textproto.Error) *smtp.SMTPError {
	se := &smtp.SMTPError{Code: pe.Code, EnhancedCode: smtp.NoEnhancedCode, Message: pe.Msg}
	var a, b, c int
	if first, rest, ok := strings.Cut(pe.Msg, " "); ok {
		if n, _ := fmt.Sscanf(first, "%d.%d.%d", &a, &b, &c); n == 3 {
			se.EnhancedCode, se.Message = smtp.EnhancedCode{a, b, c}, rest
		}
	}
	return se
}

// oneByteReader reads one byte at a time, so a bufio.Reader on top never
// reads past the STARTTLS reply into the TLS handshake.
type oneByteReader struct{ net.Conn }

// Read reads at most one byte.
func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.Conn.Read(p)
}

// greetedConn serves a synthetic greeting before the connection's own
// bytes: after STARTTLS there is no new greeting, but go-smtp's client
// reads one before its EHLO. With stale set, the first EHLO is not sent
// and stale is its reply (planted bug NoEHLOAfterStartTLS).
type greetedConn struct {
	net.Conn
	pending []byte
	stale   []byte
}

// Write sends p, except the EHLO that stale answers.
func (g *greetedConn) Write(p []byte) (int, error) {
	if g.stale != nil && bytes.HasPrefix(p, []byte("EHLO ")) {
		g.pending, g.stale = append(g.pending, g.stale...), nil
		return len(p), nil
	}
	return g.Conn.Write(p)
}

// learnedEHLO is an EHLO reply made of the extensions c learned before
// TLS, for the planted bug NoEHLOAfterStartTLS (rule 19 wants them
// forgotten).
func learnedEHLO(c *client, host string) []byte {
	lines := []string{host}
	for _, ext := range []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE", "AUTH", "SMTPUTF8", "DSN"} {
		if ok, param := c.Extension(ext); ok {
			lines = append(lines, strings.TrimSpace(ext+" "+param))
		}
	}
	var b bytes.Buffer
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(&b, "%d%s%s\r\n", codeOK, sep, l)
	}
	return b.Bytes()
}

var _ net.Conn = (*greetedConn)(nil)

// Read returns the synthetic greeting first, then the connection's bytes.
func (g *greetedConn) Read(p []byte) (int, error) {
	if len(g.pending) > 0 {
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	return g.Conn.Read(p)
}
