package relay

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mxsim/mxsim/journal"
)

// DKIM makes the relay sign the messages it accepts (RFC 6376), as
// OpenDKIM does as a milter in front of Postfix: a message whose From
// header's domain is Domain or a subdomain of it (OpenDKIM's Domain
// setting) gets a DKIM-Signature with d=Domain and s=Selector, made with
// Key; any other message leaves unsigned. The key's public half must be
// published at SELECTOR._domainkey.DOMAIN for receivers to verify it.
type DKIM struct {
	Domain   string        // d=: the signing domain, lowercase, no final dot
	Selector string        // s=: the selector
	Key      crypto.Signer // an RSA key (rsa-sha256; 1024 bits or more) or an ed25519 key (ed25519-sha256)
}

// dkimHeaders are the header fields signed when the message has them
// (RFC 6376 §5.4.1's recommendation); From always is.
var dkimHeaders = []string{"From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date", "Resent-From",
	"Resent-To", "Resent-Cc", "In-Reply-To", "References", "List-Id", "List-Unsubscribe", "Message-ID",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding"}

// check reports what is wrong with d.
func (d *DKIM) check() error {
	switch {
	case d.Domain == "" || strings.HasSuffix(d.Domain, ".") || d.Domain != strings.ToLower(d.Domain):
		return fmt.Errorf("domain %q: want a domain, lowercase, without the final dot", d.Domain)
	case d.Selector == "" || strings.ContainsAny(d.Selector, " \t;=") || strings.HasPrefix(d.Selector, ".") || strings.HasSuffix(d.Selector, "."):
		return fmt.Errorf("selector %q: want one or more DNS labels", d.Selector)
	case d.Key == nil:
		return errors.New("no key")
	}
	switch k := d.Key.Public().(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 1024 {
			return fmt.Errorf("RSA key of %d bits: want 1024 or more (RFC 8301 §3.2)", k.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("key of type %T: want RSA or ed25519", k)
	}
	return nil
}

// signs reports whether a message from the domain of the From header is
// signed: the signing domain or one of its subdomains.
func (d *DKIM) signs(fromDomain string) bool {
	fromDomain = strings.ToLower(strings.TrimSuffix(fromDomain, "."))
	return fromDomain == d.Domain || strings.HasSuffix(fromDomain, "."+d.Domain)
}

// fromDomain returns the domain of the message's From header, "" when it
// has none or more than one address.
func fromDomain(data []byte) string {
	from := parseHeader(data).Get("From")
	if from == "" {
		return ""
	}
	list, err := mail.ParseAddressList(from)
	if err != nil || len(list) != 1 {
		return ""
	}
	_, dom, ok := strings.Cut(list[0].Address, "@")
	if !ok {
		return ""
	}
	return dom
}

// sign returns data with a DKIM-Signature at the top when the relay signs
// it (Config.DKIM; DKIM.signs), and journals what it did as relay.log. A
// message that cannot be signed goes unsigned, said so in the journal.
// With Bugs.BreakDKIMBody a footer line is added to the body after
// signing, as a disclaimer appended by a later filter would be: the
// body hash no longer matches.
func (r *Relay) sign(id string, data []byte) []byte {
	d := r.cfg.DKIM
	if d == nil {
		return data
	}
	dom := fromDomain(data)
	if !d.signs(dom) {
		r.j.Append(journal.Event{Kind: journal.KindRelayLog, Source: source,
			Text: fmt.Sprintf("id=%s dkim: not signed: From domain %q is not %s or below it", id, dom, d.Domain)})
		return data
	}
	hdr := parseHeader(data)
	keys := []string{"From"}
	for _, k := range dkimHeaders[1:] {
		if hdr.Get(k) != "" {
			keys = append(keys, k)
		}
	}
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(data), &dkim.SignOptions{
		Domain: d.Domain, Selector: d.Selector, Signer: d.Key, Hash: crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: keys,
	})
	if err != nil {
		r.j.Append(journal.Event{Kind: journal.KindRelayLog, Source: source,
			Text: fmt.Sprintf("id=%s dkim: not signed: %v", id, err)})
		return data
	}
	r.j.Append(journal.Event{Kind: journal.KindRelayLog, Source: source,
		Text: fmt.Sprintf("id=%s dkim: DKIM-Signature field added (s=%s, d=%s)", id, d.Selector, d.Domain)})
	signed := out.Bytes()
	if r.cfg.Bugs.BreakDKIMBody {
		if !bytes.HasSuffix(signed, []byte("\r\n")) {
			signed = append(signed, "\r\n"...)
		}
		signed = append(signed, "-- \r\nSent through the relay (footer added after signing)\r\n"...)
	}
	return signed
}
