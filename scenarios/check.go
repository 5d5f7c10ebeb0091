package scenarios

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/miekg/dns"
)

// Reply code range (RFC 5321 §4.2: the first digit is 2, 3, 4 or 5).
const (
	minCode = 200
	maxCode = 599
)

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	tagRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	identRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// RFC 3463 §2: class "." subject "." detail; subject and detail 0..999.
	statusRE = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)
	// RFC 5322 §3.2.3 atext, plus "." for a dot-atom.
	localRE = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
	// RFC 5322 §2.2: a header field name is printable US-ASCII except ":".
	headerRE = regexp.MustCompile(`^[!-9;-~]+$`)
)

// errBadDomain and friends are the causes checks report.
var (
	errBadDomain = errors.New("bad domain name")
	errBadEmail  = errors.New("bad email address")
)

// canonical returns a domain in the form scenarios keep: lowercase, no final dot.
func canonical(s string) string {
	if s == "." {
		return s
	}
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// fqdn returns name with a final dot.
func fqdn(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// inZone reports whether name equals zone or lies below it.
func inZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// checkDomain checks a domain name: RFC 1035 §2.3.4 lengths, letters,
// digits and hyphens (underscore allowed for names like _25._tcp).
func checkDomain(s string) error {
	t := strings.TrimSuffix(s, ".")
	if t == "" {
		return fmt.Errorf("%w %q: empty", errBadDomain, s)
	}
	if len(t) > 253 {
		return fmt.Errorf("%w %q: longer than 253 characters", errBadDomain, s)
	}
	for label := range strings.SplitSeq(t, ".") {
		switch {
		case label == "":
			return fmt.Errorf("%w %q: empty label", errBadDomain, s)
		case len(label) > 63:
			return fmt.Errorf("%w %q: label longer than 63 characters", errBadDomain, s)
		case strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-"):
			return fmt.Errorf("%w %q: label %q starts or ends with \"-\"", errBadDomain, s, label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("%w %q: character %q not allowed", errBadDomain, s, r)
			}
		}
	}
	return nil
}

// checkEmail checks a mailbox "local@domain" (RFC 5321 §4.1.2, dot-atom
// local part only).
func checkEmail(s string) error {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return fmt.Errorf("%w %q: no \"@\"", errBadEmail, s)
	}
	local, domain := s[:i], s[i+1:]
	switch {
	case local == "":
		return fmt.Errorf("%w %q: empty local part", errBadEmail, s)
	case len(local) > 64: // RFC 5321 §4.5.3.1.1
		return fmt.Errorf("%w %q: local part longer than 64 characters", errBadEmail, s)
	case !localRE.MatchString(local) || strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, ".."):
		return fmt.Errorf("%w %q: bad local part %q", errBadEmail, s, local)
	}
	if err := checkDomain(domain); err != nil || strings.HasSuffix(domain, ".") {
		return fmt.Errorf("%w %q: bad domain %q", errBadEmail, s, domain)
	}
	return nil
}

// checkRRType checks a DNS type name and returns it uppercase.
func checkRRType(s string) (string, error) {
	u := strings.ToUpper(s)
	if _, ok := dns.StringToType[u]; !ok {
		return "", fmt.Errorf("unknown DNS type %q (for example A, AAAA, MX, TXT, CNAME, TLSA)", s)
	}
	return u, nil
}

// checkStatus checks an RFC 3463 enhanced status code "5.1.1".
func checkStatus(s string) error {
	if !statusRE.MatchString(s) {
		return fmt.Errorf("bad enhanced status %q: want class.subject.detail with class 2, 4 or 5, like \"5.1.1\"", s)
	}
	return nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}

// checkHostPort checks "host:port".
func checkHostPort(s string) error {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("bad address %q: want host:port", s)
	}
	if _, err := parsePort(p); err != nil {
		return fmt.Errorf("bad address %q: %w", s, err)
	}
	if net.ParseIP(h) == nil {
		if err := checkDomain(h); err != nil {
			return fmt.Errorf("bad address %q: %w", s, err)
		}
	}
	return nil
}

// decodeNode reads a fault as a kind ("servfail") or a map.
func (f *Fault) decodeNode(d *decoder, n ast.Node, what string) {
	if s, ok := stringOf(n); ok {
		f.Pos = d.nullPos(n, nil)
		if d.hostFaultInDNS(f.Pos, s) {
			return
		}
		d.decode(n, reflect.ValueOf(&f.Kind).Elem(), checks{}, "kind")
		return
	}
	d.decodeStruct(n, n, reflect.ValueOf(f).Elem(), what)
}

// decodeNode reads a wait as a duration ("2s") or a map {until, timeout}.
func (w *Wait) decodeNode(d *decoder, n ast.Node, what string) {
	if _, ok := stringOf(n); ok {
		w.Pos = d.nullPos(n, nil)
		before := len(d.e.list)
		d.decode(n, reflect.ValueOf(&w.Duration).Elem(), checks{}, what)
		w.bad = len(d.e.list) > before
		return
	}
	if _, ok := n.(*ast.IntegerNode); ok {
		d.e.at(d.nullPos(n, nil), "%q must be a duration such as \"2s\" or a map {until, timeout}, got an integer", what)
		w.bad = true
		return
	}
	before := len(d.e.list)
	d.decodeStruct(n, n, reflect.ValueOf(w).Elem(), what)
	w.bad = len(d.e.list) > before
}

var (
	_ nodeDecoder = (*Fault)(nil)
	_ nodeDecoder = (*Wait)(nil)
)
