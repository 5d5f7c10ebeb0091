package scenarios

import (
	"regexp"
	"strings"
)

// RelayDKIM makes the relay under test sign the mail it relays with DKIM
// (RFC 6376): a message whose From domain is Domain or a subdomain of it
// gets a DKIM-Signature with d=Domain and s=Selector. The harness
// publishes the public key as the TXT record SELECTOR._domainkey.DOMAIN,
// in the zone that holds that name (a zone of its own for Domain when
// none does), so that receivers verify it against the fake DNS.
type RelayDKIM struct {
	Pos      Pos    `yaml:"-"`
	Domain   string `yaml:"domain" mx:"required,domain"` // d=, the signing domain
	Selector string `yaml:"selector" mx:"required"`      // s=, one or more DNS labels
	// KeyFile is a PEM private key (RSA or ed25519; PKCS #1 or PKCS #8),
	// relative to the scenario file's directory. Empty: the harness
	// makes a new key for each run, of KeyType.
	KeyFile string `yaml:"key_file"`
	// KeyType is the kind of key the harness makes: rsa (2048 bits,
	// rsa-sha256, the default) or ed25519 (ed25519-sha256, RFC 8463).
	KeyType DKIMKeyType `yaml:"key_type"`
}

// DKIMKeyType is the kind of DKIM key the harness makes.
type DKIMKeyType string

// DKIM key types.
const (
	DKIMKeyRSA     DKIMKeyType = "rsa"     // RSA 2048 bits, rsa-sha256
	DKIMKeyEd25519 DKIMKeyType = "ed25519" // ed25519-sha256 (RFC 8463)
)

func (DKIMKeyType) Values() []string { return []string{"rsa", "ed25519"} }

// selectorRE is a DKIM selector (RFC 6376 §3.1): dot-separated labels of
// letters, digits and inner hyphens.
var selectorRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// relayDKIM checks the relay's dkim: option.
func (v *validator) relayDKIM(r *Relay, kind RelayKind) {
	d := r.DKIM
	if d == nil {
		return
	}
	switch kind {
	case RelayReference, RelayPostfix:
	case RelayExternal:
		if d.KeyFile == "" {
			v.at(&r.DKIM, r.Pos, "dkim for relay kind external needs key_file: the key the relay signs with, which the harness publishes")
		}
	default:
		v.at(&r.DKIM, r.Pos, "dkim is a setting of relay kinds reference and postfix (external with key_file), not %s", kind)
	}
	if d.Selector != "" && !selectorRE.MatchString(d.Selector) && (v.fresh(&d.Selector) || !v.s.PosOf(&d.Selector).IsValid()) {
		v.at(&d.Selector, d.Pos, "dkim selector %q: want DNS labels of letters, digits and inner hyphens, such as \"sel\" or \"2026.mail\"", d.Selector)
	}
	if d.KeyFile != "" && d.KeyType != "" {
		v.at(&d.KeyType, d.Pos, "dkim key_type %s: the key in key_file has its own type (key_type is for a key the harness makes)", d.KeyType)
	}
	if d.Domain != "" && d.Selector != "" && len(d.Selector)+len("._domainkey.")+len(d.Domain) > 253 {
		v.at(&d.Selector, d.Pos, "dkim: %s._domainkey.%s is longer than a domain name may be (253)", d.Selector, strings.TrimSuffix(d.Domain, "."))
	}
}
