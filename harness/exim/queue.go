package exim

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"

	"github.com/mxsim/mxsim/harness"
)

// queueScript lists the queue (exim -bp), then the submission header of
// each message as its spool header file has it
// ("ID-H:NNNF X-Mxsim-Submission: VALUE").
const queueScript = `exim -bp && echo '` + headerMarker + `' && cd ` + spoolDir + `/input && ` +
	`{ grep -H -i '^[0-9][0-9][0-9]. ` + harness.SubmissionHeader + `:' -- *-H 2>/dev/null || true; }`

const headerMarker = "--- mxsim: submission headers"

var (
	// " 0m   320 1rAbCd-0001Ef-Gh <alice@origin.test> *** frozen ***"
	queueMsgRE = regexp.MustCompile(`^\s*\d+[smhdw]\s+\S+\s+([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2})\s+<([^>]*)>`)
	// "1rAbCd-0001Ef-Gh-H:038  X-Mxsim-Submission: s-3"
	queueHdrRE = regexp.MustCompile(`^([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2})-H:\d{3}.\s*[^:]+:\s*(.*)$`)
)

// parseQueue reads the output of queueScript: a message line, then one
// line per recipient, "D" before those already delivered, a blank line
// between messages; then the submission headers.
func parseQueue(out string) ([]harness.QueuedRecipient, error) {
	var list []harness.QueuedRecipient
	sub := map[string]string{}
	cur := struct{ id, from string }{}
	inHeaders := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimSpace(line)
		switch {
		case t == headerMarker:
			inHeaders = true
		case inHeaders:
			if m := queueHdrRE.FindStringSubmatch(t); m != nil {
				sub[m[1]] = strings.TrimSpace(m[2])
			}
		case t == "":
			cur.id = ""
		case queueMsgRE.MatchString(line):
			m := queueMsgRE.FindStringSubmatch(line)
			cur.id, cur.from = m[1], m[2]
		case cur.id == "":
			return nil, fmt.Errorf("exim: exim -bp: %q: not a message or a recipient", line)
		case strings.HasPrefix(t, "D "):
			// delivered already
		default:
			to, _, _ := strings.Cut(t, " ")
			list = append(list, harness.QueuedRecipient{ID: cur.id, From: cur.from, To: to})
		}
	}
	for i := range list {
		list[i].Submission = sub[list[i].ID]
	}
	return list, nil
}
