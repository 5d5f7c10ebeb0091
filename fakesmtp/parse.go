package fakesmtp

import (
	"bytes"
	"strings"
)

// commandText returns line as a string, without copying the commands
// that are always the same.
func commandText(line []byte) string {
	switch string(line) { // compared in place: no allocation
	case "DATA":
		return "DATA"
	case "QUIT":
		return "QUIT"
	case "RSET":
		return "RSET"
	case "NOOP":
		return "NOOP"
	}
	return string(line)
}

// trimCRLF removes the line ending (CRLF, or a bare LF).
func trimCRLF(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// verbs are the commands known, so that splitCommand returns a constant
// string for them instead of an upper-cased copy.
var verbs = []string{"EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "QUIT",
	"STARTTLS", "AUTH", "EXPN", "HELP", "TURN", "SEND", "SOML", "SAML", "ETRN"}

// splitCommand returns the verb of a command line, upper-cased, and its
// argument with surrounding blanks removed (RFC 5321 §4.1.1: verbs are
// case-insensitive).
func splitCommand(text string) (verb, arg string) {
	v, a, _ := strings.Cut(text, " ")
	for _, k := range verbs {
		if strings.EqualFold(v, k) {
			return k, strings.TrimSpace(a)
		}
	}
	return strings.ToUpper(v), strings.TrimSpace(a)
}

// parsePath reads "FROM:<path> params" or "TO:<path> params" (RFC 5321
// §4.1.2): the address without angle brackets or source route, and the
// parameters. The null path "<>" is allowed only for MAIL; RCPT also takes
// a bare "<postmaster>" (§4.5.1). Addresses without brackets are taken,
// as most servers do.
func parsePath(arg, prefix string, nullOK bool) (addr string, params []string, ok bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if rest == "" {
		return "", nil, false // §4.1.2: a path, or "<>", is required
	}
	if strings.HasPrefix(rest, "<") {
		end := closingBracket(rest)
		if end < 0 {
			return "", nil, false
		}
		addr, rest = rest[1:end], rest[end+1:]
		if rest != "" && rest[0] != ' ' {
			return "", nil, false
		}
	} else {
		addr, rest, _ = strings.Cut(rest, " ")
	}
	if strings.HasPrefix(addr, "@") {
		// A source route (§4.1.2 A-d-l) is ignored (§C).
		_, a, found := strings.Cut(addr, ":")
		if !found {
			return "", nil, false
		}
		addr = a
	}
	params = strings.Fields(rest)
	switch {
	case addr == "":
		return "", params, nullOK
	case strings.EqualFold(addr, "postmaster") && !nullOK:
		return addr, params, true
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || strings.ContainsAny(addr, " \t<>") && !strings.HasPrefix(addr, "\"") {
		return "", nil, false
	}
	return addr, params, true
}

// closingBracket returns the index of the '>' that ends the path starting
// at s[0] == '<', skipping quoted local parts; -1 if there is none.
func closingBracket(s string) int {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case '>':
			if !quoted {
				return i
			}
		}
	}
	return -1
}
