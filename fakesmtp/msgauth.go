package fakesmtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// Verify makes a host check the messages it takes the way a receiving
// mailbox provider does: SPF (RFC 7208) of the client address, MAIL FROM
// and HELO; every DKIM signature (RFC 6376); DMARC (RFC 7489) of the From
// header's domain, aligned with SPF or DKIM. Every lookup goes to the
// host's resolver (Config.Resolver), never to the system's.
//
// The checks run at the end of data, once the message is in: the
// accepted message's journal event carries the results as an
// Authentication-Results value (RFC 8601, journal.Message.AuthResults).
// With Enforce the host refuses, like a large mailbox provider:
//
//   - DMARC fail where the policy is p=reject: DMARCReply (default
//     550 5.7.26, DefaultDMARCReply);
//   - else SPF fail (a record ending in -all, or another "-" mechanism
//     that matched) unless DMARC passed (RFC 7489 §10.1: a DMARC pass
//     through an aligned DKIM signature outweighs an SPF fail): SPFReply
//     (default 550 5.7.23, DefaultSPFReply).
//
// Everything else is accepted and recorded: softfail, neutral, none,
// temperror and permerror, DMARC p=none and p=quarantine.
type Verify struct {
	SPF   bool `yaml:"spf,omitempty" json:"spf,omitempty"`     // evaluate SPF
	DKIM  bool `yaml:"dkim,omitempty" json:"dkim,omitempty"`   // verify DKIM signatures
	DMARC bool `yaml:"dmarc,omitempty" json:"dmarc,omitempty"` // evaluate DMARC; SPF and DKIM are evaluated too, since DMARC needs them
	// Enforce refuses what fails, see above; without it the host accepts
	// every message and records the results.
	Enforce    bool   `yaml:"enforce,omitempty" json:"enforce,omitempty"`
	SPFReply   *Reply `yaml:"spf_reply,omitempty" json:"spf_reply,omitempty"`     // 4xx/5xx refusing an SPF fail; default DefaultSPFReply
	DMARCReply *Reply `yaml:"dmarc_reply,omitempty" json:"dmarc_reply,omitempty"` // 4xx/5xx refusing a DMARC fail under p=reject; default DefaultDMARCReply
}

// Default refusals of a host that enforces Verify, as Gmail words them
// (https://support.google.com/a/answer/3726730).
var (
	DefaultSPFReply   = Reply{Code: 550, Enhanced: "5.7.23", Text: "The message was not sent: the sender domain's SPF record does not allow the client address"}
	DefaultDMARCReply = Reply{Code: 550, Enhanced: "5.7.26", Text: "Unauthenticated email is not accepted due to the sender domain's DMARC policy"}
)

// Fault names of the refusals of a host that enforces Verify.
const (
	FaultVerifySPF   = "verify.spf"
	FaultVerifyDMARC = "verify.dmarc"
)

// verifyTimeout bounds the lookups of one message's checks.
const verifyTimeout = 15 * time.Second

// maxSignatures is how many DKIM signatures of a message are verified.
const maxSignatures = 8

// errNoResolver is the error of every lookup of a host without a resolver.
var errNoResolver = errors.New("fakesmtp: no resolver (Config.Resolver)")

// on reports whether v checks anything.
func (v *Verify) on() bool { return v != nil && (v.SPF || v.DKIM || v.DMARC) }

// validate checks v (field "verify").
func (v *Verify) validate() []error {
	var errs []error
	if !v.on() {
		errs = append(errs, fieldErr("verify", "turns on no check: set spf, dkim or dmarc to true"))
	}
	for _, r := range []struct {
		name string
		r    *Reply
		on   bool
	}{{"spf_reply", v.SPFReply, v.SPF || v.DMARC}, {"dmarc_reply", v.DMARCReply, v.DMARC}} {
		if r.r == nil {
			continue
		}
		f := "verify." + r.name
		errs = append(errs, r.r.validate(f)...)
		if r.r.Code >= minCode && r.r.Code <= maxCode && r.r.Code < 400 {
			errs = append(errs, fieldErr(f+".code", "%d: a refusal is 4xx or 5xx", r.r.Code))
		}
		if r.r.Times != 0 {
			errs = append(errs, fieldErr(f+".times", "not supported for a policy"))
		}
		switch {
		case !r.on:
			errs = append(errs, fieldErr(f, "set, but its check is off: turn on %s", strings.TrimSuffix(r.name, "_reply")))
		case !v.Enforce:
			errs = append(errs, fieldErr(f, "set, but enforce is off: the host never refuses (set enforce: true)"))
		}
	}
	return errs
}

// clone returns a deep copy of v.
func (v *Verify) clone() *Verify {
	if v == nil {
		return nil
	}
	c := *v
	if v.SPFReply != nil {
		r := *v.SPFReply
		c.SPFReply = &r
	}
	if v.DMARCReply != nil {
		r := *v.DMARCReply
		c.DMARCReply = &r
	}
	return &c
}

// checkResolver reports a behaviour that verifies on a host without a
// resolver: it would have nowhere to look records up.
func (h *Host) checkResolver(b *Behavior) error {
	if b.Verify.on() && h.resolver == nil {
		return fieldErr("verify", "the host has no resolver to look records up with (Config.Resolver)")
	}
	return nil
}

// fqdnResolver asks r for absolute names only, so that the resolver's
// search list (resolv.conf) never adds queries of its own. It satisfies
// spf.DNSResolver.
type fqdnResolver struct{ r *net.Resolver }

func fqdn(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

func (f fqdnResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if f.r == nil {
		return nil, errNoResolver
	}
	return f.r.LookupTXT(ctx, fqdn(name))
}

func (f fqdnResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if f.r == nil {
		return nil, errNoResolver
	}
	return f.r.LookupMX(ctx, fqdn(name))
}

func (f fqdnResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if f.r == nil {
		return nil, errNoResolver
	}
	return f.r.LookupIPAddr(ctx, fqdn(host))
}

func (f fqdnResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	if f.r == nil {
		return nil, errNoResolver
	}
	return f.r.LookupAddr(ctx, addr)
}

// authOutcome is what the checks of one message found.
type authOutcome struct {
	spf        authres.ResultValue // "" when not evaluated
	dmarc      authres.ResultValue // "" when not evaluated
	policy     dmarc.Policy        // the DMARC policy that applies, when one was found
	fromDomain string
	results    []authres.Result
}

// verifyMessage runs the checks v asks for on the message raw, received
// in the session's transaction. It may wait for the DNS.
func (s *session) verifyMessage(v *Verify, raw []byte, hdr map[string][]string) authOutcome {
	s.mayWait("message authentication")
	ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
	defer cancel()
	res := fqdnResolver{s.h.resolver}
	lookupTXT := func(name string) ([]string, error) { return res.LookupTXT(ctx, name) }
	var out authOutcome

	// SPF (RFC 7208 §2.4): the MAIL FROM identity, or postmaster@HELO
	// for the null reverse-path.
	var spfDomain string
	if v.SPF || v.DMARC {
		sender := s.from
		if sender == "" {
			sender = "postmaster@" + s.helo
		}
		_, spfDomain, _ = strings.Cut(sender, "@")
		ip := net.ParseIP(s.ip)
		r, err := spf.CheckHostWithSender(ip, s.helo, sender, spf.WithContext(ctx), spf.WithResolver(res))
		out.spf = authres.ResultValue(r)
		sr := &authres.SPFResult{Value: out.spf, Reason: spfReason(r, s.ip, spfDomain, err)}
		if s.from == "" {
			sr.Helo = s.helo
		} else {
			sr.From = s.from
		}
		out.results = append(out.results, sr)
	}

	// DKIM: every signature, up to maxSignatures.
	var dkimPass []string // the d= of the signatures that verified
	if v.DKIM || v.DMARC {
		verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: lookupTXT, MaxVerifications: maxSignatures})
		switch {
		case err != nil && len(verifs) == 0:
			out.results = append(out.results, &authres.DKIMResult{Value: authres.ResultPermError, Reason: err.Error()})
		case len(verifs) == 0:
			out.results = append(out.results, &authres.DKIMResult{Value: authres.ResultNone})
		}
		for _, vf := range verifs {
			dr := &authres.DKIMResult{Value: authres.ResultPass, Domain: vf.Domain, Identifier: vf.Identifier}
			switch {
			case vf.Err == nil:
				dkimPass = append(dkimPass, vf.Domain)
			case dkim.IsTempFail(vf.Err):
				dr.Value, dr.Reason = authres.ResultTempError, vf.Err.Error()
			case dkim.IsPermFail(vf.Err):
				dr.Value, dr.Reason = authres.ResultPermError, vf.Err.Error()
			default:
				dr.Value, dr.Reason = authres.ResultFail, vf.Err.Error()
			}
			out.results = append(out.results, dr)
		}
	}

	// DMARC (RFC 7489 §6.6): the From domain's policy, or its
	// organizational domain's; SPF or DKIM aligned with it passes.
	if v.DMARC {
		dr := &authres.DMARCResult{}
		dr.Value, dr.Reason, out.policy, out.fromDomain = evalDMARC(hdr, lookupTXT, spfDomain, out.spf, dkimPass)
		dr.From = out.fromDomain
		out.dmarc = dr.Value
		out.results = append(out.results, dr)
	}
	return out
}

// spfReason says why an SPF check came out as it did, for the
// Authentication-Results reason.
func spfReason(r spf.Result, ip, domain string, err error) string {
	switch r {
	case spf.Pass:
		return fmt.Sprintf("%s is allowed to send for %s", ip, domain)
	case spf.Fail, spf.SoftFail:
		return fmt.Sprintf("%s is not allowed to send for %s", ip, domain)
	case spf.None:
		return fmt.Sprintf("%s publishes no SPF record", domain)
	}
	if err != nil {
		return fmt.Sprintf("%s: %v", domain, err)
	}
	return ""
}

// evalDMARC evaluates DMARC for the message whose header is hdr.
func evalDMARC(hdr map[string][]string, lookupTXT func(string) ([]string, error), spfDomain string, spfResult authres.ResultValue, dkimPass []string) (value authres.ResultValue, reason string, policy dmarc.Policy, from string) {
	froms := hdr["From"]
	if len(froms) != 1 {
		return authres.ResultPermError, fmt.Sprintf("%d From fields, want 1", len(froms)), "", ""
	}
	addrs, err := mail.ParseAddressList(froms[0])
	if err != nil || len(addrs) != 1 {
		return authres.ResultPermError, "From has no single address", "", ""
	}
	_, from, _ = strings.Cut(addrs[0].Address, "@")
	from = strings.ToLower(strings.TrimSuffix(from, "."))
	opts := &dmarc.LookupOptions{LookupTXT: lookupTXT}
	rec, err := dmarc.LookupWithOptions(from, opts)
	org := orgDomain(from)
	sub := false
	if errors.Is(err, dmarc.ErrNoPolicy) && org != from {
		rec, err = dmarc.LookupWithOptions(org, opts)
		sub = true
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		return authres.ResultNone, "no DMARC record for " + from, "", from
	case dmarc.IsTempFail(err):
		return authres.ResultTempError, err.Error(), "", from
	case err != nil:
		return authres.ResultPermError, err.Error(), "", from
	}
	policy = rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		policy = rec.SubdomainPolicy
	}
	if spfResult == authres.ResultPass && aligned(spfDomain, from, rec.SPFAlignment) {
		return authres.ResultPass, "", policy, from
	}
	for _, d := range dkimPass {
		if aligned(d, from, rec.DKIMAlignment) {
			return authres.ResultPass, "", policy, from
		}
	}
	return authres.ResultFail, fmt.Sprintf("p=%s: neither SPF nor DKIM aligned with %s", policy, from), policy, from
}

// aligned reports whether domain d is aligned with the From domain
// (RFC 7489 §3.1): the same name in strict mode, the same organizational
// domain in relaxed mode (the default).
func aligned(d, from string, mode dmarc.AlignmentMode) bool {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if d == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return d == from
	}
	return orgDomain(d) == orgDomain(from)
}

// orgDomain returns the organizational domain (RFC 7489 §3.2): the
// public suffix and one label more.
func orgDomain(d string) string {
	if o, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return o
	}
	return d
}

// authenticate runs the checks of b.Verify on the message of the session,
// if any: it returns the Authentication-Results value to record and,
// under enforcement, the refusal and its fault (nil when the message is
// accepted).
func (s *session) authenticate(b *Behavior, raw []byte, hdr map[string][]string) (ar string, refusal *Reply, fault string) {
	v := b.Verify
	if !v.on() {
		return "", nil, ""
	}
	out := s.verifyMessage(v, raw, hdr)
	ar = strings.TrimSpace(strings.ReplaceAll(authres.Format(s.h.name, out.results), " ;", ";"))
	if !v.Enforce {
		return ar, nil, ""
	}
	switch {
	case out.dmarc == authres.ResultFail && out.policy == dmarc.PolicyReject:
		r := DefaultDMARCReply
		if v.DMARCReply != nil {
			r = *v.DMARCReply
		}
		return ar, &r, FaultVerifyDMARC
	case out.spf == authres.ResultFail && out.dmarc != authres.ResultPass:
		r := DefaultSPFReply
		if v.SPFReply != nil {
			r = *v.SPFReply
		}
		return ar, &r, FaultVerifySPF
	}
	return ar, nil, ""
}
