package fakesmtp

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Every validation failure wraps ErrInvalid (through a
// *FieldError); operations on a closed Host return ErrClosed.
var (
	ErrInvalid = errors.New("fakesmtp: invalid value")
	ErrClosed  = errors.New("fakesmtp: host closed")
)

// FieldError names one bad value of a Config or Behavior. It is the
// package's only structured error type; it unwraps to ErrInvalid.
type FieldError struct {
	Field string // dotted path, e.g. "replies.rcpt[0].reply.code"
	Msg   string // what is wrong, e.g. `unknown state "sideways"`
}

// Error returns "field: what is wrong".
func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns ErrInvalid, so errors.Is(err, ErrInvalid) holds.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// State says whether a host serves SMTP, refuses connections or swallows them.
type State string

// States of a Host.
const (
	Up        State = "up"        // serves SMTP (default, also for "")
	Down      State = "down"      // nothing listens: connection refused; the address is kept for Up
	Blackhole State = "blackhole" // accepts TCP, never greets, holds the connection until the client or Close ends it
)

// Reply is an SMTP reply a behaviour sends. Its text form, read by
// ParseReply and written by String, is "451 4.7.1 try again later" (the
// enhanced code and the text are optional); Times has no text form.
//
// Reply deliberately does not implement encoding.TextMarshaler: it is a
// struct with yaml/json tags, and a text marshaller would drop Times. The
// scenario layer converts strings with ParseReply.
type Reply struct {
	Code     int    `yaml:"code" json:"code"`
	Enhanced string `yaml:"enhanced,omitempty" json:"enhanced,omitempty"` // "4.7.1"
	Text     string `yaml:"text,omitempty" json:"text,omitempty"`
	Times    int    `yaml:"times,omitempty" json:"times,omitempty"` // only the first Times occurrences (per host), then normal; 0 = always
}

// ParseReply reads the text form of a reply: "452 4.2.2 mailbox full",
// "421", "554 go away". The code must be 200..599 and the class of the
// enhanced code (RFC 3463 §2) must match the class of the code.
func ParseReply(s string) (Reply, error) {
	t := strings.TrimSpace(s)
	codeText, rest, _ := strings.Cut(t, " ")
	code, err := strconv.Atoi(codeText)
	if err != nil || len(codeText) != 3 {
		return Reply{}, fmt.Errorf("fakesmtp: reply %q: %w", s, fieldErr("code", "want a three-digit code"))
	}
	r := Reply{Code: code}
	rest = strings.TrimSpace(rest)
	if first, more, _ := strings.Cut(rest, " "); looksEnhanced(first) {
		r.Enhanced = first
		rest = strings.TrimSpace(more)
	}
	r.Text = rest
	if errs := r.validate("", false); len(errs) > 0 {
		return Reply{}, fmt.Errorf("fakesmtp: reply %q: %w", s, errors.Join(errs...))
	}
	return r, nil
}

// String returns the text form: code, enhanced code and text, blank-separated.
func (r Reply) String() string {
	s := strconv.Itoa(r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	if r.Text != "" {
		s += " " + r.Text
	}
	return s
}

// looksEnhanced reports whether s has the shape of an RFC 3463 status code
// (class "." subject "." detail, digits only).
func looksEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// validate checks r; prefix names the field ("replies.mail"). With
// errorOnly, a code below 400 is refused (stages whose success reply
// the host writes itself can only be forced to fail).
func (r Reply) validate(prefix string, errorOnly bool) []error {
	var errs []error
	p := func(f string) string {
		if prefix == "" {
			return f
		}
		return prefix + "." + f
	}
	switch {
	case r.Code < 200 || r.Code > 599:
		errs = append(errs, fieldErr(p("code"), "%d out of range 200..599", r.Code))
	case errorOnly && r.Code < 400:
		errs = append(errs, fieldErr(p("code"), "%d: only 4xx/5xx replies can be forced at this stage", r.Code))
	}
	if r.Enhanced != "" {
		// RFC 3463 §2: class is 2, 4 or 5 and matches the reply's class.
		if !looksEnhanced(r.Enhanced) || !strings.ContainsRune("245", rune(r.Enhanced[0])) || r.Enhanced[1] != '.' {
			errs = append(errs, fieldErr(p("enhanced"), "%q is not an enhanced status code (class.subject.detail)", r.Enhanced))
		} else if r.Code >= 200 && int(r.Enhanced[0]-'0') != r.Code/100 {
			errs = append(errs, fieldErr(p("enhanced"), "class of %q does not match code %d", r.Enhanced, r.Code))
		}
	}
	if strings.ContainsAny(r.Text, "\r\n") {
		errs = append(errs, fieldErr(p("text"), "must be one line"))
	}
	if r.Times < 0 {
		errs = append(errs, fieldErr(p("times"), "%d is negative", r.Times))
	}
	return errs
}

// text returns r's text, or a generic one for its class.
func (r Reply) text() string {
	switch {
	case r.Text != "":
		return r.Text
	case r.Code >= 500:
		return "Permanent failure (mxsim)"
	case r.Code >= 400:
		return "Temporary failure (mxsim)"
	default:
		return "OK (mxsim)"
	}
}

// wire renders r as one reply line without CRLF. With enhancedDefault, a
// missing enhanced code becomes X.0.0 (RFC 2034 §3, after EHLO).
func (r Reply) wire(enhancedDefault bool) string {
	s := strconv.Itoa(r.Code)
	switch {
	case r.Enhanced != "":
		s += " " + r.Enhanced
	case enhancedDefault && r.Code >= 200:
		s += " " + strconv.Itoa(r.Code/100) + ".0.0"
	}
	return s + " " + r.text()
}

// Rule forces a reply at one stage. At MAIL and RCPT, Match limits it to
// the addresses that match a pattern; at other stages Match must be empty.
type Rule struct {
	Match string `yaml:"match,omitempty" json:"match,omitempty"` // path.Match glob over the lower-cased address: "*@full.test", "bob@*", "" = any
	Reply Reply  `yaml:"reply" json:"reply"`
}

// Replies forces replies per stage. Each stage holds rules tried in order:
// the first rule that matches and has occurrences left (Reply.Times)
// applies; none means normal behaviour.
type Replies struct {
	Greeting  []Rule `yaml:"greeting,omitempty" json:"greeting,omitempty"`       // sent instead of 220; Code >= 400 closes the connection (421/554 style)
	EHLO      []Rule `yaml:"ehlo,omitempty" json:"ehlo,omitempty"`               // reply to EHLO/HELO (4xx/5xx)
	StartTLS  []Rule `yaml:"starttls,omitempty" json:"starttls,omitempty"`       // reply to STARTTLS instead of 220, when offered (4xx/5xx)
	Auth      []Rule `yaml:"auth,omitempty" json:"auth,omitempty"`               // reply to AUTH, when Auth is set (4xx/5xx)
	Mail      []Rule `yaml:"mail,omitempty" json:"mail,omitempty"`               // reply to MAIL (4xx/5xx), per sender pattern
	Rcpt      []Rule `yaml:"rcpt,omitempty" json:"rcpt,omitempty"`               // reply to RCPT (4xx/5xx), per recipient pattern
	Data      []Rule `yaml:"data,omitempty" json:"data,omitempty"`               // reply to the DATA command instead of 354 (4xx/5xx)
	EndOfData []Rule `yaml:"end_of_data,omitempty" json:"end_of_data,omitempty"` // reply after the final dot; 2xx accepts with that text
}

// Forced returns a Replies stage holding one rule that always applies to
// every address: the common case, Forced(ParseReply("451 4.3.0 busy")).
func Forced(r Reply) []Rule { return []Rule{{Reply: r}} }

// Delays tarpit a stage: the host waits this long before replying.
type Delays struct {
	Greeting  time.Duration `yaml:"greeting,omitempty" json:"greeting,omitempty"`
	EHLO      time.Duration `yaml:"ehlo,omitempty" json:"ehlo,omitempty"`
	StartTLS  time.Duration `yaml:"starttls,omitempty" json:"starttls,omitempty"`
	Auth      time.Duration `yaml:"auth,omitempty" json:"auth,omitempty"`
	Mail      time.Duration `yaml:"mail,omitempty" json:"mail,omitempty"`
	Rcpt      time.Duration `yaml:"rcpt,omitempty" json:"rcpt,omitempty"`
	Data      time.Duration `yaml:"data,omitempty" json:"data,omitempty"`
	EndOfData time.Duration `yaml:"end_of_data,omitempty" json:"end_of_data,omitempty"`
}

// Greylist refuses the first delivery attempt of each (client IP, sender,
// recipient) triplet with 451 4.7.1 and accepts a retry made Window or
// more after that first attempt (RFC 6647).
type Greylist struct {
	Window time.Duration `yaml:"window" json:"window"`
	Reply  *Reply        `yaml:"reply,omitempty" json:"reply,omitempty"` // default 451 4.7.1 greylisted, try again later
}

// RelayPolicy limits the recipient domains a host takes mail for.
type RelayPolicy struct {
	Accept []string `yaml:"accept,omitempty" json:"accept,omitempty"` // exact domains, or ".example.test" for its subdomains; empty = any
	Reject *Reply   `yaml:"reject,omitempty" json:"reject,omitempty"` // reply for other domains at RCPT; default 550 5.7.1 relaying denied
}

// Auth turns on SMTP AUTH (RFC 4954).
type Auth struct {
	Mechanisms    []string          `yaml:"mechanisms,omitempty" json:"mechanisms,omitempty"` // "PLAIN", "LOGIN", "CRAM-MD5"; default PLAIN, LOGIN
	Users         map[string]string `yaml:"users,omitempty" json:"users,omitempty"`           // user -> password
	Required      bool              `yaml:"required,omitempty" json:"required,omitempty"`     // MAIL without AUTH -> 530 5.7.0
	AllowInsecure bool              `yaml:"allow_insecure,omitempty" json:"allow_insecure,omitempty"`
}

// TLSMode says whether STARTTLS is offered.
type TLSMode string

// STARTTLS modes.
const (
	TLSNone     TLSMode = "none"
	TLSOffered  TLSMode = "offered"
	TLSRequired TLSMode = "required" // MAIL before STARTTLS -> 530 5.7.0
)

// CertKind names the certificate a host serves.
type CertKind string

// Certificate kinds, see CA.Issue.
const (
	CertValid      CertKind = "valid"
	CertSelfSigned CertKind = "self-signed"
	CertWrongName  CertKind = "wrong-name"
	CertExpired    CertKind = "expired"
)

// TLS configures STARTTLS (RFC 3207) or implicit TLS (RFC 8314).
type TLS struct {
	StartTLS TLSMode  `yaml:"starttls,omitempty" json:"starttls,omitempty"` // default none
	Cert     CertKind `yaml:"cert,omitempty" json:"cert,omitempty"`         // default valid
	Implicit bool     `yaml:"implicit,omitempty" json:"implicit,omitempty"` // TLS from connect (port-465 style)
}

// Limits caps what a host accepts.
type Limits struct {
	MaxSize       int64 `yaml:"max_size,omitempty" json:"max_size,omitempty"`             // SIZE advertised and enforced (552 5.3.4)
	MaxRecipients int   `yaml:"max_recipients,omitempty" json:"max_recipients,omitempty"` // beyond -> 452 4.5.3
	MaxConns      int   `yaml:"max_conns,omitempty" json:"max_conns,omitempty"`           // beyond -> 421 4.7.0 at greeting, closed
}

// Behavior is everything a host does differently from "accept all mail".
// The zero value accepts every message.
type Behavior struct {
	State            State        `yaml:"state,omitempty" json:"state,omitempty"`
	Replies          Replies      `yaml:"replies,omitempty" json:"replies,omitempty"`
	Delays           Delays       `yaml:"delays,omitempty" json:"delays,omitempty"`
	HangupAfter      int          `yaml:"hangup_after,omitempty" json:"hangup_after,omitempty"`             // close (no reply) when command HangupAfter+1 arrives; 0 = never
	DisconnectInData int          `yaml:"disconnect_in_data,omitempty" json:"disconnect_in_data,omitempty"` // close after this many bytes of message data; 0 = never
	Greylist         *Greylist    `yaml:"greylist,omitempty" json:"greylist,omitempty"`
	Relay            *RelayPolicy `yaml:"relay,omitempty" json:"relay,omitempty"`
	Auth             *Auth        `yaml:"auth,omitempty" json:"auth,omitempty"`
	TLS              TLS          `yaml:"tls,omitempty" json:"tls,omitempty"`
	Limits           Limits       `yaml:"limits,omitempty" json:"limits,omitempty"`
}

// Fault names recorded in journal events (Event.Fault) for replies and
// disconnects a behaviour produced.
const (
	FaultGreeting      = "replies.greeting"
	FaultEHLO          = "replies.ehlo"
	FaultStartTLS      = "replies.starttls"
	FaultAuthReply     = "replies.auth"
	FaultMail          = "replies.mail"
	FaultRcpt          = "replies.rcpt"
	FaultData          = "replies.data"
	FaultEndOfData     = "replies.end_of_data"
	FaultGreylist      = "greylist"
	FaultRelay         = "relay"
	FaultAuth          = "auth"
	FaultTLS           = "tls"
	FaultMaxSize       = "limits.max_size"
	FaultMaxRecipients = "limits.max_recipients"
	FaultMaxConns      = "limits.max_conns"
	FaultHangup        = "hangup_after"
	FaultDisconnect    = "disconnect_in_data"
	FaultBlackhole     = "blackhole"
)

// Mechanism names for Auth.Mechanisms.
const (
	MechPlain   = "PLAIN"
	MechLogin   = "LOGIN"
	MechCRAMMD5 = "CRAM-MD5"
)

// Validate reports every bad value of b at once (errors.Join of
// *FieldError, each wrapping ErrInvalid), or nil.
func (b Behavior) Validate() error {
	var errs []error
	switch b.State {
	case "", Up, Down, Blackhole:
	default:
		errs = append(errs, fieldErr("state", "unknown state %q (want up, down or blackhole)", b.State))
	}
	r := b.Replies
	for _, st := range []struct {
		name      string
		rules     []Rule
		matchable bool
	}{{"greeting", r.Greeting, false}, {"ehlo", r.EHLO, false}, {"starttls", r.StartTLS, false}, {"auth", r.Auth, false},
		{"mail", r.Mail, true}, {"rcpt", r.Rcpt, true}, {"data", r.Data, false}, {"end_of_data", r.EndOfData, false}} {
		for i, rule := range st.rules {
			f := fmt.Sprintf("replies.%s[%d]", st.name, i)
			switch {
			case rule.Match != "" && !st.matchable:
				errs = append(errs, fieldErr(f+".match", "only mail and rcpt replies take a pattern"))
			case rule.Match != "":
				if _, err := path.Match(strings.ToLower(rule.Match), ""); err != nil {
					errs = append(errs, fieldErr(f+".match", "bad pattern %q: %v", rule.Match, err))
				}
			}
			c := rule.Reply.Code
			switch st.name {
			case "greeting":
				errs = append(errs, rule.Reply.validate(f+".reply", false)...)
				if c >= 200 && c < 400 && c != 220 {
					errs = append(errs, fieldErr(f+".reply.code", "%d: a greeting is 220, 4xx or 5xx", c))
				}
			case "end_of_data":
				errs = append(errs, rule.Reply.validate(f+".reply", false)...)
				if c >= 300 && c < 400 {
					errs = append(errs, fieldErr(f+".reply.code", "%d: want 2xx, 4xx or 5xx", c))
				}
			default:
				errs = append(errs, rule.Reply.validate(f+".reply", true)...)
			}
		}
	}
	d := b.Delays
	for name, v := range map[string]time.Duration{"greeting": d.Greeting, "ehlo": d.EHLO, "starttls": d.StartTLS, "auth": d.Auth, "mail": d.Mail, "rcpt": d.Rcpt, "data": d.Data, "end_of_data": d.EndOfData} {
		if v < 0 {
			errs = append(errs, fieldErr("delays."+name, "%v is negative", v))
		}
	}
	if b.HangupAfter < 0 {
		errs = append(errs, fieldErr("hangup_after", "%d is negative", b.HangupAfter))
	}
	if b.DisconnectInData < 0 {
		errs = append(errs, fieldErr("disconnect_in_data", "%d is negative", b.DisconnectInData))
	}
	if b.Greylist != nil && b.Greylist.Window < 0 {
		errs = append(errs, fieldErr("greylist.window", "%v is negative", b.Greylist.Window))
	}
	if b.Greylist != nil && b.Greylist.Reply != nil {
		errs = append(errs, b.Greylist.Reply.validate("greylist.reply", true)...)
		if b.Greylist.Reply.Times != 0 {
			errs = append(errs, fieldErr("greylist.reply.times", "not supported for a policy"))
		}
	}
	if p := b.Relay; p != nil {
		for i, dom := range p.Accept {
			if !validDomain(strings.TrimPrefix(dom, ".")) {
				errs = append(errs, fieldErr(fmt.Sprintf("relay.accept[%d]", i), "%q is not a domain", dom))
			}
		}
		if p.Reject != nil {
			errs = append(errs, p.Reject.validate("relay.reject", true)...)
			if p.Reject.Times != 0 {
				errs = append(errs, fieldErr("relay.reject.times", "not supported for a policy"))
			}
		}
	}
	if a := b.Auth; a != nil {
		for i, m := range a.Mechanisms {
			switch strings.ToUpper(m) {
			case MechPlain, MechLogin, MechCRAMMD5:
			default:
				errs = append(errs, fieldErr(fmt.Sprintf("auth.mechanisms[%d]", i), "unknown mechanism %q (want PLAIN, LOGIN or CRAM-MD5)", m))
			}
		}
		for u := range a.Users {
			if u == "" || strings.ContainsAny(u, "\x00\r\n") {
				errs = append(errs, fieldErr("auth.users", "bad user name %q", u))
			}
		}
	}
	switch b.TLS.StartTLS {
	case "", TLSNone, TLSOffered, TLSRequired:
	default:
		errs = append(errs, fieldErr("tls.starttls", "unknown mode %q (want none, offered or required)", b.TLS.StartTLS))
	}
	if b.TLS.Implicit && b.TLS.StartTLS != "" && b.TLS.StartTLS != TLSNone {
		errs = append(errs, fieldErr("tls.starttls", "%q makes no sense with implicit TLS", b.TLS.StartTLS))
	}
	if !validCertKind(b.TLS.Cert) {
		errs = append(errs, fieldErr("tls.cert", "unknown certificate kind %q (want valid, self-signed, wrong-name or expired)", b.TLS.Cert))
	}
	l := b.Limits
	if l.MaxSize < 0 {
		errs = append(errs, fieldErr("limits.max_size", "%d is negative", l.MaxSize))
	}
	if l.MaxSize > 1<<32-1 {
		// Clients such as go-smtp's read the EHLO SIZE as a 32-bit number.
		errs = append(errs, fieldErr("limits.max_size", "%d is above 4294967295", l.MaxSize))
	}
	if l.MaxRecipients < 0 {
		errs = append(errs, fieldErr("limits.max_recipients", "%d is negative", l.MaxRecipients))
	}
	if l.MaxConns < 0 {
		errs = append(errs, fieldErr("limits.max_conns", "%d is negative", l.MaxConns))
	}
	slices.SortStableFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

func validCertKind(k CertKind) bool {
	switch k {
	case "", CertValid, CertSelfSigned, CertWrongName, CertExpired:
		return true
	}
	return false
}

// validDomain accepts host names made of letters, digits, '-', '_' and dots.
func validDomain(s string) bool {
	if s == "" || len(s) > 253 || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// usesTLS reports whether b needs certificates.
func (b *Behavior) usesTLS() bool {
	return b.TLS.Implicit || b.TLS.StartTLS == TLSOffered || b.TLS.StartTLS == TLSRequired
}

// offersStartTLS reports whether EHLO advertises STARTTLS.
func (b *Behavior) offersStartTLS() bool {
	return !b.TLS.Implicit && (b.TLS.StartTLS == TLSOffered || b.TLS.StartTLS == TLSRequired)
}

func (b *Behavior) certKind() CertKind {
	if b.TLS.Cert == "" {
		return CertValid
	}
	return b.TLS.Cert
}

// mechanisms returns the AUTH mechanisms offered, upper-cased.
func (a *Auth) mechanisms() []string {
	if len(a.Mechanisms) == 0 {
		return []string{MechPlain, MechLogin}
	}
	out := make([]string, len(a.Mechanisms))
	for i, m := range a.Mechanisms {
		out[i] = strings.ToUpper(m)
	}
	return out
}

// accepts reports whether the policy takes mail for domain (lower-cased).
func (p *RelayPolicy) accepts(domain string) bool {
	if len(p.Accept) == 0 {
		return true
	}
	for _, a := range p.Accept {
		a = strings.ToLower(a)
		if strings.HasPrefix(a, ".") {
			if strings.HasSuffix(domain, a) {
				return true
			}
		} else if domain == a {
			return true
		}
	}
	return false
}

// clone returns a deep copy, so that the caller's maps and slices can
// change without racing with running sessions.
func (b Behavior) clone() Behavior {
	cp := func(r *Reply) *Reply {
		if r == nil {
			return nil
		}
		c := *r
		return &c
	}
	r := &b.Replies
	for _, st := range []*[]Rule{&r.Greeting, &r.EHLO, &r.StartTLS, &r.Auth, &r.Mail, &r.Rcpt, &r.Data, &r.EndOfData} {
		*st = slices.Clone(*st)
	}
	if b.Greylist != nil {
		g := *b.Greylist
		g.Reply = cp(g.Reply)
		b.Greylist = &g
	}
	if b.Relay != nil {
		p := *b.Relay
		p.Accept = slices.Clone(p.Accept)
		p.Reject = cp(p.Reject)
		b.Relay = &p
	}
	if b.Auth != nil {
		a := *b.Auth
		a.Mechanisms = slices.Clone(a.Mechanisms)
		a.Users = maps.Clone(a.Users)
		b.Auth = &a
	}
	return b
}
