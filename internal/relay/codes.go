package relay

import (
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
)

// Reply codes the relay uses, named the way RFC 5321 §4.2.2–4.2.3 and
// mox's smtp/codes.go name them. Remote replies are passed on as they
// came; these are for the relay's own verdicts (journal Code, DSN status).
const (
	codeOK                 = 250 // RFC 5321 §4.2.2: requested mail action okay, completed
	codeServiceNotAvail    = 421 // RFC 5321 §4.2.3: service not available, closing channel
	codeLocalError         = 451 // RFC 5321 §4.2.3: aborted, local error in processing
	codeAuthRequired       = 530 // RFC 4954 §6: authentication required
	codeEncryptionRequired = 538 // RFC 4954 §6: encryption required for the AUTH mechanism
	codeMailboxNotFound    = 550 // RFC 5321 §4.2.3: mailbox unavailable / not found
	codeRelayDenied        = 550 // RFC 5321 §3.6.2: relaying denied (with 5.7.1)
	codeBadSyntax          = 501 // RFC 5321 §4.2.3: syntax error in parameters or arguments
	codeTransactionFail    = 554 // RFC 5321 §4.2.3: transaction failed
	codeNullMXNoMail       = 556 // RFC 7505 §4.2: domain does not accept mail
	codeStartTLSReady      = 220 // RFC 3207 §4: ready to start TLS
)

// status is an RFC 3463 enhanced status code ("5.1.2").
type status string

// Enhanced status codes of the relay's own verdicts (RFC 3463, RFC 7505).
const (
	statusBadDestSystem  status = "5.1.2"  // RFC 3463 §3.2: bad destination system address (NXDOMAIN)
	statusNullMX         status = "5.1.10" // RFC 7505 §4.2: recipient address has null MX
	statusNoAnswer       status = "4.4.1"  // RFC 3463 §3.5: no answer from host
	statusBadConnection  status = "4.4.2"  // RFC 3463 §3.5: bad connection
	statusShuttingDown   status = "4.3.2"  // RFC 3463 §3.4: system not accepting network messages
	statusDNSTemp        status = "4.4.3"  // RFC 3463 §3.5: directory server failure (DNS temporary)
	statusUnableToRoute  status = "5.4.4"  // RFC 3463 §3.5: unable to route
	statusRoutingLoop    status = "5.4.6"  // RFC 3463 §3.5: routing loop detected
	statusExpired        status = "5.4.7"  // RFC 3463 §3.5: delivery time expired
	statusTLSUnavailable status = "4.7.5"  // RFC 3463 / RFC 7672: cryptographic failure
	statusSecurityTemp   status = "4.7.0"  // RFC 3463 §3.8: other or undefined security status
)

// reply is one verdict on a recipient or a host: an SMTP code, an enhanced
// status code and a human-readable text (the remote reply when there was one).
type reply struct {
	Code   int
	Status status
	Text   string
	Host   string // remote host that gave the reply ("mx1.example.test"), "" for local verdicts
}

// permanent reports whether r is a 5yz verdict (RFC 5321 §4.2.1).
func (r reply) permanent() bool { return r.Code >= 500 && r.Code < 600 }

// String renders r the way a DSN's Diagnostic-Code and the journal show it.
func (r reply) String() string {
	s := fmt.Sprintf("%d %s %s", r.Code, r.Status, r.Text)
	if r.Host != "" {
		s += " (from " + r.Host + ")"
	}
	return s
}

// replyFromSMTP turns a go-smtp error reply into a reply, keeping the
// remote's enhanced code or deriving class.0.0 when it sent none.
func replyFromSMTP(e *smtp.SMTPError, host string) reply {
	st := status(fmt.Sprintf("%d.%d.%d", e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2]))
	if e.EnhancedCode == smtp.NoEnhancedCode || e.EnhancedCode == smtp.EnhancedCodeNotSet {
		st = status(fmt.Sprintf("%d.0.0", e.Code/100))
	}
	return reply{Code: e.Code, Status: st, Text: strings.ReplaceAll(e.Message, "\n", " "), Host: host}
}
