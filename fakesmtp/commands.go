package fakesmtp

import (
	"strconv"
	"strings"

	"github.com/mxsim/mxsim/journal"
)

// serve runs the SMTP dialogue after the greeting, one command line at a
// time, until the client quits or either side closes.
func (s *session) serve() {
	for {
		line, tooLong, err := s.readLine()
		if err != nil {
			return
		}
		if tooLong {
			if !s.counted("(line longer than "+strconv.Itoa(maxLine)+" octets)") ||
				!s.protocolError(codeSyntax, "500 5.5.2 Line too long") {
				return
			}
			continue
		}
		if !s.command(line) {
			return
		}
	}
}

// command records one command line and answers it. It reports whether the
// session goes on.
func (s *session) command(line []byte) bool {
	text := commandText(trimCRLF(line))
	verb, arg := splitCommand(text)
	b := s.behavior()
	if s.evented && !inline(b, verb) {
		s.yield = true
		return true
	}
	if !s.counted(maskAuth(verb, text)) {
		return false
	}
	return s.dispatch(b, verb, arg)
}

// dispatch answers one command, already recorded, under b. It reports
// whether the session goes on.
func (s *session) dispatch(b *Behavior, verb, arg string) bool {
	switch verb {
	case "EHLO", "HELO":
		return s.hello(b, verb == "EHLO", arg)
	case "MAIL":
		return s.mail(b, arg)
	case "RCPT":
		return s.rcpt(b, arg)
	case "DATA":
		return s.data(b, arg)
	case "BDAT":
		return s.chunk(b, arg)
	case "RSET":
		s.reset()
		s.reply(codeOK, lineOK, "")
	case "NOOP":
		s.reply(codeOK, lineOK, "")
	case "VRFY":
		if arg == "" { // RFC 5321 §4.1.1.6: vrfy = "VRFY" SP String
			return s.protocolError(codeParamSyntax, "501 5.5.4 Syntax: VRFY address")
		}
		s.reply(codeCannotVerify, lineVRFY, "")
	case "QUIT":
		s.reply(codeClosing, lineBye, "")
		if s.flush() == nil {
			s.closeNotify()
		}
		s.hangup("client quit", "")
		return false
	case "STARTTLS":
		return s.startTLS(b)
	case "AUTH":
		return s.auth(b, arg)
	case "EXPN", "HELP", "TURN", "SEND", "SOML", "SAML", "ETRN":
		s.reply(codeNotImpl, "502 5.5.1 "+verb+" command not implemented", "")
	case "":
		return s.protocolError(codeSyntax, "500 5.5.2 Error: bad syntax")
	default:
		return s.protocolError(codeSyntax, "500 5.5.2 Error: command not recognized")
	}
	return true
}

// inline reports whether the event loop may run a command under b: its
// handler never waits (no delay, no TLS handshake, no SASL exchange, no
// BDAT chunk to read, no DisconnectInData count to keep while reading).
// A step that may wait panics on the loop (session.mayWait), so a case
// missing here fails the first test that reaches it.
func inline(b *Behavior, verb string) bool {
	switch verb {
	case "STARTTLS", "AUTH", "BDAT":
		return false
	case "DATA":
		if b.DisconnectInData > 0 {
			return false
		}
	}
	return b.Delays.none()
}

// counted records a command line (text as journaled) and counts it
// against Behavior.HangupAfter: the command after the last one allowed is
// not answered, the host hangs up. It reports whether the session goes on.
// Lines of a SASL exchange are not commands and are not counted.
func (s *session) counted(text string) bool {
	s.cmds++
	s.append(s.event(journal.KindSMTPCommand, text))
	if n := s.h.beh.Load().HangupAfter; n > 0 && s.cmds > n {
		s.hangup("hangup after "+strconv.Itoa(n)+" commands", FaultHangup)
		return false
	}
	return true
}

// reset ends the mail transaction (RSET, EHLO, after the message).
func (s *session) reset() {
	s.inTx, s.from, s.rcpts = false, "", s.rcpts[:0]
	s.bdat = false
	s.releaseBody()
}

// hello answers HELO and EHLO (RFC 5321 §4.1.1.1): it resets the
// transaction and, for EHLO, lists the extensions (RFC 5321 §2.2.2).
func (s *session) hello(b *Behavior, ehlo bool, arg string) bool {
	if !s.delay(b.Delays.EHLO) {
		return false
	}
	if r := s.h.pick("ehlo", b.Replies.EHLO, ""); r != nil {
		return s.forced(*r, FaultEHLO)
	}
	domain, _, _ := strings.Cut(arg, " ")
	if domain == "" {
		s.reply(codeParamSyntax, "501 5.5.4 Syntax: EHLO hostname", "")
		return true
	}
	s.reset()
	s.helo, s.needEHLO = domain, false
	if !ehlo {
		s.reply(codeOK, s.h.heloLine, "")
		return true
	}
	s.reply(codeOK, s.h.ehloLine, "")
	if !s.tls && b.offersStartTLS() {
		s.reply(codeOK, "250-STARTTLS", "")
	}
	s.reply(codeOK, "250-PIPELINING", "")
	s.reply(codeOK, "250-8BITMIME", "")
	s.reply(codeOK, "250-ENHANCEDSTATUSCODES", "")
	if !b.Extensions.NoChunking {
		s.reply(codeOK, "250-CHUNKING", "")
	}
	if mechs := s.authMechanisms(b); len(mechs) > 0 {
		s.reply(codeOK, "250-AUTH "+strings.Join(mechs, " "), "")
	}
	// RFC 1870 §4: SIZE with the largest message taken; without a number
	// it says there is no fixed limit. The common lines are made once.
	switch s.maxSize {
	case DefaultMaxSize:
		s.reply(codeOK, lineSizeDefault, "")
	case 0:
		s.reply(codeOK, lineSizeNone, "")
	default:
		s.reply(codeOK, lineSizeNone+" "+strconv.FormatInt(s.maxSize, 10), "")
	}
	return true
}

// greeted checks that the client said EHLO (again, after STARTTLS) before
// a command that needs it, answering 503 if not.
func (s *session) greeted() bool {
	switch {
	case s.needEHLO:
		s.fail(replyEHLOAfterTLS, FaultTLS)
		return false
	case s.helo == "":
		s.reply(codeBadSequence, "503 5.5.1 Error: send HELO/EHLO first", "")
		return false
	}
	return true
}

// mail answers MAIL FROM (RFC 5321 §4.1.1.2). After the syntax, in order:
// TLS required, AUTH required, the forced MAIL reply, the client's
// message rate (Limits.MessagesPerClient).
func (s *session) mail(b *Behavior, arg string) bool {
	if !s.greeted() {
		return true
	}
	if s.inTx || s.bdat {
		s.reply(codeBadSequence, "503 5.5.1 Error: nested MAIL command", "")
		return true
	}
	from, params, ok := parsePath(arg, "FROM:", true)
	if !ok {
		return s.protocolError(codeParamSyntax, "501 5.5.4 Syntax: MAIL FROM:<address>")
	}
	for _, p := range params {
		key, value, _ := strings.Cut(p, "=")
		switch strings.ToUpper(key) {
		case "SIZE":
			// RFC 1870 §6.2: a declared size above the limit is refused at once.
			n, err := strconv.ParseUint(value, 10, 63)
			if err != nil {
				s.reply(codeParamSyntax, "501 5.5.4 Bad SIZE parameter", "")
				return true
			}
			if s.maxSize > 0 && int64(n) > s.maxSize {
				s.fail(replyTooBig, FaultMaxSize)
				return true
			}
		case "BODY":
			if v := strings.ToUpper(value); v != "7BIT" && v != "8BITMIME" {
				s.reply(codeParamSyntax, "501 5.5.4 Bad BODY parameter", "")
				return true
			}
		case "AUTH":
			// RFC 4954 §5: the submitter's identity; taken and ignored.
		default:
			s.reply(codeParamUnknown, "555 5.5.4 Unsupported option: "+key, "")
			return true
		}
	}
	if !s.delay(b.Delays.Mail) {
		return false
	}
	switch {
	case b.TLS.StartTLS == TLSRequired && !s.tls:
		// RFC 3207 §4: a server may require TLS before accepting mail.
		s.fail(replyStartTLSFirst, FaultTLS)
		return true
	case b.Auth != nil && b.Auth.Required && !s.authed:
		// RFC 4954 §6: 530 5.7.0 Authentication required.
		s.fail(replyAuthRequired, FaultAuth)
		return true
	}
	if r := s.h.pick("mail", b.Replies.Mail, strings.ToLower(from)); r != nil {
		return s.forced(*r, FaultMail)
	}
	if l := b.Limits.MessagesPerClient; l != nil && !s.h.rateTake(rateClient, s.ip, l) {
		// Last, since it counts the MAIL it lets through. Gmail's 421
		// 4.7.28: "unusual rate of mail originating from your IP
		// address"; a 421 closes (forced).
		return s.forced(l.reply(DefaultClientRateReply), FaultClientRate)
	}
	s.inTx, s.from, s.rcpts = true, from, s.rcpts[:0]
	s.reply(codeOK, lineMailOK, "")
	return true
}

// rcpt answers RCPT TO (RFC 5321 §4.1.1.3). After the syntax and the
// recipient limit, in order: forced RCPT replies, the relay policy,
// greylisting, the recipient's message rate (Limits.MessagesPerRecipient).
func (s *session) rcpt(b *Behavior, arg string) bool {
	if !s.greeted() {
		return true
	}
	if !s.inTx || s.bdat {
		s.reply(codeBadSequence, "503 5.5.1 Error: need MAIL command", "")
		return true
	}
	to, params, ok := parsePath(arg, "TO:", false)
	if !ok {
		return s.protocolError(codeParamSyntax, "501 5.5.4 Syntax: RCPT TO:<address>")
	}
	if len(params) > 0 {
		key, _, _ := strings.Cut(params[0], "=")
		s.reply(codeParamUnknown, "555 5.5.4 Unsupported option: "+key, "")
		return true
	}
	if s.maxRcpts > 0 && len(s.rcpts) >= s.maxRcpts {
		s.fail(replyTooManyRcpts, FaultMaxRecipients)
		return true
	}
	if !s.delay(b.Delays.Rcpt) {
		return false
	}
	lower := strings.ToLower(to)
	if r := s.h.pick("rcpt", b.Replies.Rcpt, lower); r != nil {
		return s.forced(*r, FaultRcpt)
	}
	if p := b.Relay; p != nil {
		_, domain, _ := strings.Cut(lower, "@")
		if !p.accepts(domain) {
			r := replyRelayDenied
			if p.Reject != nil {
				r = *p.Reject
			}
			return s.forced(r, FaultRelay)
		}
	}
	if g := b.Greylist; g != nil && s.h.greylisted(s.ip, s.from, to, g) {
		// RFC 6647: a temporary failure for an unknown triplet.
		r := replyGreylisted
		if g.Reply != nil {
			r = *g.Reply
		}
		return s.forced(r, FaultGreylist)
	}
	if l := b.Limits.MessagesPerRecipient; l != nil && !s.h.rateTake(rateRecipient, lower, l) {
		// Last, since it counts the RCPT it lets through. Gmail's 450
		// 4.2.1: "The user you are trying to contact is receiving mail
		// at a rate that prevents additional messages".
		return s.forced(l.reply(DefaultRecipientRateReply), FaultRecipientRate)
	}
	s.rcpts = append(s.rcpts, to)
	s.reply(codeOK, lineRcptOK, "")
	return true
}
