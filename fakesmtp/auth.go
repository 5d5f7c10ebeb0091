package fakesmtp

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mxsim/mxsim/journal"
)

// auth answers AUTH (RFC 4954 §4) up to the exchange: the behaviour's
// delay and forced reply, then whether AUTH may start now (after EHLO,
// once per session, outside a mail transaction, a mechanism the host
// offers) and the initial response. Before TLS, unless AllowInsecure,
// every mechanism is refused with 538 5.7.11 (RFC 4954 §6). The exchange
// itself is saslExchange's.
func (s *session) auth(b *Behavior, arg string) bool {
	s.mayWait("AUTH")
	a := b.Auth
	if a != nil {
		if !s.delay(b.Delays.Auth) {
			return false
		}
		if r := s.h.pick("auth", b.Replies.Auth, ""); r != nil {
			mech, _, _ := strings.Cut(arg, " ")
			s.recordAuth(strings.ToUpper(mech), "", false, "forced reply "+strconv.Itoa(r.Code))
			return s.forced(*r, FaultAuthReply)
		}
	}
	if !s.greeted() {
		return true
	}
	switch {
	case s.authed:
		s.reply(codeBadSequence, "503 5.5.1 Error: already authenticated", "")
		return true
	case s.inTx:
		s.reply(codeBadSequence, "503 5.5.1 Error: AUTH not allowed during a mail transaction", "")
		return true
	case a == nil:
		s.reply(codeNotImpl, "502 5.5.1 Error: authentication not enabled", FaultAuth)
		return true
	}
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 {
		s.reply(codeParamSyntax, "501 5.5.4 Syntax: AUTH mechanism [initial-response]", "")
		return true
	}
	mech := strings.ToUpper(f[0])
	known := false
	for _, m := range a.mechanisms() {
		known = known || m == mech
	}
	if !known {
		s.reply(codeParamNotImpl, "504 5.5.4 Unrecognized authentication type", FaultAuth)
		return true
	}
	if !s.tls && !a.AllowInsecure {
		s.recordAuth(mech, "", false, "encryption required")
		s.fail(replyEncryptNeeded, FaultAuth)
		return true
	}
	var resp []byte // nil: no initial response
	if len(f) == 2 {
		var ok bool
		if resp, ok = decodeSASL(f[1]); !ok {
			s.reply(codeParamSyntax, "501 5.5.2 Invalid base64 data", "")
			return true
		}
	}
	return s.saslExchange(a, mech, resp)
}

// saslExchange runs the exchange of mechanism mech from the client's
// initial response (resp; nil: none) to the mechanism's verdict: a
// challenge (334) and a response line at a time, each response journaled
// masked, until the client cancels or the mechanism decides; then it
// journals the outcome and answers 235 or 535 5.7.8 (RFC 4954 §4, §6). It
// reports whether the session goes on.
func (s *session) saslExchange(a *Auth, mech string, resp []byte) bool {
	initial := resp != nil
	var user string
	var outcome bool
	done := func(u string, ok bool) error {
		user, outcome = u, ok
		return nil
	}
	var srv sasl.Server
	switch mech {
	case MechPlain:
		srv = sasl.NewPlainServer(func(_, u, p string) error { return done(u, a.Users[u] == p && hasUser(a.Users, u)) })
	case MechLogin:
		srv = &loginServer{check: func(u, p string) error { return done(u, a.Users[u] == p && hasUser(a.Users, u)) }}
	default:
		var err error
		if srv, err = newCRAMMD5Server(s.h.name, a.Users, done); err != nil {
			s.fail(replyTLSUnavailable, FaultAuth)
			return true
		}
	}
	for {
		challenge, fin, err := srv.Next(resp)
		if err != nil {
			s.recordAuth(mech, user, false, "failed: "+err.Error())
			if mech == MechCRAMMD5 && initial {
				// RFC 4954 §4 and §6: an initial response to a mechanism
				// where the server speaks first.
				s.reply(codeParamSyntax, "501 5.7.0 Client initiated Authentication Exchange", FaultAuth)
			} else {
				s.reply(codeParamSyntax, "501 5.5.2 "+err.Error(), FaultAuth)
			}
			return true
		}
		if fin {
			break
		}
		s.reply(codeAuthContinue, "334 "+base64.StdEncoding.EncodeToString(challenge), "")
		line, tooLong, err := s.readLine()
		if err != nil {
			return false
		}
		text := "****"
		if !tooLong && string(bytes.TrimSpace(line)) == "*" {
			text = "*"
		}
		s.append(s.event(journal.KindSMTPCommand, text)) // a SASL line, not a command: not counted
		if text == "*" {
			// RFC 4954 §4: the client cancels.
			s.recordAuth(mech, user, false, "cancelled")
			s.reply(codeParamSyntax, "501 5.0.0 Authentication cancelled", "")
			return true
		}
		if tooLong {
			// RFC 4954 §6 (RFC 5248: X.5.6).
			s.recordAuth(mech, user, false, "response line too long")
			s.reply(codeSyntax, "500 5.5.6 Authentication Exchange line is too long", FaultAuth)
			return true
		}
		var ok bool
		if resp, ok = decodeSASL(string(bytes.TrimSpace(line))); !ok {
			s.reply(codeParamSyntax, "501 5.5.2 Invalid base64 data", "")
			return true
		}
		if resp == nil {
			resp = []byte{}
		}
	}
	if !outcome {
		s.recordAuth(mech, user, false, "failed")
		s.fail(replyAuthBad, FaultAuth)
		return true
	}
	s.authed = true
	s.recordAuth(mech, user, true, "ok")
	s.reply(codeAuthOK, lineAuthOK, "")
	return true
}

// authMechanisms lists the mechanisms EHLO advertises (none without Auth).
//
// A host that offers STARTTLS advertises AUTH only under TLS, unless
// AllowInsecure (Postfix smtpd_tls_auth_only style); a host without TLS
// advertises it, so that a relay's AUTH in clear text meets 538.
func (s *session) authMechanisms(b *Behavior) []string {
	a := b.Auth
	if a == nil || !s.tls && !a.AllowInsecure && b.offersStartTLS() {
		return nil
	}
	return a.mechanisms()
}

// maskAuth hides credentials: "AUTH PLAIN dXNlcg..." becomes "AUTH PLAIN ****".
func maskAuth(verb, text string) string {
	if verb != "AUTH" {
		return text
	}
	f := strings.Fields(text)
	if len(f) > 2 {
		return f[0] + " " + f[1] + " ****"
	}
	return text
}

func hasUser(users map[string]string, u string) bool {
	_, ok := users[u]
	return ok
}

// decodeSASL decodes a base64 SASL response; "=" is the empty one
// (RFC 4954 §4).
func decodeSASL(s string) ([]byte, bool) {
	if s == "=" {
		return []byte{}, true
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	if b == nil {
		b = []byte{}
	}
	return b, true
}

func (s *session) recordAuth(mech, user string, ok bool, outcome string) {
	text := "AUTH " + mech
	if user != "" {
		text += " " + user
	}
	e := s.event(journal.KindSMTPAuth, text+": "+outcome)
	e.Auth = &journal.Auth{Mechanism: mech, User: user, OK: ok, TLS: s.tls}
	if !ok {
		e.Fault = FaultAuth
	}
	s.append(e)
}

var (
	_ sasl.Server = (*loginServer)(nil)
	_ sasl.Server = (*cramMD5Server)(nil)
)

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login): "Username:", then "Password:". go-sasl
// has only the client.
type loginServer struct {
	state int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.state {
	case 0:
		if resp == nil { // no initial response: ask for the user name
			l.state = 1
			return []byte("Username:"), false, nil
		}
		l.user, l.state = string(resp), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.state = string(resp), 2
		return []byte("Password:"), false, nil
	case 2:
		l.state = 3
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}

// cramMD5Server is the server side of CRAM-MD5 (RFC 2195): a challenge,
// then "user hex(HMAC-MD5(password, challenge))".
type cramMD5Server struct {
	challenge string
	users     map[string]string
	result    func(user string, ok bool) error
	sent      bool
}

func newCRAMMD5Server(host string, users map[string]string, result func(string, bool) error) (*cramMD5Server, error) {
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("fakesmtp: cram-md5 challenge: %w", err)
	}
	// RFC 2195 §2: the challenge has the form of a msg-id.
	ch := fmt.Sprintf("<%s.%d@%s>", hex.EncodeToString(nonce[:]), time.Now().Unix(), host)
	return &cramMD5Server{challenge: ch, users: users, result: result}, nil
}

func (c *cramMD5Server) Next(resp []byte) ([]byte, bool, error) {
	if !c.sent {
		if len(resp) > 0 {
			return nil, true, sasl.ErrUnexpectedClientResponse
		}
		c.sent = true
		return []byte(c.challenge), false, nil
	}
	user, digest, _ := strings.Cut(string(resp), " ")
	pass, found := c.users[user]
	mac := hmac.New(md5.New, []byte(pass))
	mac.Write([]byte(c.challenge))
	want := hex.EncodeToString(mac.Sum(nil))
	return nil, true, c.result(user, found && hmac.Equal([]byte(want), []byte(strings.ToLower(digest))))
}
