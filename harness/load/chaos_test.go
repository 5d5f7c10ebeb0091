package load

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestBuiltinSameSeedSameSchedule(t *testing.T) {
	hosts := []string{"mx1.load.test", "mx2.load.test", "mx3.load.test", "mx4.load.test", "mx5.load.test"}
	doms := []string{"d1.load.test", "d2.load.test", "d3.load.test", "d4.load.test"}
	for _, name := range []string{"flaky", "storm"} {
		a, err := Builtin(name, 7, time.Minute, hosts, doms)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Builtin(name, 7, time.Minute, hosts, doms)
		c, _ := Builtin(name, 8, time.Minute, hosts, doms)
		if a.String() != b.String() {
			t.Errorf("%s: seed 7 twice gives two schedules:\n%s\n%s", name, a, b)
		}
		if a.String() == c.String() {
			t.Errorf("%s: seeds 7 and 8 give the same schedule:\n%s", name, a)
		}
		if len(a.Events) < 5 {
			t.Errorf("%s: %d events", name, len(a.Events))
		}
		for i, e := range a.Events {
			if why := e.check(); len(why) > 0 {
				t.Errorf("%s: event %d %+v: %v", name, i, e, why)
			}
			if e.End() > time.Minute {
				t.Errorf("%s: event %d ends after the run: %+v", name, i, e)
			}
		}
	}
	if s, err := Builtin("none", 1, time.Minute, hosts, doms); err != nil || len(s.Events) != 0 {
		t.Errorf("none: %v, %v", s, err)
	}
	if _, err := Builtin("hurricane", 1, time.Minute, hosts, doms); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `"hurricane"`) {
		t.Errorf("unknown schedule: %v", err)
	}
}

func TestParseSchedule(t *testing.T) {
	data, err := os.ReadFile("testdata/chaos-ok.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSchedule("chaos-ok.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 6 {
		t.Fatalf("%d events: %v", len(s.Events), s)
	}
	e := s.Events[2]
	if e.Kind != KindReply || e.Stage != "rcpt" || e.Match != "*r1@*" || e.Reply != "451 4.3.0 try again later" || e.At != 400*time.Millisecond || e.Pos != "chaos-ok.yaml:5:5" {
		t.Errorf("event 2: %+v", e)
	}
	if s.Events[5].Kind != KindServFail || len(s.Events[5].Domains) != 2 {
		t.Errorf("event 5: %+v", s.Events[5])
	}
}

// Every mistake of a schedule file is reported at once, each at its
// file:line:col.
func TestParseScheduleErrors(t *testing.T) {
	for file, want := range map[string][]string{
		"chaos-bad.yaml": {
			`chaos-bad.yaml:2:29: events[0].kind "flood": want down, greylist, reply, slow, ratelimit, servfail`,
			`chaos-bad.yaml:3:10: events[1].at: "soon": want a duration such as 10s`,
			`chaos-bad.yaml:4:5: events[2].for: missing`,
			`chaos-bad.yaml:5:`, `events[3].reply "550 5.1.1 no": chaos is temporary, want a 4xx`,
			`chaos-bad.yaml:6:`, `events[4].stage "helo": want one of greeting, ehlo, mail, rcpt, data, end_of_data`,
			`chaos-bad.yaml:7:5: events[5].domains: servfail needs the domains it fails`,
			`chaos-bad.yaml:8:`, `events[6]: unknown key "colour"`,
		},
		"chaos-syntax.yaml": {"chaos-syntax.yaml:3:"},
	} {
		data, err := os.ReadFile("testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseSchedule(file, data)
		if !errors.Is(err, ErrSchedule) {
			t.Fatalf("%s: %v, want ErrSchedule", file, err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", file, w, err)
			}
		}
	}
	// Names the network does not have.
	s, err := ParseSchedule("x.yaml", []byte("events:\n  - {at: 1s, for: 1s, kind: down, hosts: [mx9.load.test]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = s.checkNames(map[string]bool{"mx1.load.test": true}, nil)
	if !errors.Is(err, ErrSchedule) || !strings.Contains(err.Error(), "x.yaml:2:5: events[0].hosts: no host mx9.load.test") {
		t.Errorf("unknown host: %v", err)
	}
}
