package fakesmtp

import "strconv"

// Reply codes this package writes (mox smtp/codes.go style).
const (
	codeReady         = 220 // RFC 5321 §4.2.2 service ready
	codeClosing       = 221
	codeAuthOK        = 235
	codeOK            = 250
	codeCannotVerify  = 252
	codeAuthContinue  = 334
	codeStartData     = 354
	codeNotAvailable  = 421 // RFC 5321 §3.8: service not available, closing channel
	codeLocalError    = 451
	codeTooManyRcpts  = 452
	codeTLSNotAvail   = 454
	codeSyntax        = 500
	codeParamSyntax   = 501
	codeNotImpl       = 502
	codeBadSequence   = 503
	codeParamNotImpl  = 504
	codeAuthRequired  = 530 // RFC 4954 §6
	codeAuthBad       = 535 // RFC 4954 §6
	codeEncryptNeeded = 538 // RFC 4954 §6
	codeRelayDenied   = 550
	codeTooBig        = 552
	codeParamUnknown  = 555 // RFC 5321 §4.1.1.11: MAIL/RCPT parameter not recognised
)

// Replies of the protocol and the behaviours; the enhanced codes follow
// RFC 3463 (and RFC 5248's registry), the AUTH ones RFC 4954 §6.
var (
	replyTooManyConns   = Reply{Code: codeNotAvailable, Enhanced: "4.7.0", Text: "too many connections"}
	replyGreylisted     = Reply{Code: codeLocalError, Enhanced: "4.7.1", Text: "greylisted, try again later"}
	replyRelayDenied    = Reply{Code: codeRelayDenied, Enhanced: "5.7.1", Text: "relaying denied"}
	replyStartTLSFirst  = Reply{Code: codeAuthRequired, Enhanced: "5.7.0", Text: "Must issue a STARTTLS command first"}
	replyAuthRequired   = Reply{Code: codeAuthRequired, Enhanced: "5.7.0", Text: "Authentication required"}
	replyEncryptNeeded  = Reply{Code: codeEncryptNeeded, Enhanced: "5.7.11", Text: "Encryption required for requested authentication mechanism"}
	replyAuthBad        = Reply{Code: codeAuthBad, Enhanced: "5.7.8", Text: "Authentication credentials invalid"}
	replyEHLOAfterTLS   = Reply{Code: codeBadSequence, Enhanced: "5.5.1", Text: "EHLO required after STARTTLS"}
	replyTLSUnavailable = Reply{Code: codeTLSNotAvail, Enhanced: "4.7.0", Text: "TLS not available"}
	replyTooBig         = Reply{Code: codeTooBig, Enhanced: "5.3.4", Text: "Message size exceeds fixed limit"}
	replyTooManyRcpts   = Reply{Code: codeTooManyRcpts, Enhanced: "4.5.3", Text: "Too many recipients"}
)

// Reply lines of the common path, written as they are so that a
// session that goes well formats nothing.
const (
	lineMailOK    = "250 2.1.0 Ok"
	lineRcptOK    = "250 2.1.5 Ok"
	lineOK        = "250 2.0.0 Ok"
	lineQueued    = "250 2.0.0 Ok: queued"
	lineStartData = "354 End data with <CR><LF>.<CR><LF>"
	lineBye       = "221 2.0.0 Bye"
	lineAuthOK    = "235 2.7.0 Authentication successful"
	lineVRFY      = "252 2.0.0 Cannot VRFY user, but will accept message"
	lineTLSReady  = "220 2.0.0 Ready to start TLS"
	lineSizeNone  = "250 SIZE"                                 // RFC 1870 §4: no fixed maximum
	lineNoBDAT    = "502 5.5.1 Error: command not implemented" // BDAT at a host without CHUNKING, as Postfix answers it
)

// lineSizeDefault is the EHLO SIZE line of DefaultMaxSize, made once.
var lineSizeDefault = lineSizeNone + " " + strconv.Itoa(DefaultMaxSize)
