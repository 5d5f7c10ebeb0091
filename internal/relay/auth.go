package relay

import (
	"bufio"
	"cmp"
	"encoding/base64"
	"fmt"
	"net/textproto"
	"time"

	"github.com/emersion/go-sasl"
)

// Reply codes of the AUTH exchange (RFC 4954 §4).
const (
	codeAuthOK        = 235 // RFC 4954 §4: authentication succeeded
	codeAuthChallenge = 334 // RFC 4954 §4: a server challenge follows
)

// authenticate runs AUTH PLAIN (else LOGIN) with the smarthost
// credentials. It returns a failure of the host, or nil.
func (r *Relay) authenticate(c *client, host string, tlsOn bool) *reply {
	cred := r.cfg.SmarthostAuth
	if !tlsOn && !r.cfg.AllowInsecureAuth {
		// RFC 4954 §4 / rule 25: never send PLAIN/LOGIN credentials in the clear.
		return &reply{Code: codeLocalError, Status: statusSecurityTemp,
			Text: fmt.Sprintf("refusing to send credentials to %s without TLS (AllowInsecureAuth is off)", host)}
	}
	var mech sasl.Client
	switch {
	case c.SupportsAuth(sasl.Plain):
		mech = sasl.NewPlainClient("", cred.User, cred.Password)
	case c.SupportsAuth(sasl.Login):
		mech = sasl.NewLoginClient(cred.User, cred.Password)
	default:
		return &reply{Code: codeLocalError, Status: statusSecurityTemp,
			Text: fmt.Sprintf("%s offers neither AUTH PLAIN nor LOGIN", host)}
	}
	if err := c.auth(mech, r.cfg.Timeout); err != nil {
		rep := r.hostReply(err, host, "AUTH")
		return &rep
	}
	return nil
}

// auth runs one SASL exchange (RFC 4954 §4) on c's connection. It does
// what go-smtp's Client.Auth does, but for one rule: "*" cancels the
// exchange only in reply to a 334 challenge. Client.Auth also sends it
// after a final reply such as 535, which the server then takes for an
// unknown command. The client is idle after EHLO and the server speaks
// only when spoken to, so go-smtp's reader holds nothing; this one reads
// a byte at a time (see oneByteReader) and leaves nothing behind either.
// A refusal is returned as an *smtp.SMTPError.
func (c *client) auth(mech sasl.Client, timeout time.Duration) error {
	name, ir, err := mech.Start()
	if err != nil {
		return fmt.Errorf("AUTH: %w", err)
	}
	_ = c.nc.SetDeadline(time.Now().Add(timeout))
	defer func() { _ = c.nc.SetDeadline(time.Time{}) }()
	tp := textproto.NewReader(bufio.NewReaderSize(oneByteReader{c.nc}, 16))

	line := "AUTH " + name
	if ir != nil {
		// RFC 4954 §4: an empty initial response is sent as "=".
		line += " " + cmp.Or(base64.StdEncoding.EncodeToString(ir), "=")
	}
	for {
		if _, err := fmt.Fprintf(c.nc, "%s\r\n", line); err != nil {
			return fmt.Errorf("send AUTH %s: %w", name, err)
		}
		code, msg, err := tp.ReadResponse(0)
		if err != nil {
			return fmt.Errorf("AUTH %s: %w", name, err)
		}
		switch code {
		case codeAuthOK:
			return nil
		case codeAuthChallenge:
			challenge, err := base64.StdEncoding.DecodeString(msg)
			var resp []byte
			if err == nil {
				resp, err = mech.Next(challenge)
			}
			if err != nil {
				// RFC 4954 §4: the client cancels with "*" in reply to the
				// challenge it cannot answer; the server replies 501.
				return c.cancelAuth(tp, name, err)
			}
			line = base64.StdEncoding.EncodeToString(resp)
		default:
			// A final reply (535 5.7.8, 454 4.7.0, 534 5.7.9…): the
			// exchange is over, there is nothing to cancel.
			return smtpErrorOf(&textproto.Error{Code: code, Msg: msg})
		}
	}
}

// cancelAuth sends "*" in reply to a challenge and returns the server's
// reply to it, with why the exchange was cancelled.
func (c *client) cancelAuth(tp *textproto.Reader, name string, why error) error {
	if _, err := fmt.Fprintf(c.nc, "*\r\n"); err != nil {
		return fmt.Errorf("cancel AUTH %s: %w", name, err)
	}
	code, msg, err := tp.ReadResponse(0)
	if err != nil {
		return fmt.Errorf("cancel AUTH %s: %w", name, err)
	}
	se := smtpErrorOf(&textproto.Error{Code: code, Msg: msg})
	se.Message += fmt.Sprintf(" (the relay cancelled AUTH %s: %v)", name, why)
	return se
}
