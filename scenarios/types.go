package scenarios

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
)

// Defaults applied by Parse where a scenario leaves a value out.
const (
	DefaultWithin      = 10 * time.Second // expect: how long positive conditions may take
	DefaultWaitTimeout = 30 * time.Second // wait: {until}: how long to wait
	DefaultTTL         = 300              // TTL of every record written by Zone.ZoneFile
)

// Pos is a position in a scenario file: 1-based line and column. The zero
// Pos means "unknown" (a value built in Go rather than read from YAML).
type Pos struct {
	Line int
	Col  int
}

// String renders p as "LINE:COL".
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// IsValid reports whether p is a real position.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Scenario is one scenario file: a simulated network (DNS zones and SMTP
// hosts), the relay under test and the steps to run against it.
type Scenario struct {
	File string `yaml:"-"` // path as given to Parse or a loader
	Pos  Pos    `yaml:"-"` // position of the document

	Name        string   `yaml:"name" mx:"required,name"` // unique among the scenarios run together
	Description string   `yaml:"description"`
	Tags        []string `yaml:"tags" mx:"tag"`
	DNS         []*Zone  `yaml:"dns"`   // zones in file order
	Hosts       []*Host  `yaml:"hosts"` // simulated SMTP hosts in file order
	Relay       Relay    `yaml:"relay"`
	Steps       []*Step  `yaml:"steps" mx:"required"`
	// Conformance makes the scenario a case of the conformance library;
	// plain scenarios leave it out.
	Conformance *Conformance `yaml:"conformance"`
	// AllowNonLoopback lets the scenario give addresses outside loopback
	// (127.0.0.0/8 and ::1) in A and AAAA records and in relay.submit.
	// Off by default: mxsim's network lives on loopback, and an address
	// elsewhere would send the relay under test out of it, to the
	// Internet. Set it only when the relay can reach the address and
	// nothing else there: a network namespace made for the test.
	AllowNonLoopback bool `yaml:"allow_non_loopback"`
	// Invariants turns off, for this scenario, invariants judged at the
	// end of every run; each needs a reason.
	Invariants *Invariants `yaml:"invariants"`
	// Clock is the network's time: real (the default), or virtual, where
	// the reference relay's retry waits, the hosts' greylist and rate
	// windows and the steps' waits (wait, within, for) pass without
	// sleeping. Only the reference relay runs under a virtual clock; a
	// relay of another kind gets its retries by flush steps.
	Clock Clock `yaml:"clock"`

	positions map[any]Pos // field address -> position of its value
}

// PosOf returns the position of the YAML value decoded into the field that
// ptr points to (for example &step.Expect.Delivered.At), or the zero Pos when
// unknown. Use it to point run-time failures at the line that asked for them.
func (s *Scenario) PosOf(ptr any) Pos {
	if s == nil || s.positions == nil {
		return Pos{}
	}
	return s.positions[ptr]
}

// Zone returns the zone named name (any case, with or without the final
// dot), or nil.
func (s *Scenario) Zone(name string) *Zone {
	name = canonical(name)
	for _, z := range s.DNS {
		if z.Name == name {
			return z
		}
	}
	return nil
}

// ZoneOf returns the most specific zone that contains name, or nil.
func (s *Scenario) ZoneOf(name string) *Zone {
	name = canonical(name)
	var best *Zone
	for _, z := range s.DNS {
		if inZone(name, z.Name) && (best == nil || len(z.Name) > len(best.Name)) {
			best = z
		}
	}
	return best
}

// Host returns the host named name, or nil.
func (s *Scenario) Host(name string) *Host {
	name = canonical(name)
	for _, h := range s.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Zone is one authoritative zone of the fake DNS. The apex's records have
// their own keys; any other name goes under Records.
type Zone struct {
	Pos    Pos    `yaml:"-"`
	Name   string `yaml:"-" mx:"key,domain"` // the apex, lowercase, without the final dot
	Secure bool   `yaml:"secure"`            // answers carry the AD bit (DNSSEC-secure)
	// Rotate turns the order of each record set by one at every answer,
	// round-robin (BIND's rrset-order cyclic); default: the order written,
	// always.
	Rotate bool         `yaml:"rotate"`
	MX     []*MX        `yaml:"mx"`
	A      []netip.Addr `yaml:"a" mx:"ipv4"`
	AAAA   []netip.Addr `yaml:"aaaa" mx:"ipv6"`
	TXT    []string     `yaml:"txt"`
	CNAME  string       `yaml:"cname" mx:"domain"`
	NS     []string     `yaml:"ns" mx:"domain"`
	TLSA   []string     `yaml:"tlsa"` // zone-file data: "3 1 1 <hex>"
	// Records holds other names of the zone, each with records in
	// zone-file syntax without owner, TTL and class ("CNAME example.test.").
	Records []*Records `yaml:"records"`
	Fault   *Fault     `yaml:"fault"`  // zone-wide fault (Name empty)
	Faults  []*Fault   `yaml:"faults"` // per-name faults
	// MTASTS publishes an MTA-STS policy for the zone's domain (RFC 8461,
	// see ZoneMTASTS).
	MTASTS *ZoneMTASTS `yaml:"mta_sts"`
}

// MX is one MX record. Host "." with Pref 0 is a null MX (RFC 7505).
type MX struct {
	Pos  Pos    `yaml:"-"`
	Pref int    `yaml:"pref" mx:"max=65535"` // preference: lower is tried first
	Host string `yaml:"host" mx:"required,host"`
}

// IsNull reports whether m is a null MX ("MX 0 .").
func (m *MX) IsNull() bool { return m.Host == "." }

// Records is the record set of one name below a zone's apex.
type Records struct {
	Pos     Pos      `yaml:"-"`
	Name    string   `yaml:"-" mx:"key,domain"`
	Records []string `yaml:"-" mx:"value"` // zone-file data with its type: "A 127.0.0.5"
}

// ZoneFile returns every record of the zone in zone-file syntax, owner
// names fully qualified, TTL DefaultTTL ("example.test. 300 IN MX 10
// mx1.example.test."), ready for dns.NewRR. Faults are not records.
func (z *Zone) ZoneFile() []string {
	var out []string
	add := func(name, data string) {
		out = append(out, fmt.Sprintf("%s %d IN %s", fqdn(name), DefaultTTL, data))
	}
	for _, m := range z.MX {
		add(z.Name, fmt.Sprintf("MX %d %s", m.Pref, fqdn(m.Host)))
	}
	for _, a := range z.A {
		add(z.Name, "A "+a.String())
	}
	for _, a := range z.AAAA {
		add(z.Name, "AAAA "+a.String())
	}
	for _, t := range z.TXT {
		add(z.Name, "TXT "+quoteTXT(t))
	}
	if z.CNAME != "" {
		add(z.Name, "CNAME "+fqdn(z.CNAME))
	}
	for _, n := range z.NS {
		add(z.Name, "NS "+fqdn(n))
	}
	for _, t := range z.TLSA {
		add(z.Name, "TLSA "+t)
	}
	for _, r := range z.Records {
		for _, d := range r.Records {
			add(r.Name, d)
		}
	}
	return out
}

// quoteTXT turns a TXT value into zone-file form, splitting it into
// strings of at most 255 bytes (RFC 1035 §3.3.14 character-strings).
func quoteTXT(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, s[:255])
		s = s[255:]
	}
	parts = append(parts, s)
	for i, p := range parts {
		p = strings.ReplaceAll(p, `\`, `\\`)
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `\"`) + `"`
	}
	return strings.Join(parts, " ")
}

// FaultKind names a DNS fault.
type FaultKind string

// DNS fault kinds.
const (
	FaultServfail FaultKind = "servfail" // answer SERVFAIL
	FaultNXDomain FaultKind = "nxdomain" // answer NXDOMAIN
	FaultRefused  FaultKind = "refused"  // answer REFUSED
	FaultTimeout  FaultKind = "timeout"  // send no answer
	FaultTruncate FaultKind = "truncate" // answer over UDP with TC set and no records
	FaultDelay    FaultKind = "delay"    // answer normally after Delay
)

func (FaultKind) Values() []string {
	return []string{"servfail", "nxdomain", "refused", "timeout", "truncate", "delay"}
}

// Fault is a DNS fault. In a zone's `fault:` Name is empty and the fault
// covers every name of the zone; in `faults:` and `set: {fault:}` it names
// one owner name. Written either as a kind alone ("servfail") or as a map.
type Fault struct {
	Pos   Pos           `yaml:"-"`
	Name  string        `yaml:"name" mx:"domain"`
	Type  string        `yaml:"type" mx:"rrtype"` // "" matches every type
	Kind  FaultKind     `yaml:"kind" mx:"required"`
	Delay time.Duration `yaml:"delay"` // wait before answering (any kind); required for kind delay
	Times int           `yaml:"times"` // fire this many times, then answer normally; 0 = always
}

// FaultRef names the fault that a `clear_fault` step removes.
type FaultRef struct {
	Pos  Pos    `yaml:"-"`
	Name string `yaml:"name" mx:"required,domain"`
	Type string `yaml:"type" mx:"rrtype"`
}

// Host is a simulated SMTP host.
type Host struct {
	Pos      Pos    `yaml:"-"`
	Name     string `yaml:"-" mx:"key,domain"`
	Behavior `yaml:",inline"`
	// PublishAs are more names whose A record gives this host's address,
	// so that one name can have several addresses (RFC 5321 §5.1,
	// multihomed hosts): each name gets one A record per host that
	// publishes it, in the file order of hosts. A name here is not a host
	// itself and has no address record of its own in dns.
	PublishAs []string `yaml:"publish_as" mx:"domain"`
	// TLSA publishes a TLSA record of the host's certificate for DANE
	// (see HostTLSA).
	TLSA *HostTLSA `yaml:"tlsa"`
	// Ports are the ports the host listens on, each on its own address;
	// empty: [25]. 25 is the shared MX port of the network; 587 is
	// submission (STARTTLS offered, AUTH required before MAIL when the
	// host has auth users), 465 submission over implicit TLS (AUTH
	// required likewise); any other port behaves as 25. A smarthost
	// named with a port other than 25 ("[smtp.example.test]:587") must
	// list it. On a random address plan each port but 25 is mapped to a
	// free port that the relay is told; on a fixed plan (real MTAs) it is
	// bound as it is.
	Ports []int `yaml:"ports" mx:"max=65535"`
	// Profile gives the host the behaviour and the ports of a provider
	// profile (gmail-like, ses-like…; `mxsim profiles` lists them). The host's
	// own keys win over the profile's: a behaviour part (limits, tls,
	// replies…) merges key by key, anything else replaces.
	Profile ProfileName `yaml:"profile"`
	// Faults are named faults of the host's profile (rate_limited,
	// tls_required…), laid over its behaviour in order, under the host's
	// own keys. Not DNS faults: those go under a zone.
	Faults []string `yaml:"faults"`
}

// Clock names the time a scenario's network keeps.
type Clock string

// Clocks.
const (
	ClockReal    Clock = "real"    // the real time: a 5-minute wait takes 5 minutes
	ClockVirtual Clock = "virtual" // time jumps over the waits while the network is quiet (reference relay only)
)

func (Clock) Values() []string { return []string{"real", "virtual"} }

// RelayKind names the adapter that runs the relay under test.
type RelayKind string

// Relay kinds.
const (
	RelayReference RelayKind = "reference" // mxsim's in-process reference relay
	RelayExternal  RelayKind = "external"  // already running; Submit (FlushCmd, ResetCmd) say how to reach it
	RelayPostfix   RelayKind = "postfix"   // a Postfix in a container, configured from the scenario
	RelayExim      RelayKind = "exim"      // an Exim in a container, configured from the scenario
	RelayOpenSMTPD RelayKind = "opensmtpd" // an OpenSMTPD in a container, configured from the scenario
)

func (RelayKind) Values() []string {
	return []string{"reference", "external", "postfix", "exim", "opensmtpd"}
}

// TLSPolicy is the relay's outbound TLS policy, named as Postfix's
// smtp_tls_security_level.
type TLSPolicy string

// Outbound TLS policies.
const (
	TLSNone    TLSPolicy = "none"    // never STARTTLS
	TLSMay     TLSPolicy = "may"     // opportunistic: TLS when offered, no checks
	TLSEncrypt TLSPolicy = "encrypt" // TLS mandatory, certificate not checked
	TLSVerify  TLSPolicy = "verify"  // TLS mandatory, certificate checked (CA, name, dates)
	TLSDane    TLSPolicy = "dane"    // DANE (RFC 7672): secure TLSA records make TLS and a matching certificate mandatory; else as may
)

func (TLSPolicy) Values() []string { return []string{"none", "may", "encrypt", "verify", "dane"} }

// Relay describes the relay under test and its settings.
type Relay struct {
	Pos           Pos          `yaml:"-"`
	Kind          RelayKind    `yaml:"kind"`                     // default reference
	Hostname      string       `yaml:"hostname" mx:"domain"`     // its EHLO name and its own name in MX sets; default relay.mxsim.test
	TLS           TLSPolicy    `yaml:"tls"`                      // default may
	Smarthost     string       `yaml:"smarthost" mx:"smarthost"` // Postfix relayhost syntax: "[host]:port" (brackets: no MX lookup)
	SmarthostAuth *Credentials `yaml:"smarthost_auth"`
	SubmitAuth    *Credentials `yaml:"submit_auth"` // the relay requires AUTH for submission with these
	// Submission: the relay also offers its own submission services for
	// its submit_auth user (required then), where a send goes with via:
	// 587-style (STARTTLS, AUTH required) and 465-style (TLS from connect).
	Submission    bool          `yaml:"submission"`
	RetryInterval time.Duration `yaml:"retry_interval"`
	MaxLifetime   time.Duration `yaml:"max_lifetime"`
	MaxMXHosts    int           `yaml:"max_mx_hosts"` // MX hosts tried per attempt
	// MTASTS makes the relay honour MTA-STS policies (RFC 8461) of the
	// domains it delivers to.
	MTASTS bool `yaml:"mta_sts"`

	Submit   string `yaml:"submit" mx:"hostport"` // kind external: where the relay takes mail, "127.0.0.1:2525"
	FlushCmd string `yaml:"flush_cmd"`            // kind external: shell command that retries the queue now
	ResetCmd string `yaml:"reset_cmd"`            // kind external: shell command run before the scenario that empties the queue and what the relay keeps per host or domain

	// MainCF, for kind postfix: main.cf parameters, applied with postconf.
	MainCF map[string]string `yaml:"main_cf"`

	// DKIM makes the relay sign with DKIM, its key published in the DNS
	// (see RelayDKIM).
	DKIM *RelayDKIM `yaml:"dkim"`
}

// Smarthost is a parsed relayhost.
type Smarthost struct {
	Host     string // lowercase, no final dot
	Port     int    // 25 when not given
	MXLookup bool   // false when the host was written in brackets
}

// ParseSmarthost parses Postfix relayhost syntax: "host", "host:port",
// "[host]" or "[host]:port".
func ParseSmarthost(s string) (Smarthost, error) {
	sh := Smarthost{Port: 25, MXLookup: true}
	host, rest := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return sh, fmt.Errorf("smarthost %q: missing \"]\"", s)
		}
		host, rest = s[1:end], s[end+1:]
		sh.MXLookup = false
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, rest = s[:i], s[i:]
	}
	if rest != "" {
		p, ok := strings.CutPrefix(rest, ":")
		port, err := parsePort(p)
		if !ok || err != nil {
			return sh, fmt.Errorf("smarthost %q: bad port %q", s, strings.TrimPrefix(rest, ":"))
		}
		sh.Port = port
	}
	if err := checkDomain(host); err != nil {
		return sh, fmt.Errorf("smarthost %q: %w", s, err)
	}
	sh.Host = canonical(host)
	return sh, nil
}

// Credentials are a user name and password for SMTP AUTH.
type Credentials struct {
	Pos      Pos    `yaml:"-"`
	User     string `yaml:"user" mx:"required"`
	Password string `yaml:"password" mx:"required"`
}

// Step is one step of a scenario; exactly one field is set.
type Step struct {
	Pos    Pos     `yaml:"-"`
	Send   *Send   `yaml:"send"`
	Expect *Expect `yaml:"expect"`
	Set    *Set    `yaml:"set"`
	Wait   *Wait   `yaml:"wait"`
	Flush  *Flush  `yaml:"flush"`
}

// Kind returns the step's key: "send", "expect", "set", "wait", "flush" or
// "" when none is set.
func (s *Step) Kind() string {
	switch {
	case s.Send != nil:
		return "send"
	case s.Expect != nil:
		return "expect"
	case s.Set != nil:
		return "set"
	case s.Wait != nil:
		return "wait"
	case s.Flush != nil:
		return "flush"
	}
	return ""
}

// Client says who submits a message, as the relay under test sees it.
type Client string

// Clients.
const (
	ClientTrusted Client = "trusted" // the harness client's usual address (127.0.0.1), with the relay's submit_auth if any
	ClientOutside Client = "outside" // an address outside the relay's trusted networks (.250 of the network's /24), no AUTH
)

func (Client) Values() []string { return []string{"trusted", "outside"} }

// Via says which of the relay's services a message is submitted to.
type Via string

// Services.
const (
	ViaSubmit      Via = "submit"      // the relay's usual submission address (default): plaintext, AUTH only if the relay requires it
	ViaSubmission  Via = "submission"  // its 587-style service: STARTTLS, then AUTH (RFC 6409)
	ViaSubmissions Via = "submissions" // its 465-style service: TLS from connect, then AUTH (RFC 8314 §3.3)
)

func (Via) Values() []string { return []string{"submit", "submission", "submissions"} }

// CountMarker in a send's recipients is replaced by the message number
// (1..count) when the send has a count.
const CountMarker = "{n}"

// Send submits one message to the relay under test (Count messages when
// Count is set).
type Send struct {
	Pos     Pos               `yaml:"-"`
	ID      string            `yaml:"id" mx:"ident"` // names the message for expectations (message: ID)
	From    string            `yaml:"from" mx:"required,email"`
	To      []string          `yaml:"to" mx:"required,email"`
	Subject string            `yaml:"subject"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"` // text of the body; or Size
	Size    int               `yaml:"size"` // generate a body of this many bytes
	Auth    *Credentials      `yaml:"auth"` // AUTH at submission; default relay.submit_auth
	TLS     bool              `yaml:"tls"`  // STARTTLS before submitting
	// Count sends this many messages, one submission each; "{n}" in To
	// becomes 1..Count ("user{n}@example.test"). 0 means one message.
	Count int `yaml:"count" mx:"max=1000"`
	// Client is who submits: trusted (default) or outside. A submission
	// from outside that the relay refuses does not fail the step: the
	// refusal is what `refused` checks.
	Client Client `yaml:"client"`
	// Via is the relay's service the message goes to: submit (default),
	// submission or submissions (relay: {submission: true}). There the
	// client authenticates with auth, else with the relay's submission
	// credentials; a client from outside only with auth.
	Via Via `yaml:"via"`
}

// Conditions are predicates over what happened in the network. Every
// condition that is set must hold (AND).
type Conditions struct {
	Delivered    *Delivery      `yaml:"delivered"`
	NotDelivered *Delivery      `yaml:"not_delivered"`
	Attempted    []string       `yaml:"attempted" mx:"domain"` // first connections to these hosts happened in this order
	TLS          *TLSCheck      `yaml:"tls"`
	Auth         *AuthCheck     `yaml:"auth"`
	Reply        *ReplyCheck    `yaml:"reply"`
	Bounce       *BounceCheck   `yaml:"bounce"`
	DNSQuery     *DNSQueryCheck `yaml:"dns_query"`
	Spread       *Spread        `yaml:"spread"`
	Refused      *RefusedCheck  `yaml:"refused"`
	// NoPlaintextAuth is negative, like not_delivered: no client sent
	// AUTH at the host outside TLS.
	NoPlaintextAuth *HostRef `yaml:"no_plaintext_auth"`
	// STARTTLSRules is negative too: in no session at the host did the
	// client send STARTTLS that the host's EHLO reply had not advertised,
	// and after every STARTTLS answered 220 its next command was EHLO
	// (RFC 3207 §3, §4.2; rule 19).
	STARTTLSRules *HostRef `yaml:"starttls_rules"`
	// RetryGap is negative too: no new connection to the host came
	// sooner than at_least after a session there failed with a 4yz (RFC
	// 5321 §4.5.4.1: the sender MUST delay retrying; rule 15).
	RetryGap *RetryGap `yaml:"retry_gap"`
	// Queued holds when the relay lists the recipient in its queue.
	Queued *QueuedCheck `yaml:"queued"`
	// Deferred holds when the relay deferred the recipient (relay.defer,
	// or a 4yz at a host) and it is neither delivered nor bounced.
	Deferred *DeferredCheck `yaml:"deferred"`
	// Attempts is negative, like retry_gap: the connections to a host
	// were not too many (no hammering after a 421) and not too soon.
	Attempts *AttemptsCheck `yaml:"attempts"`
	// AuthResults holds when a host that checks messages (verify)
	// recorded these SPF, DKIM and DMARC results for a message it took.
	AuthResults *AuthResultsCheck `yaml:"auth_results"`
}

// IsZero reports whether no condition is set.
func (c *Conditions) IsZero() bool {
	return c.Delivered == nil && c.NotDelivered == nil && c.Attempted == nil && c.TLS == nil &&
		c.Auth == nil && c.Reply == nil && c.Bounce == nil && c.DNSQuery == nil && c.Spread == nil &&
		c.Refused == nil && c.NoPlaintextAuth == nil && c.STARTTLSRules == nil && c.RetryGap == nil && c.Queued == nil && c.Deferred == nil && c.Attempts == nil &&
		c.AuthResults == nil
}

// Expect checks conditions. The positive ones (all but not_delivered,
// no_plaintext_auth, starttls_rules, retry_gap and attempts) may take up
// to Within to become true, or the within of their own; the negative
// ones are then checked, and must keep holding for For.
type Expect struct {
	Pos        Pos `yaml:"-"`
	Conditions `yaml:",inline"`
	Within     time.Duration `yaml:"within"` // default 10s (DefaultWithin)
	For        time.Duration `yaml:"for"`    // how long negative conditions must keep holding; default 0: checked once
}

// Delivery is a delivered / not_delivered condition.
type Delivery struct {
	Pos     Pos    `yaml:"-"`
	To      string `yaml:"to" mx:"required,email"`
	At      string `yaml:"at" mx:"domain"`     // a host; "" means any host
	Message string `yaml:"message" mx:"ident"` // a send id; "" means any message
	Count   int    `yaml:"count"`              // delivered only: exactly this many deliveries; 0 (unset): at least one
	// NotBefore, delivered only: the first delivery that matches came no
	// sooner than this after the relay accepted the message's submission
	// (the 250 to the final dot): "the retry came no sooner than the
	// relay's configured wait". 0: no bound.
	NotBefore time.Duration `yaml:"not_before"`
	Within    time.Duration `yaml:"within"` // delivered only: how long the delivery may take to come; default the step's within (or a wait's timeout)
}

// QueuedCheck holds when the relay under test lists To in its queue.
type QueuedCheck struct {
	Pos    Pos           `yaml:"-"`
	To     string        `yaml:"to" mx:"required,email"`
	Within time.Duration `yaml:"within"` // how long this condition may take to hold; default the step's within (or a wait's timeout)
}

// DeferredCheck holds when the relay deferred To (with Code, when set)
// and To is neither delivered nor bounced.
type DeferredCheck struct {
	Pos    Pos           `yaml:"-"`
	To     string        `yaml:"to" mx:"required,email"`
	Code   int           `yaml:"code" mx:"code"`
	Within time.Duration `yaml:"within"` // how long this condition may take to hold; default the step's within (or a wait's timeout)
}

// Invariants names the invariants a scenario turns off.
type Invariants struct {
	Pos          Pos           `yaml:"-"`
	AtMostOnce   *InvariantOff `yaml:"at_most_once"`  // a message reaches each recipient at most once
	AccountedFor *InvariantOff `yaml:"accounted_for"` // every accepted recipient is delivered, bounced or queued
}

// InvariantOff turns one invariant off, for a reason.
type InvariantOff struct {
	Pos    Pos    `yaml:"-"`
	Off    bool   `yaml:"off" mx:"required"`    // must be true
	Reason string `yaml:"reason" mx:"required"` // why the invariant does not hold here
}

// TLSCheck holds when a delivery session to At used TLS.
type TLSCheck struct {
	Pos    Pos           `yaml:"-"`
	At     string        `yaml:"at" mx:"required,domain"`
	Within time.Duration `yaml:"within"` // how long this condition may take to hold; default the step's within (or a wait's timeout)
}

// AuthCheck holds when the relay authenticated at At (as User, when set).
type AuthCheck struct {
	Pos    Pos           `yaml:"-"`
	At     string        `yaml:"at" mx:"required,domain"`
	User   string        `yaml:"user"`
	Within time.Duration `yaml:"within"` // how long this condition may take to hold; default the step's within (or a wait's timeout)
}

// Stage names an SMTP stage, for reply checks.
type Stage string

// Values are the stages of a session, named as the keys of
// fakesmtp.Replies name them.
func (Stage) Values() []string { return keysOf(reflect.TypeFor[fakesmtp.Replies]()) }

// ReplyCheck holds when a host (At, or any) sent a reply with Code (at
// Stage, when set).
type ReplyCheck struct {
	Pos    Pos           `yaml:"-"`
	At     string        `yaml:"at" mx:"domain"`
	Code   int           `yaml:"code" mx:"required,code"`
	Stage  Stage         `yaml:"stage"`
	Within time.Duration `yaml:"within"` // how long this condition may take to hold; default the step's within (or a wait's timeout)
}

// BounceCheck holds when the relay sent a bounce (DSN) to To.
type BounceCheck struct {
	Pos     Pos           `yaml:"-"`
	To      string        `yaml:"to" mx:"required,email"`
	Code    int           `yaml:"code" mx:"code"`     // the reply code reported, when set
	Status  string        `yaml:"status" mx:"status"` // the RFC 3463 status reported ("5.1.1"), when set
	Message string        `yaml:"message" mx:"ident"` // the send id of the bounced message
	Within  time.Duration `yaml:"within"`             // how long this condition may take to hold; default the step's within (or a wait's timeout)
}

// DNSQueryCheck holds when the fake DNS received a query for Name (of Type,
// when set).
type DNSQueryCheck struct {
	Pos    Pos           `yaml:"-"`
	Name   string        `yaml:"name" mx:"required,domain"`
	Type   string        `yaml:"type" mx:"rrtype"`
	Within time.Duration `yaml:"within"` // how long this condition may take to hold; default the step's within (or a wait's timeout)
}

// Spread holds when every host in Hosts had at least AtLeast sessions
// that carried mail. A session is one TCP connection; with hosts that all
// accept, the host of each new session is the one the relay tried first,
// so this judges the order of attempts from the hosts' side (RFC 5321
// §5.1: equal preferences are randomised). A session reused for many
// messages counts once: it was one choice.
type Spread struct {
	Pos     Pos           `yaml:"-"`
	Hosts   []string      `yaml:"hosts" mx:"required,domain"`
	AtLeast int           `yaml:"at_least"` // sessions at each host; default 1
	Within  time.Duration `yaml:"within"`   // how long this condition may take to hold; default the step's within (or a wait's timeout)
}

// RefusedCheck holds when the relay under test refused a submission (a
// 4yz or 5yz reply to the harness client), at Stage, with Code and with
// the RFC 3463 Status when set.
type RefusedCheck struct {
	Pos    Pos           `yaml:"-"`
	Stage  Stage         `yaml:"stage"`
	Code   int           `yaml:"code" mx:"code"`
	Status string        `yaml:"status" mx:"status"` // "5.7.8"
	Within time.Duration `yaml:"within"`             // how long this condition may take to hold; default the step's within (or a wait's timeout)
}

// HostRef names one simulated host.
type HostRef struct {
	Pos Pos    `yaml:"-"`
	At  string `yaml:"at" mx:"required,domain"`
}

// RetryGap holds when, after every session at At in which the host
// replied 4yz (to anything but STARTTLS) and accepted no message, the next
// connection to At came at least AtLeast after that session ended. A
// connection that follows a flush step does not count: the scenario asked
// for it.
type RetryGap struct {
	Pos Pos    `yaml:"-"`
	At  string `yaml:"at" mx:"required,domain"`
	// AtLeast is the shortest gap allowed; default half the relay's
	// retry interval (relay.retry_interval, or the relay profile's in
	// mxsim conformance): MTAs schedule retries in whole seconds and find
	// due mail on periodic queue scans, so a retry may come early by a
	// second or more.
	AtLeast time.Duration `yaml:"at_least"`
}

// AttemptsCheck holds when the connections to At, as the host saw them
// (accepted or refused at connect; a host that is down sees none), were
// not too many and not too soon:
//
//   - Max: at most this many in any span of Within (with Within 0: in
//     all), so that a relay that retries a 421 at once, again and again,
//     fails it;
//   - NotBefore: none came sooner than this after the relay accepted the
//     submission of Message (the send id), or, without Message, the last
//     submission before the connection.
//
// At least one of Max and NotBefore is set. Unlike every other
// condition's within, Within here is the span Max counts in, not a wait.
type AttemptsCheck struct {
	Pos       Pos           `yaml:"-"`
	At        string        `yaml:"at" mx:"required,domain"`
	Max       *int          `yaml:"max"`        // connections allowed; 0: none at all
	Within    time.Duration `yaml:"within"`     // the span Max counts in; 0: the whole run so far
	NotBefore time.Duration `yaml:"not_before"` // the shortest time from the submission to a connection
	Message   string        `yaml:"message" mx:"ident"`
}

// Set changes the network mid-scenario: one of a host's behaviour (Host and
// the Behavior parts present, then Clear), a DNS record set, a fault, or
// the removal of a fault.
type Set struct {
	Pos        Pos    `yaml:"-"`
	Host       string `yaml:"host" mx:"domain"`
	Behavior   `yaml:",inline"`
	Clear      []string   `yaml:"clear" mx:"behavior"` // behaviour parts to reset to normal
	DNS        *RecordSet `yaml:"dns"`
	Fault      *Fault     `yaml:"fault"`
	ClearFault *FaultRef  `yaml:"clear_fault"`
	MTASTS     *SetMTASTS `yaml:"mta_sts"` // a new MTA-STS policy for a zone that has one
}

// RecordSet replaces the records of one name and type. No records removes
// them.
type RecordSet struct {
	Pos     Pos      `yaml:"-"`
	Zone    string   `yaml:"zone" mx:"domain"` // default: the zone that contains Name
	Name    string   `yaml:"name" mx:"required,domain"`
	Type    string   `yaml:"type" mx:"required,rrtype"`
	Records []string `yaml:"records"` // zone-file data with its type: "MX 5 mx2.example.test."
}

// Wait pauses for Duration, or until the Until conditions hold (failing
// after Timeout).
type Wait struct {
	Pos      Pos           `yaml:"-"`
	Duration time.Duration `yaml:"-"` // wait: 2s
	Until    *Conditions   `yaml:"until"`
	Timeout  time.Duration `yaml:"timeout"` // default 30s (DefaultWaitTimeout)

	bad bool // the value could not be decoded; reported already
}

// Flush asks the relay to retry its queue now.
type Flush struct {
	Pos Pos `yaml:"-"`
}

// AuthResult is a result of a message authentication method, as an
// Authentication-Results header writes it (RFC 8601 §2.7).
type AuthResult string

// Values lists the results: softfail and neutral are SPF's only (RFC 7208
// §8), policy DKIM's (RFC 8601 §2.7.1).
func (AuthResult) Values() []string {
	return []string{"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy"}
}

// AuthResultsCheck holds when host At, checking messages (its verify),
// took a message (for To, and the send Message, when set) and recorded
// every result given: SPF, DKIM (a signature with that result; of
// DKIMDomain, its d=, when set) and DMARC. DKIMDomain alone asks for a
// signature of that domain that passed.
type AuthResultsCheck struct {
	Pos        Pos           `yaml:"-"`
	At         string        `yaml:"at" mx:"required,domain"`
	To         string        `yaml:"to" mx:"email"`
	Message    string        `yaml:"message" mx:"ident"`
	SPF        AuthResult    `yaml:"spf"`
	DKIM       AuthResult    `yaml:"dkim"`
	DKIMDomain string        `yaml:"dkim_domain" mx:"domain"`
	DMARC      AuthResult    `yaml:"dmarc"`
	Within     time.Duration `yaml:"within"` // how long this condition may take to hold; default the step's within (or a wait's timeout)
}
