package harness

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mxsim/mxsim/scenarios"
)

// Whether a scenario fits a relay profile. A conformance case says what
// it needs in conformance.applies (Profile.Applies); a plain scenario
// has only its relay section, which configures the reference relay and
// Postfix but cannot configure a relay its operator set up once (an
// external MTA). Profile.Compatible says whether such a relay, as the
// profile describes it, is the relay the scenario's relay section asks
// for. The checks of each setting are shared by both.

// Compatible reports whether sc can run as written against a relay that
// its operator configured once (an external relay), described by p, and
// why not: each setting sc's relay section gives (route, smarthost, TLS
// policy, smarthost credentials, hostname, submission credentials, retry
// interval, submission services, main.cf) must be one the profile says
// the relay has. A setting the section leaves out asks for nothing, but
// for the TLS policy, whose default is may (needTLSPolicy).
// submit are the credentials the relay takes for submission
// (-submit-user, -submit-password); nil when it is given none.
func (p Profile) Compatible(sc *scenarios.Scenario, submit *scenarios.Credentials) (ok bool, reason string) {
	r := sc.Relay
	route := scenarios.RouteDirect
	if r.Smarthost != "" {
		route = scenarios.RouteSmarthost
	}
	for _, why := range []string{
		p.needRoute(route, false),
		p.needSmarthost(route, r.Smarthost, false),
		p.needTLSPolicy(r.TLS),
		p.needSmarthostAuth(r.SmarthostAuth, false),
		p.needHostname(canonical(r.Hostname), false),
		needSubmitAuth(r.SubmitAuth, submit),
		p.needRetryInterval(r.RetryInterval, needsRetryInterval(sc), false),
		p.needServices(sc, false),
		needMainCF(r.MainCF),
		needDKIM(r.DKIM, false),
	} {
		if why != "" {
			return false, why
		}
	}
	return true, ""
}

// notJudged returns notes on the settings of sc's relay section that a
// relay configured by its operator keeps as they are, since a profile
// cannot describe them: the scenario runs, with its own.
func notJudged(sc *scenarios.Scenario) []string {
	var notes []string
	if n := sc.Relay.MaxMXHosts; n != 0 {
		notes = append(notes, fmt.Sprintf("relay max_mx_hosts %d not applied: the relay tries as many MX hosts as its operator configured", n))
	}
	if d := sc.Relay.MaxLifetime; d != 0 {
		notes = append(notes, fmt.Sprintf("relay max_lifetime %s not applied: the relay keeps mail queued as long as its operator configured", d))
	}
	return notes
}

// profileRoute is the route of the relay p describes: as said, else the
// one its smarthost implies. For the reference relay, "" when not said.
func (p Profile) profileRoute(reference bool) scenarios.Route {
	if p.Route != "" || reference {
		return p.Route
	}
	if p.Smarthost != "" {
		return scenarios.RouteSmarthost
	}
	return scenarios.RouteDirect
}

// needRoute: the relay must send mail on by route.
func (p Profile) needRoute(route scenarios.Route, reference bool) string {
	if pr := p.profileRoute(reference); pr != "" && pr != route {
		return fmt.Sprintf("needs route %s; the relay is configured for %s", route, describeRoute(pr))
	}
	return ""
}

// needSmarthost: on route smarthost, the relay's smarthost must be the
// host of smarthost (when given).
func (p Profile) needSmarthost(route scenarios.Route, smarthost string, reference bool) string {
	if route != scenarios.RouteSmarthost {
		return ""
	}
	if p.Smarthost != "" && smarthost != "" {
		want, _ := scenarios.ParseSmarthost(smarthost)
		got, _ := scenarios.ParseSmarthost(p.Smarthost)
		if want.Host != got.Host {
			return fmt.Sprintf("needs smarthost %s; the relay uses %s", want.Host, got.Host)
		}
	} else if !reference && p.Smarthost == "" {
		return "needs a smarthost; the profile does not name it (--smarthost)"
	}
	return ""
}

// needTLS: the relay's TLS policy must be one of want (none: any).
func (p Profile) needTLS(want []scenarios.TLSPolicy, reference bool) string {
	if len(want) == 0 {
		return ""
	}
	if p.TLS == "" && !reference {
		return fmt.Sprintf("needs TLS policy %s; the profile does not say the relay's (--tls)", orList(want))
	}
	if p.TLS != "" && !contains(want, p.TLS) {
		return fmt.Sprintf("needs TLS policy %s; the relay is configured for %s", orList(want), p.TLS)
	}
	return ""
}

// needTLSPolicy: the relay's TLS policy must be want. A scenario that
// does not say its policy has the default, may; so has a relay whose
// profile does not say its own, as most MTAs are opportunistic.
func (p Profile) needTLSPolicy(want scenarios.TLSPolicy) string {
	want = cmp.Or(want, scenarios.TLSMay)
	switch {
	case p.TLS == "" && want != scenarios.TLSMay:
		return fmt.Sprintf("needs TLS policy %s; the profile does not say the relay's, taken as may (--tls)", want)
	case p.TLS != "" && p.TLS != want:
		return fmt.Sprintf("needs TLS policy %s; the relay is configured for %s", want, p.TLS)
	}
	return ""
}

// needSmarthostAuth: the relay must log in to its smarthost with want
// (nil: any).
func (p Profile) needSmarthostAuth(want *scenarios.Credentials, reference bool) string {
	switch {
	case want == nil:
	case p.SmarthostUser == "" && !reference:
		return fmt.Sprintf("needs smarthost credentials %s; the profile gives none (--smarthost-user)", want.User)
	case p.SmarthostUser != "" && (p.SmarthostUser != want.User || p.SmarthostPassword != want.Password):
		return fmt.Sprintf("needs smarthost credentials of user %s; the relay logs in as %s", want.User, p.SmarthostUser)
	}
	return ""
}

// needHostname: the relay's own name must be want, canonical ("": any).
func (p Profile) needHostname(want string, reference bool) string {
	switch {
	case want == "":
	case p.Hostname == "" && !reference:
		return fmt.Sprintf("needs the relay's hostname to be %s; the profile does not say it (--hostname)", want)
	case p.Hostname != "" && canonical(p.Hostname) != want:
		return fmt.Sprintf("needs the relay's hostname to be %s; it is %s", want, p.Hostname)
	}
	return ""
}

// needRetryInterval: the relay's retry interval must be want (0: any);
// a scenario judged by it (judged: a retry_gap without at_least) needs
// the profile to say it.
func (p Profile) needRetryInterval(want time.Duration, judged, reference bool) string {
	switch {
	case reference:
	case want != 0 && p.RetryInterval == 0:
		return fmt.Sprintf("needs the relay's retry interval to be %s; the profile does not say it (--retry-interval)", want)
	case want != 0 && p.RetryInterval != want:
		return fmt.Sprintf("needs the relay's retry interval to be %s; it is %s", want, p.RetryInterval)
	case want == 0 && p.RetryInterval == 0 && judged:
		return "needs the relay's retry interval; the profile does not say it (--retry-interval)"
	}
	return ""
}

// needServices: a send to one of the relay's own submission services
// needs the profile to name it.
func (p Profile) needServices(sc *scenarios.Scenario, reference bool) string {
	if reference {
		return ""
	}
	for _, s := range []struct {
		via  scenarios.Via
		addr string
		what string
	}{{scenarios.ViaSubmission, p.Submission, "587-style: STARTTLS, AUTH"}, {scenarios.ViaSubmissions, p.Submissions, "465-style: TLS from connect"}} {
		if s.addr == "" && sendsVia(sc, s.via) {
			return fmt.Sprintf("needs the relay's %s service (%s); the profile does not name it (--%s)", s.via, s.what, s.via)
		}
	}
	return ""
}

// needSubmitAuth: the relay must take submissions with want (nil: any);
// have are the credentials it is given.
func needSubmitAuth(want, have *scenarios.Credentials) string {
	switch {
	case want == nil:
	case have == nil || have.User == "":
		return fmt.Sprintf("needs the relay to take submissions with AUTH as %s; it is given no submission credentials (--submit-user)", want.User)
	case have.User != want.User || have.Password != want.Password:
		return fmt.Sprintf("needs the relay to take submissions with AUTH as %s; it is given those of %s (--submit-user)", want.User, have.User)
	}
	return ""
}

// needMainCF: main.cf parameters configure a Postfix the harness starts;
// a relay configured by its operator has its own.
func needMainCF(mainCF map[string]string) string {
	if len(mainCF) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(mainCF))
	return fmt.Sprintf("needs main.cf parameters %s, which only a Postfix started by mxsim (--relay postfix) is given", strings.Join(keys, ", "))
}
