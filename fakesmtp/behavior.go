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
	ErrInvalid = errors.New("invalid value")
	ErrClosed  = errors.New("host closed")
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

// Values lists the states in the order the documentation gives them ("" is
// Up too). Validate checks against it; decoders and schema generators read
// the closed set of a string type from its Values method.
func (State) Values() []string { return []string{string(Up), string(Down), string(Blackhole)} }

// Reply is an SMTP reply a behaviour sends. Its text form, read by
// ParseReply and written by String, is "451 4.7.1 try again later" (the
// enhanced code and the text are optional); Times has no text form.
//
// Reply has no YAML tags: scenario files write a reply in its text form,
// or as a map {reply, match, times} of a Rule, and package scenarios
// decodes those shapes itself. The JSON tags are the struct's plain form.
// Reply deliberately does not implement encoding.TextMarshaler: a text
// marshaller would drop Times.
type Reply struct {
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced,omitempty"` // "4.7.1"
	Text     string `json:"text,omitempty"`
	Times    int    `json:"times,omitempty"` // only the first Times occurrences (per host), then normal; 0 = always
}

// Reply code range: RFC 5321 §4.2 (the first digit is 2, 3, 4 or 5) and
// §4.2.1 (2yz success, 3yz intermediate, 4yz transient, 5yz permanent).
const (
	minCode = 200
	maxCode = 599
)

// ParseReply reads the text form of a reply, the one String writes and
// scenario files use: a three-digit code, then optionally an RFC 3463
// enhanced status code, then optionally a text, separated by blanks —
// "452 4.2.2 mailbox full", "421", "554 go away". A first word that is
// not shaped like an enhanced code ("4.x.1") is part of the text.
//
// It checks what a reply is on its own: the code is 200..599, the class
// of the enhanced code is the class of the code (RFC 3463 §2), the text is
// one line. Whether a stage may send that code is Behavior.Validate's
// business. The error says what is wrong with s and wraps a *FieldError
// naming the part ("code", "enhanced" or "text"), so it matches ErrInvalid.
func ParseReply(s string) (Reply, error) {
	codeText, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	if len(codeText) != 3 || strings.Trim(codeText, "0123456789") != "" {
		return Reply{}, fmt.Errorf("bad reply %q: %w", s, fieldErr("code", `want a three-digit code first, like "451 4.7.1 try again later"`))
	}
	code, _ := strconv.Atoi(codeText)
	r := Reply{Code: code}
	rest = strings.TrimSpace(rest)
	if first, more, _ := strings.Cut(rest, " "); looksEnhanced(first) {
		r.Enhanced = first
		rest = strings.TrimSpace(more)
	}
	r.Text = rest
	if errs := r.validate(""); len(errs) > 0 {
		// The first mistake: the others follow from it more often than not.
		return Reply{}, fmt.Errorf("bad reply %q: %w", s, errs[0])
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

// validate checks what r is on its own (code range, enhanced code, text,
// times); prefix names the field ("replies.mail[0].reply"). The codes a
// stage accepts are checked by Behavior.Validate.
func (r Reply) validate(prefix string) []error {
	var errs []error
	p := func(f string) string {
		if prefix == "" {
			return f
		}
		return prefix + "." + f
	}
	if r.Code < minCode || r.Code > maxCode {
		errs = append(errs, fieldErr(p("code"), "%d out of range %d..%d", r.Code, minCode, maxCode))
	}
	if r.Enhanced != "" {
		// RFC 3463 §2: class is 2, 4 or 5 and matches the reply's class.
		if !looksEnhanced(r.Enhanced) || !strings.ContainsRune("245", rune(r.Enhanced[0])) || r.Enhanced[1] != '.' {
			errs = append(errs, fieldErr(p("enhanced"), "%q is not an enhanced status code (class.subject.detail, class 2, 4 or 5)", r.Enhanced))
		} else if r.Code >= minCode && int(r.Enhanced[0]-'0') != r.Code/100 {
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
//
// Like Reply, Rule has no YAML tags: scenario files write a rule as a
// reply string or as a map {reply, match, times}.
type Rule struct {
	Match string `json:"match,omitempty"` // path.Match glob over the lower-cased address: "*@full.test", "bob@*", "" = any
	Reply Reply  `json:"reply"`
}

// Replies forces replies per stage. Each stage holds rules tried in order:
// the first rule that matches and has occurrences left (Reply.Times)
// applies; none means normal behaviour. The keys are the stage names of
// the Fault names ("replies.rcpt").
type Replies struct {
	Greeting  []Rule `yaml:"greeting,omitempty" json:"greeting,omitempty"`       // sent instead of 220, then the connection closes (4xx/5xx, 421/554 style)
	EHLO      []Rule `yaml:"ehlo,omitempty" json:"ehlo,omitempty"`               // reply to EHLO/HELO (4xx/5xx)
	StartTLS  []Rule `yaml:"starttls,omitempty" json:"starttls,omitempty"`       // reply to STARTTLS instead of 220, when offered (4xx/5xx)
	Auth      []Rule `yaml:"auth,omitempty" json:"auth,omitempty"`               // reply to AUTH, when Auth is set (4xx/5xx)
	Mail      []Rule `yaml:"mail,omitempty" json:"mail,omitempty"`               // reply to MAIL (4xx/5xx), per sender pattern
	Rcpt      []Rule `yaml:"rcpt,omitempty" json:"rcpt,omitempty"`               // reply to RCPT (4xx/5xx), per recipient pattern
	Data      []Rule `yaml:"data,omitempty" json:"data,omitempty"`               // reply to the DATA command instead of 354 (4xx/5xx)
	EndOfData []Rule `yaml:"end_of_data,omitempty" json:"end_of_data,omitempty"` // reply after the final dot; 2xx accepts with that text
}

// Forced returns a Replies stage holding one rule that always applies to
// every address: the common case, Forced(Reply{Code: 451, Enhanced:
// "4.3.0", Text: "busy"}).
func Forced(r Reply) []Rule { return []Rule{{Reply: r}} }

// Delays tarpit a stage: the host waits this long before replying. A
// client that closes or resets the connection during a delay ends it,
// and the session, at once: its socket is not held for the rest.
//
// A delay is at most MaxDelay unless AllowLong says the longer one is
// meant: no SMTP client waits longer for a reply, so a longer delay tests
// nothing more and is most likely a wrong unit ("100000h" for "100000ms").
type Delays struct {
	Greeting  time.Duration `yaml:"greeting,omitempty" json:"greeting,omitempty"`
	EHLO      time.Duration `yaml:"ehlo,omitempty" json:"ehlo,omitempty"`
	StartTLS  time.Duration `yaml:"starttls,omitempty" json:"starttls,omitempty"`
	Auth      time.Duration `yaml:"auth,omitempty" json:"auth,omitempty"`
	Mail      time.Duration `yaml:"mail,omitempty" json:"mail,omitempty"`
	Rcpt      time.Duration `yaml:"rcpt,omitempty" json:"rcpt,omitempty"`
	Data      time.Duration `yaml:"data,omitempty" json:"data,omitempty"`
	EndOfData time.Duration `yaml:"end_of_data,omitempty" json:"end_of_data,omitempty"`
	AllowLong bool          `yaml:"allow_long,omitempty" json:"allow_long,omitempty"` // delays above MaxDelay (10m) are meant
}

// MaxDelay is the longest delay a behaviour may set without
// Delays.AllowLong: 10 minutes, the longest an SMTP client waits for a
// reply (RFC 5321 §4.5.3.2.6, for the reply to the final dot; 5 minutes
// for the greeting, MAIL and RCPT).
const MaxDelay = 10 * time.Minute

// none reports whether no stage is delayed.
func (d Delays) none() bool {
	d.AllowLong = false
	return d == Delays{}
}

// Greylist refuses the first delivery attempt of each (client IP, sender,
// recipient) triplet with 451 4.7.1 and accepts a retry made Window or
// more after that first attempt (RFC 6647).
//
// A host remembers a triplet, passed or not, for Lifetime after its last
// attempt or after its window ends, whichever is later; then it forgets
// it, and the triplet's next attempt is a first one again. Greylisting
// servers keep their records for a time in the same way: postgrey drops
// a triplet not retried within 2 days, and one not seen for 35 days.
type Greylist struct {
	Window   time.Duration `yaml:"window" json:"window"`                         // 0: the first retry passes
	Lifetime time.Duration `yaml:"lifetime,omitempty" json:"lifetime,omitempty"` // how long a triplet is remembered, see above; 0: 24h (DefaultGreylistLifetime)
	Reply    *Reply        `yaml:"reply,omitempty" json:"reply,omitempty"`       // a 4xx; default 451 4.7.1 greylisted, try again later
}

// DefaultGreylistLifetime is how long a host remembers a greylisted
// triplet when Greylist.Lifetime is 0: a day, longer than any client's
// retry interval (RFC 5321 §4.5.4.1 asks for at least 30 minutes; Postfix
// backs off to 4000 s at most), shorter than the records of a mail
// system, since a sandbox that runs for weeks must not keep them all.
const DefaultGreylistLifetime = 24 * time.Hour

// lifetime returns how long a triplet is remembered.
func (g *Greylist) lifetime() time.Duration {
	if g.Lifetime == 0 {
		return DefaultGreylistLifetime
	}
	return g.Lifetime
}

// RelayPolicy limits the recipient domains a host takes mail for.
type RelayPolicy struct {
	Accept []string `yaml:"accept,omitempty" json:"accept,omitempty"` // exact domains (any case, final dot or not), or ".example.test" for its subdomains; empty = any
	Reject *Reply   `yaml:"reject,omitempty" json:"reject,omitempty"` // 4xx/5xx for other domains at RCPT; default 550 5.7.1 relaying denied
}

// Auth turns on SMTP AUTH (RFC 4954).
type Auth struct {
	Mechanisms []string          `yaml:"mechanisms,omitempty" json:"mechanisms,omitempty"` // SASL mechanisms offered, any case: PLAIN, LOGIN, CRAM-MD5; default PLAIN and LOGIN
	Users      map[string]string `yaml:"users,omitempty" json:"users,omitempty"`           // user -> password
	Required   bool              `yaml:"required,omitempty" json:"required,omitempty"`     // MAIL without AUTH -> 530 5.7.0; needs Users
	// AllowInsecure offers AUTH before TLS; by default a host that offers
	// STARTTLS advertises AUTH only after it (RFC 4954 §4).
	AllowInsecure bool `yaml:"allow_insecure,omitempty" json:"allow_insecure,omitempty"`
}

// TLSMode says whether STARTTLS is offered.
type TLSMode string

// STARTTLS modes.
const (
	TLSNone     TLSMode = "none"
	TLSOffered  TLSMode = "offered"
	TLSRequired TLSMode = "required" // MAIL before STARTTLS -> 530 5.7.0
)

// Values lists the STARTTLS modes ("" is TLSNone too), as State.Values.
func (TLSMode) Values() []string {
	return []string{string(TLSNone), string(TLSOffered), string(TLSRequired)}
}

// CertKind names the certificate a host serves.
type CertKind string

// Certificate kinds, see CA.Issue.
const (
	CertValid      CertKind = "valid"       // signed by the CA, for the host's name
	CertSelfSigned CertKind = "self-signed" // not signed by a trusted CA
	CertWrongName  CertKind = "wrong-name"  // trusted, for another name
	CertExpired    CertKind = "expired"     // trusted, for the name, expired
)

// Values lists the certificate kinds ("" is CertValid too), as State.Values.
func (CertKind) Values() []string {
	return []string{string(CertValid), string(CertSelfSigned), string(CertWrongName), string(CertExpired)}
}

// TLS configures STARTTLS (RFC 3207) or implicit TLS (RFC 8314).
type TLS struct {
	StartTLS TLSMode  `yaml:"starttls,omitempty" json:"starttls,omitempty"` // default none
	Cert     CertKind `yaml:"cert,omitempty" json:"cert,omitempty"`         // default valid
	Implicit bool     `yaml:"implicit,omitempty" json:"implicit,omitempty"` // TLS from connect (port-465 style)
}

// Limits caps what a host accepts. Every host has a size limit, as real
// MTAs do: 50 MiB (DefaultMaxSize) unless MaxSize says another, none only
// with UnlimitedSize. For recipients and connections 0 means no limit.
type Limits struct {
	MaxSize       int64 `yaml:"max_size,omitempty" json:"max_size,omitempty"`             // bytes, at most 4294967295 (MaxSizeLimit); 0: 52428800 (DefaultMaxSize). Advertised as SIZE (RFC 1870), enforced with 552 5.3.4
	UnlimitedSize bool  `yaml:"unlimited_size,omitempty" json:"unlimited_size,omitempty"` // no size limit: SIZE without a number (RFC 1870 §4); leave max_size out
	MaxRecipients int   `yaml:"max_recipients,omitempty" json:"max_recipients,omitempty"` // beyond -> 452 4.5.3
	MaxConns      int   `yaml:"max_conns,omitempty" json:"max_conns,omitempty"`           // beyond -> 421 4.7.0 at greeting, closed

	// Rate and concurrency limits, see RateLimit and ConnLimit. They are
	// counted, not sampled: the same traffic meets the same refusals.
	MessagesPerClient    *RateLimit `yaml:"messages_per_client,omitempty" json:"messages_per_client,omitempty"`       // messages accepted from one client address per window; beyond -> 421 4.7.28 at MAIL, closed
	MessagesPerRecipient *RateLimit `yaml:"messages_per_recipient,omitempty" json:"messages_per_recipient,omitempty"` // messages accepted for one recipient per window; beyond -> 450 4.2.1 at RCPT
	ConnectionsPerClient *ConnLimit `yaml:"connections_per_client,omitempty" json:"connections_per_client,omitempty"` // open connections from one client address; beyond -> 421 4.7.0 at greeting, closed
}

// RateLimit caps how many messages a host takes in a sliding window:
// from one client address (Limits.MessagesPerClient) or for one
// recipient (Limits.MessagesPerRecipient). A message counts when the host
// accepts its MAIL (per client) or the RCPT of the recipient (per
// recipient), as Postfix's anvil counts them, whether the message then
// arrives or not; once Count fall within the last Per, the next MAIL or
// RCPT gets Reply, and does not count, until the oldest is Per old.
// Checking and counting are one step, so sessions that run at once meet
// the limit exactly. Windows are measured with the host's clock.
// Messages count only while the limit is in force: setting one starts
// from nothing, and changing or removing it forgets what was counted.
//
// Gmail documents both, with 421 4.7.28 for an unusual rate from an
// address and 450 4.2.1 for a recipient receiving mail too fast
// (https://support.google.com/a/answer/3726730).
type RateLimit struct {
	Count int           `yaml:"count" json:"count"`                     // messages allowed per window, at least 1
	Per   time.Duration `yaml:"per" json:"per"`                         // the window, above 0
	Reply *Reply        `yaml:"reply,omitempty" json:"reply,omitempty"` // a 4xx or 5xx; a 421 closes the connection. Default: see DefaultClientRateReply, DefaultRecipientRateReply
}

// ConnLimit caps the connections a host holds open at once from one
// client address (Limits.ConnectionsPerClient): a connection beyond Count
// gets Reply instead of the greeting and is closed, as Postfix's
// smtpd_client_connection_count_limit does (421 4.7.0).
type ConnLimit struct {
	Count int    `yaml:"count" json:"count"`                     // open connections allowed, at least 1
	Reply *Reply `yaml:"reply,omitempty" json:"reply,omitempty"` // a 4xx or 5xx; default DefaultClientConnsReply
}

// Default replies of the rate and concurrency limits.
var (
	DefaultClientRateReply    = Reply{Code: 421, Enhanced: "4.7.28", Text: "too many messages from your address, try again later"}
	DefaultRecipientRateReply = Reply{Code: 450, Enhanced: "4.2.1", Text: "the recipient is receiving mail too quickly, try again later"}
	DefaultClientConnsReply   = Reply{Code: 421, Enhanced: "4.7.0", Text: "too many connections from your address"}
)

// reply returns the limit's reply, or def.
func (l *RateLimit) reply(def Reply) Reply {
	if l.Reply != nil {
		return *l.Reply
	}
	return def
}

// validateLimitReply checks the reply of a limit (field names it): a
// refusal, 4xx or 5xx, without times.
func validateLimitReply(r *Reply, field string) []error {
	if r == nil {
		return nil
	}
	errs := r.validate(field)
	if r.Code >= minCode && r.Code <= maxCode && r.Code < 400 {
		errs = append(errs, fieldErr(field+".code", "%d: a limit refuses, its reply is 4xx or 5xx", r.Code))
	}
	if r.Times != 0 {
		errs = append(errs, fieldErr(field+".times", "not supported for a limit"))
	}
	return errs
}

// Extensions turns off service extensions a host advertises after EHLO
// (RFC 5321 §2.2.2). By default every host advertises PIPELINING,
// 8BITMIME, ENHANCEDSTATUSCODES, CHUNKING and SIZE, and STARTTLS and AUTH
// as TLS and Auth say; the zero value turns nothing off.
type Extensions struct {
	// NoChunking leaves CHUNKING (RFC 3030) out: the host does not know
	// BDAT and answers it 502 5.5.1, as Postfix does with CHUNKING turned
	// off, so a client sends its messages with DATA.
	NoChunking bool `yaml:"no_chunking,omitempty" json:"no_chunking,omitempty"`
}

// DefaultMaxSize is the size limit of a host whose Limits.MaxSize is 0:
// 50 MiB, Exim's default message_size_limit (50M; Postfix's
// message_size_limit is 10240000). A relay under test meets a limit on
// every host, as it does on the Internet; Limits.UnlimitedSize lifts it.
const DefaultMaxSize = 50 << 20

// MaxSizeLimit is the largest Limits.MaxSize: 4 GiB - 1. A SIZE beyond it
// limits nothing a test sends, and clients read the EHLO SIZE into an int
// (go-smtp's Client.MaxMessageSize uses strconv.Atoi: 32 bits on 32-bit
// platforms) or an unsigned 32-bit number.
const MaxSizeLimit = 1<<32 - 1

// maxSize returns the size limit in force, 0 for none.
func (l Limits) maxSize() int64 {
	switch {
	case l.UnlimitedSize:
		return 0
	case l.MaxSize == 0:
		return DefaultMaxSize
	}
	return l.MaxSize
}

// Behavior is everything a host does differently from "accept all mail".
// The zero value accepts every message.
//
// Its keys are the names that Validate's FieldError paths use
// ("limits.max_size"): the JSON keys of Behavior and the YAML keys (the
// same as the JSON ones) of its parts. Package scenarios decodes scenario
// files into the types of the parts, under a Behavior of its own whose
// parts are optional; nothing decodes YAML into Behavior itself, so it
// has JSON tags only.
type Behavior struct {
	State            State        `json:"state,omitempty"`
	Replies          Replies      `json:"replies,omitempty"`
	Delays           Delays       `json:"delays,omitempty"`
	HangupAfter      int          `json:"hangup_after,omitempty"`       // close (no reply) when command HangupAfter+1 arrives; 0 = never
	DisconnectInData int          `json:"disconnect_in_data,omitempty"` // close after this many bytes of message data (DATA body or BDAT chunks); 0 = never
	Greylist         *Greylist    `json:"greylist,omitempty"`
	Relay            *RelayPolicy `json:"relay,omitempty"`
	Auth             *Auth        `json:"auth,omitempty"`
	TLS              TLS          `json:"tls,omitempty"`
	Limits           Limits       `json:"limits,omitempty"`
	Extensions       Extensions   `json:"extensions,omitempty"`
	Verify           *Verify      `json:"verify,omitempty"` // SPF, DKIM and DMARC checks of accepted mail (msgauth.go)
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
	// The rate and concurrency limits: the refusal's event (a reply, or
	// the Refused event of a connection) names the limit.
	FaultClientRate    = "limits.messages_per_client"
	FaultRecipientRate = "limits.messages_per_recipient"
	FaultClientConns   = "limits.connections_per_client"
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

// Mechanisms lists the SASL mechanisms a host can offer, the closed set of
// Auth.Mechanisms (matched without regard to case).
func Mechanisms() []string { return []string{MechPlain, MechLogin, MechCRAMMD5} }

// DefaultMechanisms lists the mechanisms offered when Auth.Mechanisms is
// empty.
func DefaultMechanisms() []string { return []string{MechPlain, MechLogin} }

// stages lists the stages of Replies with the replies each may force.
// Every stage has a normal reply of its own that needs no rule, so a rule
// there is a failure (4xx/5xx), except at the end of data, where a 2xx
// accepts with a text of the test's choosing.
var stages = []struct {
	name      string
	rules     func(*Replies) []Rule
	matchable bool   // Rule.Match allowed: MAIL and RCPT have an address
	classes   string // first digits of the codes allowed
	why       string // the message when the code is not allowed
}{
	// RFC 5321 §3.1: a server that will not talk answers 554 instead of
	// 220; §3.8: 421 when it must shut down. Either closes the session.
	{"greeting", func(r *Replies) []Rule { return r.Greeting }, false, "45", "a forced greeting refuses the session: use 4xx or 5xx (the normal 220 needs no rule)"},
	{"ehlo", func(r *Replies) []Rule { return r.EHLO }, false, "45", errorOnly},
	{"starttls", func(r *Replies) []Rule { return r.StartTLS }, false, "45", errorOnly},
	{"auth", func(r *Replies) []Rule { return r.Auth }, false, "45", errorOnly},
	{"mail", func(r *Replies) []Rule { return r.Mail }, true, "45", errorOnly},
	{"rcpt", func(r *Replies) []Rule { return r.Rcpt }, true, "45", errorOnly},
	{"data", func(r *Replies) []Rule { return r.Data }, false, "45", errorOnly},
	{"end_of_data", func(r *Replies) []Rule { return r.EndOfData }, false, "245", "want 2xx, 4xx or 5xx"},
}

const errorOnly = "only 4xx/5xx replies can be forced at this stage (the normal reply needs no rule)"

// Validate reports every bad value of b at once (errors.Join of
// *FieldError, each wrapping ErrInvalid, sorted by message), or nil. It is
// the one set of rules for a behaviour: package scenarios runs it on what
// a scenario file says and points each FieldError at its line.
func (b Behavior) Validate() error {
	var errs []error
	if b.State != "" && !slices.Contains(b.State.Values(), string(b.State)) {
		errs = append(errs, fieldErr("state", "unknown state %q (want %s)", b.State, oneOf(b.State.Values())))
	}
	for _, st := range stages {
		for i, rule := range st.rules(&b.Replies) {
			f := fmt.Sprintf("replies.%s[%d]", st.name, i)
			switch {
			case rule.Match != "" && !st.matchable:
				errs = append(errs, fieldErr(f+".match", "only mail and rcpt replies take a pattern"))
			case rule.Match != "":
				if _, err := path.Match(strings.ToLower(rule.Match), ""); err != nil {
					errs = append(errs, fieldErr(f+".match", "bad pattern %q: %v", rule.Match, err))
				}
			}
			errs = append(errs, rule.Reply.validate(f+".reply")...)
			if c := rule.Reply.Code; c >= minCode && c <= maxCode && !strings.ContainsRune(st.classes, rune('0'+c/100)) {
				errs = append(errs, fieldErr(f+".reply.code", "%d: %s", c, st.why))
			}
		}
	}
	d := b.Delays
	for name, v := range map[string]time.Duration{"greeting": d.Greeting, "ehlo": d.EHLO, "starttls": d.StartTLS, "auth": d.Auth, "mail": d.Mail, "rcpt": d.Rcpt, "data": d.Data, "end_of_data": d.EndOfData} {
		switch {
		case v < 0:
			errs = append(errs, fieldErr("delays."+name, "%v is negative", v))
		case v > MaxDelay && !d.AllowLong:
			errs = append(errs, fieldErr("delays."+name, "%v is above %v, longer than SMTP clients wait (RFC 5321 §4.5.3.2); set allow_long: true in delays if you mean it", v, MaxDelay))
		}
	}
	if b.HangupAfter < 0 {
		errs = append(errs, fieldErr("hangup_after", "%d is negative", b.HangupAfter))
	}
	if b.DisconnectInData < 0 {
		errs = append(errs, fieldErr("disconnect_in_data", "%d is negative", b.DisconnectInData))
	}
	if g := b.Greylist; g != nil {
		if g.Window < 0 {
			errs = append(errs, fieldErr("greylist.window", "%v is negative", g.Window))
		}
		if g.Lifetime < 0 {
			errs = append(errs, fieldErr("greylist.lifetime", "%v is negative", g.Lifetime))
		}
		if r := g.Reply; r != nil {
			errs = append(errs, r.validate("greylist.reply")...)
			// Greylisting is "temporarily degraded service" (RFC 6647,
			// abstract): the client must retry, which only a 4yz asks of it
			// (RFC 5321 §4.2.1); a 5yz would be a plain rejection.
			if r.Code >= minCode && r.Code <= maxCode && r.Code/100 != 4 {
				errs = append(errs, fieldErr("greylist.reply.code", "%d: a greylist defers, its reply is 4xx", r.Code))
			}
			if r.Times != 0 {
				errs = append(errs, fieldErr("greylist.reply.times", "not supported for a policy"))
			}
		}
	}
	if p := b.Relay; p != nil {
		for i, dom := range p.Accept {
			if err := checkDomain(strings.TrimPrefix(dom, ".")); err != nil {
				errs = append(errs, fieldErr(fmt.Sprintf("relay.accept[%d]", i), "%v", err))
			}
		}
		if r := p.Reject; r != nil {
			errs = append(errs, r.validate("relay.reject")...)
			if r.Code >= minCode && r.Code <= maxCode && r.Code < 400 {
				errs = append(errs, fieldErr("relay.reject.code", "%d: a rejection is 4xx or 5xx", r.Code))
			}
			if r.Times != 0 {
				errs = append(errs, fieldErr("relay.reject.times", "not supported for a policy"))
			}
		}
	}
	if a := b.Auth; a != nil {
		for i, m := range a.Mechanisms {
			if !slices.Contains(Mechanisms(), strings.ToUpper(m)) {
				errs = append(errs, fieldErr(fmt.Sprintf("auth.mechanisms[%d]", i), "unknown mechanism %q (want %s)", m, oneOf(Mechanisms())))
			}
		}
		for u := range a.Users {
			if u == "" || strings.ContainsAny(u, "\x00\r\n") {
				errs = append(errs, fieldErr("auth.users", "bad user name %q", u))
			}
		}
		if a.Required && len(a.Users) == 0 {
			// Nobody could authenticate: every MAIL would get 530.
			errs = append(errs, fieldErr("auth.required", "no users are defined, so no client could authenticate"))
		}
	}
	t := b.TLS
	if t.StartTLS != "" && !slices.Contains(t.StartTLS.Values(), string(t.StartTLS)) {
		errs = append(errs, fieldErr("tls.starttls", "unknown mode %q (want %s)", t.StartTLS, oneOf(t.StartTLS.Values())))
	} else if t.Implicit && t.StartTLS != "" && t.StartTLS != TLSNone {
		// RFC 8314 §3: with implicit TLS the session is encrypted from the
		// first byte; STARTTLS has nothing left to upgrade.
		errs = append(errs, fieldErr("tls.starttls", "%q makes no sense with implicit TLS: TLS starts at connect; use none or leave it out", t.StartTLS))
	}
	if t.Cert != "" && !slices.Contains(t.Cert.Values(), string(t.Cert)) {
		errs = append(errs, fieldErr("tls.cert", "unknown certificate kind %q (want %s)", t.Cert, oneOf(t.Cert.Values())))
	}
	l := b.Limits
	switch {
	case l.MaxSize < 0:
		errs = append(errs, fieldErr("limits.max_size", "%d is negative", l.MaxSize))
	case l.MaxSize > MaxSizeLimit:
		errs = append(errs, fieldErr("limits.max_size", "%d is above %d (4 GiB - 1), the largest SIZE clients read", l.MaxSize, int64(MaxSizeLimit)))
	case l.MaxSize > 0 && l.UnlimitedSize:
		errs = append(errs, fieldErr("limits.unlimited_size", "contradicts max_size %d: leave one of them out", l.MaxSize))
	}
	if l.MaxRecipients < 0 {
		errs = append(errs, fieldErr("limits.max_recipients", "%d is negative", l.MaxRecipients))
	}
	if l.MaxConns < 0 {
		errs = append(errs, fieldErr("limits.max_conns", "%d is negative", l.MaxConns))
	}
	for _, rl := range []struct {
		name string
		l    *RateLimit
	}{{"messages_per_client", l.MessagesPerClient}, {"messages_per_recipient", l.MessagesPerRecipient}} {
		if rl.l == nil {
			continue
		}
		f := "limits." + rl.name
		if rl.l.Count < 1 {
			errs = append(errs, fieldErr(f+".count", "%d: want at least 1 message per window", rl.l.Count))
		}
		if rl.l.Per <= 0 {
			errs = append(errs, fieldErr(f+".per", "%v: the window must be above 0 (like 1m)", rl.l.Per))
		}
		errs = append(errs, validateLimitReply(rl.l.Reply, f+".reply")...)
	}
	if c := l.ConnectionsPerClient; c != nil {
		if c.Count < 1 {
			errs = append(errs, fieldErr("limits.connections_per_client.count", "%d: want at least 1 connection", c.Count))
		}
		errs = append(errs, validateLimitReply(c.Reply, "limits.connections_per_client.reply")...)
	}
	if b.Verify != nil {
		errs = append(errs, b.Verify.validate()...)
	}
	slices.SortStableFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// oneOf renders a closed set for messages: "a, b or c".
func oneOf(vals []string) string {
	if len(vals) < 2 {
		return strings.Join(vals, "")
	}
	return strings.Join(vals[:len(vals)-1], ", ") + " or " + vals[len(vals)-1]
}

func validCertKind(k CertKind) bool {
	return k == "" || slices.Contains(k.Values(), string(k))
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

// checkDomain checks a domain name (a final dot allowed): RFC 1035 §2.3.4
// lengths; letters, digits and hyphens, not at either end of a label;
// underscores for names such as _25._tcp. An IP address is taken too.
func checkDomain(s string) error {
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	t := strings.TrimSuffix(s, ".")
	switch {
	case t == "":
		return fmt.Errorf("bad domain %q: empty", s)
	case len(t) > 253:
		return fmt.Errorf("bad domain %q: longer than 253 characters", s)
	}
	for label := range strings.SplitSeq(t, ".") {
		switch {
		case label == "":
			return fmt.Errorf("bad domain %q: empty label", s)
		case len(label) > 63:
			return fmt.Errorf("bad domain %q: label longer than 63 characters", s)
		case strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-"):
			return fmt.Errorf("bad domain %q: label %q starts or ends with \"-\"", s, label)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("bad domain %q: character %q not allowed", s, c)
			}
		}
	}
	return nil
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
		return DefaultMechanisms()
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
		a = strings.ToLower(strings.TrimSuffix(a, "."))
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

// Clone returns a deep copy of b: changing the copy's slices, maps and
// parts does not change b.
func (b Behavior) Clone() Behavior { return b.clone() }

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
	l := &b.Limits
	for _, rl := range []**RateLimit{&l.MessagesPerClient, &l.MessagesPerRecipient} {
		if *rl != nil {
			c := **rl
			c.Reply = cp(c.Reply)
			*rl = &c
		}
	}
	if l.ConnectionsPerClient != nil {
		c := *l.ConnectionsPerClient
		c.Reply = cp(c.Reply)
		l.ConnectionsPerClient = &c
	}
	if b.Auth != nil {
		a := *b.Auth
		a.Mechanisms = slices.Clone(a.Mechanisms)
		a.Users = maps.Clone(a.Users)
		b.Auth = &a
	}
	b.Verify = b.Verify.clone()
	return b
}
