package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
)

// mixedRecipients is the behaviour of mx1.example.test in
// testdata/scenarios/mixed-recipients.yaml, as written there and as JSON.
const (
	mixedRecipientsYAML = `replies:
  mail: {match: "*@blocked.test", reply: "553 5.7.1 sender refused"}
  rcpt:
    - {match: "busy@example.test", reply: "452 4.2.2 mailbox full", times: 1}
    - {match: "gone@example.test", reply: "550 5.1.1 no such user"}
`
	mixedRecipientsJSON = `{"replies": {
  "mail": {"match": "*@blocked.test", "reply": "553 5.7.1 sender refused"},
  "rcpt": [
    {"match": "busy@example.test", "reply": "452 4.2.2 mailbox full", "times": 1},
    {"match": "gone@example.test", "reply": "550 5.1.1 no such user"}
  ]
}}`
)

func TestParseBehavior(t *testing.T) {
	sc, err := LoadFile(filepath.Join("..", "testdata", "scenarios", "mixed-recipients.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := sc.Host("mx1.example.test").Apply(fakesmtp.Behavior{})
	if err != nil {
		t.Fatal(err)
	}
	// The fragment is in the file, as it is.
	data, err := os.ReadFile(filepath.Join("..", "testdata", "scenarios", "mixed-recipients.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	indented := "    " + strings.ReplaceAll(strings.TrimSuffix(mixedRecipientsYAML, "\n"), "\n", "\n    ")
	if !strings.Contains(string(data), indented) {
		t.Fatal("mixedRecipientsYAML is no longer the host's behaviour in mixed-recipients.yaml")
	}
	for name, src := range map[string]string{"yaml": mixedRecipientsYAML, "json": mixedRecipientsJSON} {
		t.Run(name, func(t *testing.T) {
			b, err := ParseBehavior([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if b.State != "" || b.Greylist != nil || b.Replies == nil {
				t.Errorf("parts = %+v, want replies only", b)
			}
			// A host under hosts is up unless it says otherwise.
			got, err := b.Apply(fakesmtp.Behavior{State: fakesmtp.Up})
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("Apply = %+v, %v\nwant %+v (the scenario's host)", got, err, want)
			}
		})
	}

	for _, src := range []string{`{"replies":{"rcpt":"452 4.2.2 full"}}`, "replies: {rcpt: \"452 4.2.2 full\"}\n"} {
		b, err := ParseBehavior([]byte(src))
		if err != nil {
			t.Fatalf("ParseBehavior(%s): %v", src, err)
		}
		if r := b.Replies.Rcpt; len(r) != 1 || r[0].Reply != (fakesmtp.Reply{Code: 452, Enhanced: "4.2.2", Text: "full"}) {
			t.Errorf("ParseBehavior(%s) rcpt = %+v", src, r)
		}
	}

	// Defaults as in a scenario: a tls part offers STARTTLS.
	b, err := ParseBehavior([]byte(`{"tls": {"cert": "expired"}, "greylist": {"window": "30s"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if b.TLS.StartTLS != fakesmtp.TLSOffered || b.Greylist.Window != 30*time.Second {
		t.Errorf("tls %+v greylist %+v", b.TLS, b.Greylist)
	}
}

// TestFragmentErrors checks that the fragment decoders report mistakes
// with the line and column in the fragment and the name of the field, with
// the strict decoder's and fakesmtp's rules.
func TestFragmentErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parse func([]byte) error
		src   string
		want  []string // each error, as Error() renders its first line
	}{
		{"behaviour unknown key", parseBehavior, `{"greylist": {"windw": "2s"}}`,
			[]string{`1:15: unknown key "windw" in greylist (did you mean "window"?)`}},
		{"behaviour json duration", parseBehavior, `{"greylist": {"window": 30000000000}}`,
			[]string{`1:25: "window" must be a duration such as "2s" or "1m30s", got an integer`}},
		{"behaviour bad reply", parseBehavior, `{"replies": {"rcpt": "452 5.2.2 full"}}`,
			[]string{`1:22: "rcpt": bad reply "452 5.2.2 full": enhanced: class of "5.2.2" does not match code 452`}},
		{"behaviour fakesmtp rule", parseBehavior, "state: down\ngreylist:\n  reply: \"554 5.7.1 no\"\n",
			[]string{`3:10: greylist.reply.code: 554: a greylist defers, its reply is 4xx`}},
		{"behaviour enum", parseBehavior, `{"state": "dwn"}`,
			[]string{`1:11: invalid state "dwn" (valid: up, down, blackhole) (did you mean "down"?)`}},
		{"behaviour not a map", parseBehavior, `["down"]`,
			[]string{`1:1: "behaviour" must be a mapping, got a list`}},
		{"behaviour empty", parseBehavior, ``,
			[]string{`1:1: empty: want a behaviour (a mapping)`}},
		{"behaviour syntax", parseBehavior, `{"state": "down"`,
			[]string{`1:1: yaml: could not find flow mapping end token`}},
		{"behaviour two documents", parseBehavior, "state: down\n---\nstate: up\n",
			[]string{`3:1: one behaviour per document: document 2 is extra`}},
		{"zone", parseZone("example.test"), `{"mx": [{"pref": 0, "host": "."}, {"pref": 20, "host": "mx1.example.test"}], "faults": [{"name": "other.test", "kind": "servfail"}]}`,
			[]string{`1:29: null MX (host ".") must be the only MX record of example.test (RFC 7505 §3)`,
				`1:98: fault name "other.test" is not in zone example.test`}},
		{"zone name", parseZone("exa..mple.test"), `{}`, []string{`zone name: bad domain name "exa..mple.test": empty label`}},
		{"zone key", parseZone("example.test"), "mx:\n  - {pref: 10, hots: mx1.example.test}\n",
			[]string{`2:5: missing required key "host" in mx`, `2:16: unknown key "hots" in mx (did you mean "host"?)`}},
		{"fault no name", parseFault, `{"kind": "delay"}`,
			[]string{`1:1: missing required key "name" in fault`, `1:10: fault kind delay needs a delay (for example delay: 2s)`}},
		{"fault kind", parseFault, `{"name": "example.test", "kind": "servfial"}`,
			[]string{`1:34: invalid kind "servfial" (valid: servfail, nxdomain, refused, timeout, truncate, delay) (did you mean "servfail"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse([]byte(tc.src))
			var list ErrorList
			if !errors.As(err, &list) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v (%T) is not an ErrorList", err, err)
			}
			var got []string
			for _, e := range list {
				if e.File != "" {
					t.Errorf("File = %q in a fragment", e.File)
				}
				got = append(got, strings.SplitN(e.Error(), "\n", 2)[0])
			}
			if len(got) != len(tc.want) {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %d = %s\nwant     %s", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func parseBehavior(src []byte) error { _, err := ParseBehavior(src); return err }
func parseFault(src []byte) error    { _, err := ParseFault(src); return err }
func parseZone(name string) func([]byte) error {
	return func(src []byte) error { _, err := ParseZone(name, src); return err }
}

func TestParseZoneAndFault(t *testing.T) {
	z, err := ParseZone("Example.Test.", []byte(`{"mx": [{"pref": 10, "host": "MX1.example.test."}], "records": {"www.example.test": ["A 127.0.0.5"]}, "fault": "servfail"}`))
	if err != nil {
		t.Fatal(err)
	}
	if z.Name != "example.test" || z.MX[0].Host != "mx1.example.test" || z.Fault.Kind != FaultServfail {
		t.Errorf("zone = %+v", z)
	}
	want := []string{"example.test. 300 IN MX 10 mx1.example.test.", "www.example.test. 300 IN A 127.0.0.5"}
	if got := z.ZoneFile(); !reflect.DeepEqual(got, want) {
		t.Errorf("ZoneFile = %q, want %q", got, want)
	}
	// An MX target that is not a host is the caller's business.
	if _, err := ParseZone("example.test", []byte("mx: [{pref: 10, host: elsewhere.test}]")); err != nil {
		t.Errorf("ParseZone with a foreign MX target: %v", err)
	}

	f, err := ParseFault([]byte("name: Example.Test.\ntype: mx\nkind: delay\ndelay: 2s\ntimes: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "example.test" || f.Type != "MX" || f.Kind != FaultDelay || f.Delay != 2*time.Second || f.Times != 1 {
		t.Errorf("fault = %+v", f)
	}
}

// TestParseBehaviorNull pins what null means, for callers that translate
// JSON merge patches: the part is there, with its defaults.
func TestParseBehaviorNull(t *testing.T) {
	b, err := ParseBehavior([]byte(`{"greylist": null, "tls": null}`))
	if err != nil {
		t.Fatal(err)
	}
	if b.Greylist == nil || b.Greylist.Window != 0 || b.TLS == nil || b.TLS.StartTLS != fakesmtp.TLSOffered {
		t.Errorf("greylist %+v tls %+v", b.Greylist, b.TLS)
	}
}
