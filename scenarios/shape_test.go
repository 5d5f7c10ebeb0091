package scenarios

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/mxsim/mxsim/fakesmtp"
)

// everyPart is a behaviour with every part set, and every shape of a rule:
// the round trip below must cover each key of Behavior, and
// TestEveryPartCovered keeps it so when a part is added.
func everyPart() fakesmtp.Behavior {
	rule := func(s string) fakesmtp.Rule {
		r, err := fakesmtp.ParseReply(s)
		if err != nil {
			panic(err)
		}
		return fakesmtp.Rule{Reply: r}
	}
	busy := rule("452 4.2.2 mailbox full")
	busy.Match, busy.Reply.Times = "busy@*", 2
	once := rule("451 4.3.0 once")
	once.Reply.Times = 1
	return fakesmtp.Behavior{
		State: fakesmtp.Up,
		Replies: fakesmtp.Replies{
			Greeting:  []fakesmtp.Rule{rule("421 4.3.2 busy")},
			EHLO:      []fakesmtp.Rule{once},
			StartTLS:  []fakesmtp.Rule{rule("454 4.7.0 no tls now")},
			Auth:      []fakesmtp.Rule{rule("535 5.7.8 bad credentials")},
			Mail:      []fakesmtp.Rule{{Match: "*@blocked.test", Reply: rule("553 5.7.1 refused").Reply}},
			Rcpt:      []fakesmtp.Rule{busy, rule("550 5.1.1 no such user")},
			Data:      []fakesmtp.Rule{rule("451")},
			EndOfData: []fakesmtp.Rule{rule("250 2.0.0 queued as X")},
		},
		Delays: fakesmtp.Delays{Greeting: time.Second, EHLO: 2 * time.Millisecond, StartTLS: 3 * time.Millisecond, Auth: 4 * time.Millisecond,
			Mail: 5 * time.Millisecond, Rcpt: 1500 * time.Millisecond, Data: time.Minute, EndOfData: 90 * time.Second},
		HangupAfter:      3,
		DisconnectInData: 1024,
		Greylist:         &fakesmtp.Greylist{Window: 30 * time.Second, Reply: &fakesmtp.Reply{Code: 450, Enhanced: "4.7.1", Text: "later"}},
		Relay:            &fakesmtp.RelayPolicy{Accept: []string{"example.test", ".shop.example"}, Reject: &fakesmtp.Reply{Code: 554, Text: "no relay"}},
		Auth:             &fakesmtp.Auth{Mechanisms: []string{"PLAIN", "CRAM-MD5"}, Users: map[string]string{"relay": "secret", "b": "c"}, Required: true, AllowInsecure: true},
		TLS:              fakesmtp.TLS{StartTLS: fakesmtp.TLSRequired, Cert: fakesmtp.CertExpired},
		Limits:           fakesmtp.Limits{MaxSize: 1 << 20, MaxRecipients: 5, MaxConns: 2},
		Extensions:       fakesmtp.Extensions{NoChunking: true},
		Verify:           &fakesmtp.Verify{SPF: true, DMARC: true, Enforce: true, DMARCReply: &fakesmtp.Reply{Code: 550, Enhanced: "5.7.1", Text: "dmarc"}},
	}
}

// behaviors returns the behaviour of every host of every scenario in
// testdata/scenarios, and what each of its set steps makes of it, plus
// everyPart: named for messages.
func behaviors(t *testing.T) map[string]fakesmtp.Behavior {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	out := map[string]fakesmtp.Behavior{"everyPart": everyPart()}
	for _, file := range files {
		sc, err := LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range sc.Hosts {
			b, err := h.Behavior.Apply(fakesmtp.Behavior{})
			if err != nil {
				t.Fatalf("%s: host %s: %v", file, h.Name, err)
			}
			out[filepath.Base(file)+" "+h.Name] = b
			for _, st := range sc.Steps {
				if s := st.Set; s != nil && s.Host == h.Name {
					if b, err = s.Apply(b); err != nil {
						t.Fatalf("%s:%s: %v", file, st.Pos, err)
					}
					out[filepath.Base(file)+" "+h.Name+" after "+st.Pos.String()] = b
				}
			}
		}
	}
	return out
}

// TestBehaviorRoundTrip: BehaviorOf, written as JSON or YAML and read back
// by ParseBehavior, applies to the behaviour it was made of.
func TestBehaviorRoundTrip(t *testing.T) {
	for name, want := range behaviors(t) {
		for _, format := range []struct {
			name    string
			marshal func(any) ([]byte, error)
		}{{"json", json.Marshal}, {"yaml", yaml.Marshal}} {
			t.Run(name+" "+format.name, func(t *testing.T) {
				data, err := format.marshal(BehaviorOf(want))
				if err != nil {
					t.Fatal(err)
				}
				b, err := ParseBehavior(data)
				if err != nil {
					t.Fatalf("ParseBehavior(%s): %v", data, err)
				}
				got, err := b.Apply(fakesmtp.Behavior{})
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("%s\nApply = %+v, %v\nwant    %+v", data, got, err, want)
				}
			})
		}
	}
}

// TestEveryPartCovered fails when Behavior gains a part that everyPart
// leaves out, and so the round trip would not test.
func TestEveryPartCovered(t *testing.T) {
	data, err := json.Marshal(BehaviorOf(everyPart()))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range BehaviorKeys() {
		if _, ok := got[k]; !ok {
			t.Errorf("everyPart has no %s: add it", k)
		}
	}
	replies, _ := got["replies"].(map[string]any)
	for _, k := range slices.DeleteFunc(keysOf(reflect.TypeFor[fakesmtp.Replies]()), func(k string) bool { return k == "greeting" }) {
		if _, ok := replies[k]; !ok {
			t.Errorf("everyPart has no replies.%s: add it", k)
		}
	}
}

// TestBehaviorShape pins the shape written: the scenario's, not
// fakesmtp's JSON form.
func TestBehaviorShape(t *testing.T) {
	b := fakesmtp.Behavior{
		Replies: fakesmtp.Replies{
			Greeting: []fakesmtp.Rule{{Reply: fakesmtp.Reply{Code: 421, Enhanced: "4.3.2", Text: "busy"}}},
			Rcpt: []fakesmtp.Rule{
				{Match: "busy@*", Reply: fakesmtp.Reply{Code: 452, Enhanced: "4.2.2", Text: "full", Times: 1}},
				{Reply: fakesmtp.Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}},
			},
		},
		Delays:   fakesmtp.Delays{Rcpt: 2 * time.Second},
		Greylist: &fakesmtp.Greylist{},
		TLS:      fakesmtp.TLS{Cert: fakesmtp.CertExpired},
	}
	const want = `{"greeting":["421 4.3.2 busy"],` +
		`"replies":{"rcpt":[{"reply":"452 4.2.2 full","match":"busy@*","times":1},"550 5.1.1 no such user"]},` +
		`"delays":{"rcpt":"2s"},"greylist":{},"tls":{"starttls":"none","cert":"expired"}}`
	data, err := json.Marshal(BehaviorOf(b))
	if err != nil || string(data) != want {
		t.Errorf("json = %s, %v\nwant   %s", data, err, want)
	}
	const wantYAML = `greeting:
- 421 4.3.2 busy
replies:
  rcpt:
  - reply: 452 4.2.2 full
    match: busy@*
    times: 1
  - 550 5.1.1 no such user
delays:
  rcpt: 2s
greylist: {}
tls:
  starttls: none
  cert: expired
`
	data, err = yaml.Marshal(BehaviorOf(b))
	if err != nil || string(data) != wantYAML {
		t.Errorf("yaml = %s, %v\nwant:\n%s", data, err, wantYAML)
	}
	if data, _ := json.Marshal(BehaviorOf(fakesmtp.Behavior{})); string(data) != "{}" {
		t.Errorf("zero behaviour = %s, want {}", data)
	}

	// UnmarshalJSON is ParseBehavior.
	var got struct{ B *Behavior }
	if err := json.Unmarshal([]byte(`{"B": {"replies": {"rcpt": "452 4.2.2 full"}}}`), &got); err != nil || got.B.Replies.Rcpt[0].Reply.Code != 452 {
		t.Errorf("UnmarshalJSON: %+v, %v", got.B, err)
	}
	if err := json.Unmarshal([]byte(`{"B": {"greylist": {"windw": "2s"}}}`), &got); err == nil || !strings.Contains(err.Error(), `unknown key "windw"`) {
		t.Errorf("UnmarshalJSON of a bad behaviour: %v", err)
	}
}

// TestZoneRoundTrip: every zone of testdata/scenarios, as records (what
// fakedns holds) and back with ZoneFromRecords, written as JSON and read
// by ParseZone, has the same records and faults.
func TestZoneRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "scenarios", "*.yaml"))
	n := 0
	for _, file := range files {
		sc, err := LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range sc.DNS {
			n++
			records := map[string][]string{}
			for _, line := range z.ZoneFile() {
				owner, rest, _ := strings.Cut(line, " ")
				records[owner] = append(records[owner], rest)
			}
			back, err := ZoneFromRecords(z.Name+".", records)
			if err != nil {
				t.Fatalf("%s: zone %s: %v", file, z.Name, err)
			}
			back.Secure, back.Fault, back.Faults = z.Secure, z.Fault, z.Faults
			data, err := json.Marshal(back)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := ParseZone(z.Name, data)
			if err != nil {
				t.Fatalf("%s: ParseZone(%s): %v", file, data, err)
			}
			if got, want := sorted(parsed.ZoneFile()), sorted(z.ZoneFile()); !slices.Equal(got, want) {
				t.Errorf("%s: zone %s: %s\nrecords %q\nwant    %q", file, z.Name, data, got, want)
			}
			if parsed.Secure != z.Secure || !sameFaults(parsed.Fault, z.Fault) || len(parsed.Faults) != len(z.Faults) {
				t.Errorf("%s: zone %s: %s: secure or faults differ", file, z.Name, data)
			}
			for i := range z.Faults {
				if !sameFaults(parsed.Faults[i], z.Faults[i]) {
					t.Errorf("%s: zone %s: fault %d: %+v, want %+v", file, z.Name, i, parsed.Faults[i], z.Faults[i])
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d zones in testdata/scenarios", n)
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func sameFaults(a, b *Fault) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.Pos, y.Pos = Pos{}, Pos{}
	return x == y
}

func TestZoneFromRecords(t *testing.T) {
	z, err := ZoneFromRecords("Example.Test", map[string][]string{
		"example.test.":     {"MX 10 mx1.example.test.", "60 A 127.0.0.1", `TXT "v=spf1 \"quoted\" -all"`, "NS ns1.example.test.", "SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 60", "AAAA ::1"},
		"@":                 {"TLSA 3 1 1 ABCDEF"},
		"www.example.test.": {"CNAME example.test."},
	})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(z)
	const want = `{"mx":[{"pref":10,"host":"mx1.example.test"}],"a":["127.0.0.1"],"aaaa":["::1"],"txt":["v=spf1 \"quoted\" -all"],` +
		`"ns":["ns1.example.test"],"tlsa":["3 1 1 ABCDEF"],` +
		`"records":{"example.test":["SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 60"],"www.example.test":["CNAME example.test."]}}`
	if string(data) != want {
		t.Errorf("zone = %s\nwant   %s", data, want)
	}
	if _, err := ParseZone("example.test", data); err != nil {
		t.Errorf("ParseZone: %v", err)
	}
	for _, bad := range []map[string][]string{{"other.test.": {"A 127.0.0.1"}}, {"@": {"MX ten x."}}} {
		if _, err := ZoneFromRecords("example.test", bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ZoneFromRecords(%v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestFaultShape(t *testing.T) {
	for _, src := range []string{`{"name":"example.test","type":"MX","kind":"servfail","times":1}`, `{"name":"mx1.example.test","kind":"delay","delay":"1.5s"}`} {
		f, err := ParseFault([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if data, err := json.Marshal(f); err != nil || string(data) != src {
			t.Errorf("fault %s written as %s, %v", src, data, err)
		}
	}
	f, err := ParseZoneFault([]byte(`servfail`))
	if err != nil || f.Kind != FaultServfail || f.Name != "" {
		t.Errorf("ParseZoneFault(servfail) = %+v, %v", f, err)
	}
	if data, _ := json.Marshal(f); string(data) != `{"kind":"servfail"}` {
		t.Errorf("zone fault written as %s", data)
	}
	f, err = ParseZoneFault([]byte(`{"type": "mx", "kind": "timeout", "times": 2}`))
	if err != nil || f.Type != "MX" || f.Times != 2 {
		t.Errorf("ParseZoneFault(map) = %+v, %v", f, err)
	}
}

func TestParseHostSet(t *testing.T) {
	s, err := ParseHostSet([]byte(`{"host": "MX1.example.test", "clear": ["greylist"], "replies": {"rcpt": "452 4.2.2 full"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Host != "mx1.example.test" || !slices.Equal(s.Clear, []string{"greylist"}) || len(s.Replies.Rcpt) != 1 {
		t.Errorf("set = %+v", s)
	}
	base := fakesmtp.Behavior{Greylist: &fakesmtp.Greylist{}, Delays: fakesmtp.Delays{Rcpt: time.Second}}
	got, err := s.Apply(base)
	if err != nil || got.Greylist != nil || got.Delays.Rcpt != time.Second || got.Replies.Rcpt[0].Reply.Code != 452 {
		t.Errorf("Apply = %+v, %v", got, err)
	}
	// The defaults of a part, as in a scenario.
	s, err = ParseHostSet([]byte("tls: {}\n"))
	if err != nil || s.TLS.StartTLS != fakesmtp.TLSOffered {
		t.Errorf("tls: {} = %+v, %v", s, err)
	}

	for _, tc := range []struct{ src, want string }{
		{`{"greylist": null}`, `1:2: "greylist" is null: write clear: [greylist]`},
		{"state: down\nrelay:\n", `2:1: "relay" is null`},
		{`{}`, `1:1: set changes nothing`},
		{`{"host": "mx1.example.test"}`, `1:1: set changes nothing`},
		{`{"clear": ["greylst"]}`, `1:12: "clear": invalid behaviour key "greylst"`},
		{`{"dns": {}}`, `1:2: unknown key "dns" in set step`},
		{`{"greylist": {"reply": "554 5.7.1 no"}}`, `1:24: greylist.reply.code: 554: a greylist defers`},
	} {
		_, err := ParseHostSet([]byte(tc.src))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("ParseHostSet(%s) = %v\nwant %s…", tc.src, err, tc.want)
		}
	}
}
