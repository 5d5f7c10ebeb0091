package harness

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/scenarios"
)

// How a conformance case adapts to the profile (docs/conformance.md, "How
// a case adapts to the profile"). A case is written for one relay
// configuration; a relay under another one may be unable to do what the
// case asks for reasons the case is not about: a relay that must encrypt
// cannot deliver to a host without STARTTLS, a relay that logs in to its
// smarthost cannot deliver to one that offers no AUTH. adaptCase is the one
// place where the case's network is changed for the profile, for every
// kind of relay (reference, external, postfix); what it cannot adapt
// without changing what the case checks makes the case not applicable.
//
// The rules:
//
//  1. A case is about TLS when its rule is one of the TLS rules (19–24) or
//     its applies names TLS policies. When the profile's TLS policy is
//     mandatory (encrypt, verify) and the case is not about TLS, every
//     host without a tls section offers STARTTLS with a valid certificate
//     (issued by the environment's CA, which the relay trusts), and so
//     does the host that takes the bounces of each sender domain without
//     a zone. A host that sets up TLS itself keeps it; if it offers no
//     TLS, or under verify serves a certificate that is not valid, or a
//     step changes its TLS or refuses STARTTLS, the case is not
//     applicable: giving that host TLS would change what the case checks.
//  2. When the profile gives smarthost credentials and the case goes
//     through a smarthost, the smarthost host offers AUTH (after STARTTLS,
//     with a valid certificate when it has no tls section of its own),
//     requires it and takes exactly those credentials. A host with an
//     auth section of its own keeps it; if it does not take the profile's
//     credentials, or offers no TLS, the case is not applicable. (A case
//     about AUTH whose own credentials differ from the profile's is
//     already not applicable by Profile.Applies.)
//  3. Under TLS policy none, a case in which the relay must authenticate
//     to its smarthost (applies auth, or smarthost credentials in the
//     profile) is not applicable: credentials are never sent without
//     TLS. A case whose applies names policy none is about exactly that
//     and runs.

// tlsRules are the numbers of the TLS rules of docs/conformance.md (19–24).
func tlsRule(n int) bool { return n >= 19 && n <= 24 }

// aboutTLS reports whether a case checks TLS behaviour (rule 1 above).
func aboutTLS(sc *scenarios.Scenario) bool {
	c := sc.Conformance
	if c == nil {
		return false
	}
	return tlsRule(c.Rule) || (c.Applies != nil && len(c.Applies.TLS) > 0)
}

// validTLS is what an adapted host offers: STARTTLS with a valid
// certificate.
func validTLS() *fakesmtp.TLS {
	return &fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered, Cert: fakesmtp.CertValid}
}

// senderMX is the name of the host that ConfigFor adds for a sender
// domain without a zone, to take its bounces.
func senderMX(domain string) string { return "mx." + domain }

// adaptCase returns sc as it runs against a relay with profile p, and a
// note that says what was changed ("" when nothing was, and then sc
// itself). ok false means the case cannot run under p; why says so.
// reference is ConformanceOptions.Reference.
func (p Profile) adaptCase(sc *scenarios.Scenario, reference bool) (out *scenarios.Scenario, note string, ok bool, why string) {
	var a scenarios.Applies
	if sc.Conformance != nil && sc.Conformance.Applies != nil {
		a = *sc.Conformance.Applies
	}
	smart := smarthostHost(sc)
	creds := p.SmarthostUser != "" && smart != ""

	// Rule 3.
	if p.TLS == scenarios.TLSNone && (a.Auth || creds) && !slices.Contains(a.TLS, scenarios.TLSNone) {
		return sc, "", false, "the relay must authenticate to its smarthost, and credentials are never sent without TLS: not under TLS policy none"
	}

	mandatory := p.TLS == scenarios.TLSEncrypt || p.TLS == scenarios.TLSVerify
	adaptTLS := mandatory && !aboutTLS(sc)
	if !adaptTLS && !creds {
		return sc, "", true, ""
	}

	cp := *sc
	cp.Hosts = make([]*scenarios.Host, len(sc.Hosts))
	var gaveTLS []string
	var notes []string
	for i, h := range sc.Hosts {
		hc := *h
		cp.Hosts[i] = &hc
		if !adaptTLS && !(creds && h.Name == smart) {
			continue
		}
		if why := ownTLSProblem(sc, h, p.TLS); why != "" {
			if adaptTLS {
				return sc, "", false, fmt.Sprintf("host %s %s, which a relay under mandatory TLS cannot deliver to; giving it TLS would change what the case checks", h.Name, why)
			}
			return sc, "", false, fmt.Sprintf("smarthost %s %s, so the relay cannot send it its credentials", h.Name, why)
		}
		if h.TLS == nil {
			hc.TLS = validTLS()
			gaveTLS = append(gaveTLS, h.Name)
		}
	}
	if adaptTLS {
		// The hosts that ConfigFor adds to take bounces.
		for _, d := range senderDomains(sc) {
			if sc.ZoneOf(d) != nil || sc.Host(d) != nil {
				continue
			}
			mx := senderMX(d)
			cp.DNS = append(slices.Clip(cp.DNS), &scenarios.Zone{Name: d, MX: []*scenarios.MX{{Pref: 10, Host: mx}}})
			cp.Hosts = append(cp.Hosts, &scenarios.Host{Name: mx, Behavior: scenarios.Behavior{TLS: validTLS()}})
			gaveTLS = append(gaveTLS, mx)
		}
	}
	if len(gaveTLS) > 0 {
		why := "for the profile's mandatory TLS"
		if !adaptTLS {
			why = "to take the profile's smarthost credentials"
		}
		notes = append(notes, fmt.Sprintf("hosts given STARTTLS with a valid certificate %s: %s", why, strings.Join(gaveTLS, ", ")))
	}

	if creds {
		h := cp.Host(smart)
		switch {
		case h == nil:
			// The smarthost is not simulated: nothing to adapt.
		case h.Auth == nil:
			h.Auth = &fakesmtp.Auth{Mechanisms: fakesmtp.DefaultMechanisms(), Users: map[string]string{p.SmarthostUser: p.SmarthostPassword}, Required: true}
			notes = append(notes, fmt.Sprintf("smarthost %s given AUTH for the profile's credentials (user %s)", smart, p.SmarthostUser))
		case h.Auth.Users[p.SmarthostUser] != p.SmarthostPassword || p.SmarthostPassword == "":
			return sc, "", false, fmt.Sprintf("smarthost %s takes other credentials than the profile's (user %s)", smart, p.SmarthostUser)
		}
	}
	if len(notes) == 0 {
		return sc, "", true, ""
	}
	return &cp, "network adapted to the profile: " + strings.Join(notes, "; "), true, ""
}

// ownTLSProblem says why host h, as the case sets up its TLS itself,
// cannot take mail from a relay that must encrypt under policy tls (or
// must send its credentials under TLS), or "" when it can or has no TLS
// set up of its own.
func ownTLSProblem(sc *scenarios.Scenario, h *scenarios.Host, tls scenarios.TLSPolicy) string {
	if h.Replies != nil && len(h.Replies.StartTLS) > 0 {
		return "refuses STARTTLS"
	}
	for _, s := range sc.Steps {
		if s.Set == nil || canonical(s.Set.Host) != h.Name {
			continue
		}
		if s.Set.TLS != nil || slices.Contains(s.Set.Clear, "tls") || (s.Set.Replies != nil && len(s.Set.Replies.StartTLS) > 0) {
			return "has its TLS changed by a step"
		}
	}
	t := h.TLS
	switch {
	case t == nil:
		return ""
	case !t.Implicit && t.StartTLS != fakesmtp.TLSOffered && t.StartTLS != fakesmtp.TLSRequired:
		return "offers no STARTTLS"
	case tls == scenarios.TLSVerify && t.Cert != "" && t.Cert != fakesmtp.CertValid:
		return fmt.Sprintf("serves a %s certificate", t.Cert)
	}
	return ""
}

// smarthostHost is the host name of the case's smarthost, or "".
func smarthostHost(sc *scenarios.Scenario) string {
	if sc.Relay.Smarthost == "" {
		return ""
	}
	sh, err := scenarios.ParseSmarthost(sc.Relay.Smarthost)
	if err != nil {
		return ""
	}
	return canonical(sh.Host)
}
