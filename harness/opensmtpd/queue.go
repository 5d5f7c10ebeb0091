package opensmtpd

import (
	"fmt"
	"strings"

	"github.com/mxsim/mxsim/harness"
)

// parseQueue reads the output of `smtpctl show queue`, one envelope (one
// recipient) a line, fields separated by "|":
//
//	evpid|family|type|flags|sender|rcpt|dest|ctime|expire|lasttry|retry|state|next|error
//
// An envelope in state inflight is in a delivery attempt.
func parseQueue(out string) ([]harness.QueuedRecipient, error) {
	var list []harness.QueuedRecipient
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) < 13 || len(f[0]) != 16 {
			return nil, fmt.Errorf("opensmtpd: smtpctl show queue: %q: not an envelope line", line)
		}
		from := f[4]
		if from == "@" {
			from = "" // a bounce: the null sender
		}
		list = append(list, harness.QueuedRecipient{ID: f[0], From: from, To: f[5], InFlight: f[11] == "inflight"})
	}
	return list, nil
}
