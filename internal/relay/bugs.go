package relay

import "sort"

// Bugs are faults planted on purpose in the reference relay, one switch
// per rule of the rules table in docs/conformance.md, so that mxsim's conformance library can be
// shown to catch them (a test suite that never fails proves nothing). The
// zero value is the correct relay. Each switch is consulted in the one
// small function that implements its rule; nothing is copied.
type Bugs struct {
	IgnorePreference       bool // rule 6: MX hosts are tried in the order of the DNS answer, not by preference
	HighestFirst           bool // rule 6: MX hosts are tried highest preference number first
	NoFailover             bool // rule 13: a host that refuses or fails ends the attempt; the next host is not tried
	FirstAddressOnly       bool // rule 8: only the first address of each MX host is tried; a host's other addresses never are
	RetryAtOnce            bool // rule 15: a deferred message is retried a tenth of a second later, again and again, whatever the retry interval
	BounceOn4xx            bool // rule 13/17: a temporary failure (4yz, no host reachable) bounces instead of deferring
	RetryAfter5xx          bool // rule 14: a 5yz from a remote host defers the recipient instead of bouncing it
	NoRetry                bool // rule 17: a deferred message is silently dropped, never retried (greylisting never passes)
	UseDomainAddress       bool // rule 5: the domain's own A/AAAA is tried after its MX hosts
	IgnoreNullMX           bool // rule 12: a null MX is treated as no MX: the domain's own address is used
	NoShuffle              bool // rule 7: hosts of equal preference are not randomised
	StartTLSUnadvertised   bool // rule 19: STARTTLS is sent whether or not EHLO advertised it, and a refusal is ignored: plaintext goes on, whatever the policy
	NoEHLOAfterStartTLS    bool // rule 19: after STARTTLS the relay does not say EHLO again; it goes on with what it learned before TLS
	PlaintextWhenMandatory bool // rule 21: under mandatory TLS, a host without STARTTLS gets the mail in plaintext
	SkipCertChecks         bool // rule 22: under TLS verify, the certificate is not checked
	AuthBeforeTLS          bool // rule 25: AUTH is sent to the smarthost before STARTTLS
	OpenRelay              bool // rule 28: mail from any client to any domain is accepted (Mynetworks ignored)
	AcceptBadCredentials   bool // rule 26: AUTH at submission succeeds whatever the password
	SubmissionWithoutAuth  bool // rule 27: the submission services accept MAIL without AUTH
	PlaintextSubmissions   bool // rule 27: the submissions service (465) speaks plaintext instead of TLS from connect
	ResendAccepted         bool // rule 18: a retry sends again to every recipient of the message, also those a host already accepted
	IgnoreTLSA             bool // rule 23: under TLS dane, TLSA records are never looked up: TLS stays opportunistic
	BreakDKIMBody          bool // rule 30: a footer line is appended to the body after DKIM signing: the body hash no longer verifies
	STSEnforceAsTesting    bool // rule 24: an MTA-STS policy in mode enforce is treated as testing: unlisted MX hosts and bad certificates are used
}

// Variant is the reference relay with one planted bug.
type Variant struct {
	Name string // short, stable: "ignores-preference"
	Bug  string // one line: what it does wrong
	Bugs Bugs
	// Rules are the numbers of the rules its bug breaks, in the rules
	// table of docs/conformance.md: the cases of these rules (their
	// conformance.rule) are the ones that must catch it.
	Rules []int
}

// Variants returns the reference relay's buggy variants, one per planted
// bug, sorted by name.
func Variants() []Variant {
	v := []Variant{
		{"ignores-preference", "tries MX hosts in DNS answer order, ignoring preference", Bugs{IgnorePreference: true}, []int{6}},
		{"highest-first", "tries the highest preference number first", Bugs{HighestFirst: true}, []int{6}},
		{"no-failover", "gives up on the attempt when a host refuses, never tries the next MX", Bugs{NoFailover: true}, []int{13}},
		{"bounces-on-4xx", "bounces on temporary (4yz) failures", Bugs{BounceOn4xx: true}, []int{13, 17}},
		{"retries-after-5xx", "defers and retries after a permanent (5yz) reply", Bugs{RetryAfter5xx: true}, []int{14}},
		{"never-retries", "never retries a deferred (greylisted) message", Bugs{NoRetry: true}, []int{17}},
		{"uses-a-record", "uses the domain's A record although MX records exist", Bugs{UseDomainAddress: true}, []int{5}},
		{"ignores-null-mx", "ignores a null MX and delivers to the domain's address", Bugs{IgnoreNullMX: true}, []int{12}},
		{"no-shuffle", "does not randomise hosts of equal preference", Bugs{NoShuffle: true}, []int{7}},
		{"starttls-unadvertised", "sends STARTTLS to hosts that do not advertise it and, refused, goes on in plaintext even when TLS is mandatory", Bugs{StartTLSUnadvertised: true}, []int{19, 21}},
		{"no-ehlo-after-starttls", "skips the EHLO after STARTTLS and keeps the extensions learned before TLS", Bugs{NoEHLOAfterStartTLS: true}, []int{19}},
		{"plaintext-when-mandatory", "sends in plaintext to a host without STARTTLS when TLS is mandatory", Bugs{PlaintextWhenMandatory: true}, []int{21}},
		{"skips-cert-checks", "skips certificate checks under TLS verify", Bugs{SkipCertChecks: true}, []int{22}},
		{"auth-before-starttls", "sends AUTH to the smarthost before STARTTLS", Bugs{AuthBeforeTLS: true}, []int{25}},
		{"open-relay", "relays for anyone, trusted or not", Bugs{OpenRelay: true}, []int{28}},
		{"first-address-only", "tries only the first address of each MX host", Bugs{FirstAddressOnly: true}, []int{8}},
		{"retries-at-once", "retries a deferred message at once, again and again, ignoring the retry interval", Bugs{RetryAtOnce: true}, []int{15}},
		{"accepts-bad-credentials", "its submission service accepts AUTH with any password", Bugs{AcceptBadCredentials: true}, []int{26, 27}},
		{"submission-without-auth", "its submission services (587, 465) accept MAIL without AUTH", Bugs{SubmissionWithoutAuth: true}, []int{27}},
		{"plaintext-465", "its implicit-TLS submission service (465) speaks plaintext", Bugs{PlaintextSubmissions: true}, []int{27}},
		{"resends-accepted", "on a retry, sends again to recipients a host already accepted", Bugs{ResendAccepted: true}, []int{18}},
		{"sts-enforce-as-testing", "treats an MTA-STS policy in mode enforce as testing: delivers to MX hosts the policy does not list, and without a valid certificate", Bugs{STSEnforceAsTesting: true}, []int{24}},
		{"ignores-tlsa", "under TLS dane, never looks up TLSA records: delivers opportunistically to hosts whose certificate does not match", Bugs{IgnoreTLSA: true}, []int{23}},
		{"breaks-dkim-body", "appends a footer to the body after signing it with DKIM: the signature no longer verifies", Bugs{BreakDKIMBody: true}, []int{30}},
	}
	sort.Slice(v, func(i, j int) bool { return v[i].Name < v[j].Name })
	return v
}

// LookupVariant returns the variant called name.
func LookupVariant(name string) (Variant, bool) {
	for _, v := range Variants() {
		if v.Name == name {
			return v, true
		}
	}
	return Variant{}, false
}
