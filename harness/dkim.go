package harness

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/scenarios"
)

// DKIMSigning asks the relay under test to sign with DKIM (RFC 6376)
// the mail whose From domain is Domain or a subdomain of it (OpenDKIM's
// Domain setting), with d=Domain and s=Selector. New publishes the public
// key as the TXT record SELECTOR._domainkey.DOMAIN in the zone that holds
// that name (the longest apex that is a suffix of it), or in a new zone
// named Domain when no zone does. Scenarios write it as the relay's dkim:
// (scenarios.RelayDKIM).
type DKIMSigning struct {
	Domain   string // lowercase, without the final dot
	Selector string
	// KeyType is the kind of key New makes when Key is nil: rsa (2048
	// bits; the default) or ed25519.
	KeyType scenarios.DKIMKeyType
	// Key is the private key: an *rsa.PrivateKey or an
	// ed25519.PrivateKey. Nil: New makes one for the run; the relay
	// receives it in Network.Relay.DKIM.Key.
	Key crypto.Signer
}

// dkimRSABits is the size of the RSA keys New makes (RFC 8301 §3.2: at
// least 1024 bits, 2048 recommended).
const dkimRSABits = 2048

// problems says what is wrong with d's values ("" when nothing is).
func (d *DKIMSigning) problems() string {
	var bad []string
	if d.Domain == "" || !validDomain(canonical(d.Domain)) {
		bad = append(bad, fmt.Sprintf("bad domain %q", d.Domain))
	} else if d.Domain != canonical(d.Domain) {
		bad = append(bad, fmt.Sprintf("domain %q: write it lowercase, without the final dot", d.Domain))
	}
	if d.Selector == "" {
		bad = append(bad, "no selector")
	} else if !validDomain(canonical(d.Selector)) {
		bad = append(bad, fmt.Sprintf("bad selector %q", d.Selector))
	}
	if d.KeyType != "" && !slices.Contains(d.KeyType.Values(), string(d.KeyType)) {
		bad = append(bad, fmt.Sprintf("invalid key type %q (valid: %s)", d.KeyType, strings.Join(d.KeyType.Values(), ", ")))
	}
	if d.Key != nil {
		if _, err := DKIMRecord(d.Key); err != nil {
			bad = append(bad, err.Error())
		}
	}
	return strings.Join(bad, ", ")
}

// Owner returns the name of the key record, "SELECTOR._domainkey.DOMAIN".
func (d *DKIMSigning) Owner() string {
	return canonical(d.Selector) + "._domainkey." + canonical(d.Domain)
}

// withKey returns a copy of d with its Key, made now when d has none.
func (d *DKIMSigning) withKey() (*DKIMSigning, error) {
	c := *d
	if c.Key != nil {
		return &c, nil
	}
	var err error
	switch c.KeyType {
	case scenarios.DKIMKeyEd25519:
		_, c.Key, err = ed25519.GenerateKey(rand.Reader)
	default:
		c.Key, err = rsa.GenerateKey(rand.Reader, dkimRSABits)
	}
	if err != nil {
		return nil, fmt.Errorf("harness: dkim: make a key: %w", err)
	}
	return &c, nil
}

// DKIMRecord returns the text of the DKIM key record of key's public half
// ("v=DKIM1; k=rsa; p=…", RFC 6376 §3.6.1), as published at
// SELECTOR._domainkey.DOMAIN.
func DKIMRecord(key crypto.Signer) (string, error) {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 1024 {
			return "", fmt.Errorf("RSA key of %d bits: want 1024 or more (RFC 8301 §3.2)", pub.N.BitLen())
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		// RFC 8463 §4.2: p= is the raw 32-byte public key.
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	default:
		return "", fmt.Errorf("key of type %T: want RSA or ed25519", pub)
	}
}

// txtData writes a TXT value in zone-file form, in strings of at most
// 255 bytes (RFC 1035 §3.3.14): a 2048-bit key's record is longer.
func txtData(s string) string {
	var parts []string
	for len(s) > 255 {
		parts, s = append(parts, `"`+s[:255]+`"`), s[255:]
	}
	return "TXT " + strings.Join(append(parts, `"`+s+`"`), " ")
}

// LoadDKIMKey reads a PEM private key for DKIM signing: RSA (PKCS #1 or
// PKCS #8) or ed25519 (PKCS #8), as opendkim-genkey and openssl write
// them.
func LoadDKIMKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseDKIMKey(data)
}

// ErrDKIMKey means a DKIM key file holds no key that can sign.
var ErrDKIMKey = errors.New("no DKIM private key")

// ParseDKIMKey parses a PEM private key for DKIM signing (LoadDKIMKey).
func ParseDKIMKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("%w: want a PEM block \"PRIVATE KEY\" or \"RSA PRIVATE KEY\"", ErrDKIMKey)
		}
		var key any
		var err error
		switch b.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrDKIMKey, b.Type, err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%w: key of type %T", ErrDKIMKey, key)
		}
		if _, err := DKIMRecord(s); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDKIMKey, err)
		}
		return s, nil
	}
}

// dkimOf is the harness form of a scenario relay's dkim:, its key file
// (relative to dir) read.
func dkimOf(d *scenarios.RelayDKIM, dir string) (*DKIMSigning, error) {
	if d == nil {
		return nil, nil
	}
	s := &DKIMSigning{Domain: canonical(d.Domain), Selector: d.Selector, KeyType: d.KeyType}
	if d.KeyFile != "" {
		path := d.KeyFile
		if !filepath.IsAbs(path) && dir != "" {
			path = filepath.Join(dir, path)
		}
		key, err := LoadDKIMKey(path)
		if err != nil {
			return nil, fmt.Errorf("dkim key_file %q: %w", d.KeyFile, unwrapPathError(err))
		}
		s.Key = key
	}
	return s, nil
}

// unwrapPathError drops the path an *os.PathError repeats.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// withDKIM returns zones with the key record of the relay's DKIM signing
// (DKIMSigning), and the signing with its key (made now when it has
// none). The zones are New's own copies (withHostRecords).
func withDKIM(zones []fakedns.Zone, d *DKIMSigning) ([]fakedns.Zone, *DKIMSigning, error) {
	if d == nil {
		return zones, nil, nil
	}
	d, err := d.withKey()
	if err != nil {
		return nil, nil, err
	}
	rec, err := DKIMRecord(d.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("harness: dkim: %w", err)
	}
	owner := d.Owner()
	zones, best := zoneHolding(zones, owner, canonical(d.Domain))
	z := zones[best]
	for o := range z.Records {
		if canonical(qualify(canonical(z.Name), o)) == owner {
			return nil, nil, fmt.Errorf("harness: %w: dkim: zone %s gives %s records already: leave them out, the harness publishes the key there", ErrConfig, z.Name, owner)
		}
	}
	z.Records[owner+"."] = []string{txtData(rec)}
	return zones, d, nil
}

// needDKIM: a relay configured once by its operator (not reference)
// signs only with the key it was given, the scenario's key_file; a key
// made for the run it cannot know.
func needDKIM(d *scenarios.RelayDKIM, reference bool) string {
	if d != nil && d.KeyFile == "" && !reference {
		return "needs relay dkim with a key made for the run; an external relay signs only with a key its operator configured (dkim key_file)"
	}
	return ""
}
