package relay

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TestVariantsPlantOneBugEach: names are unique and sorted, and each
// variant turns on exactly one switch, a different one each time, so
// that every switch of Bugs is covered.
func TestVariantsPlantOneBugEach(t *testing.T) {
	vs := Variants()
	fields := reflect.TypeFor[Bugs]().NumField()
	if len(vs) != fields {
		t.Fatalf("%d variants for %d bug switches", len(vs), fields)
	}
	used := map[int]string{}
	for i, v := range vs {
		if i > 0 && vs[i-1].Name >= v.Name {
			t.Errorf("variants not sorted: %s before %s", vs[i-1].Name, v.Name)
		}
		if v.Bug == "" {
			t.Errorf("%s: no description", v.Name)
		}
		rv := reflect.ValueOf(v.Bugs)
		var on []int
		for f := range fields {
			if rv.Field(f).Bool() {
				on = append(on, f)
			}
		}
		if len(on) != 1 {
			t.Errorf("%s: %d switches on, want 1", v.Name, len(on))
			continue
		}
		if first, dup := used[on[0]]; dup {
			t.Errorf("%s and %s plant the same bug", first, v.Name)
		}
		used[on[0]] = v.Name
		if got, ok := LookupVariant(v.Name); !ok || !reflect.DeepEqual(got, v) {
			t.Errorf("LookupVariant(%q) = %+v, %v", v.Name, got, ok)
		}
	}
	if _, ok := LookupVariant("nope"); ok {
		t.Error("LookupVariant found a variant that does not exist")
	}
}

// TestMynetworksRefusesStrangers: rule 28. A client outside Mynetworks
// without AUTH is refused at RCPT with 550 5.7.1; an authenticated one,
// or one inside, may relay; the open-relay bug lets everyone through.
func TestMynetworksRefusesStrangers(t *testing.T) {
	n := newNetwork(t, twoMX...)
	n.host(11, "mx1.example.test", hostOpts{})
	outside := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} // 127.0.0.1 is not in it
	r := n.startRelay(Config{Mynetworks: outside})
	err := submit(r.Addr(), nil, "spammer@outside.test", "bob@example.test")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
		t.Errorf("stranger: %v, want 550 5.7.1", err)
	}
	authed := n.startRelay(Config{Mynetworks: outside, SubmitUsers: map[string]string{"alice": "pw"}})
	if err := submit(authed.Addr(), sasl.NewPlainClient("", "alice", "pw"), "alice@origin.test", "bob@example.test"); err != nil {
		t.Errorf("authenticated: %v", err)
	}

	inside := n.startRelay(Config{Mynetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err := submit(inside.Addr(), nil, "alice@origin.test", "bob@example.test"); err != nil {
		t.Errorf("trusted client: %v", err)
	}
	open := n.startRelay(Config{Mynetworks: outside, Bugs: Bugs{OpenRelay: true}})
	if err := submit(open.Addr(), nil, "spammer@outside.test", "bob@example.test"); err != nil {
		t.Errorf("open-relay variant refused: %v", err)
	}
	if _, err := Start(Config{DNS: "127.0.0.1:53", Mynetworks: []netip.Prefix{{}}}); err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Mynetworks") {
		t.Errorf("zero prefix: %v, want a Mynetworks config error", err)
	}
}

// TestPendingAndResendAccepted: after a partial failure, Pending lists
// the deferred recipient alone, idle; a flush delivers it, once to each
// recipient, unless the resends-accepted bug sends the accepted one again.
func TestPendingAndResendAccepted(t *testing.T) {
	for _, bug := range []bool{false, true} {
		n := newNetwork(t, twoMX...)
		mx1 := n.host(11, "mx1.example.test", hostOpts{Rcpt: func(to string, seen int) error {
			if to == "busy@example.test" && seen == 0 {
				return errReply(452, 4, 2, 2, "mailbox full")
			}
			return nil
		}})
		r := n.startRelay(Config{Bugs: Bugs{ResendAccepted: bug}})
		mustSubmit(t, r, "alice@origin.test", "ok@example.test", "busy@example.test")
		idle(t, r)
		p := r.Pending()
		if len(p) != 1 || p[0].To != "busy@example.test" || p[0].Running || !strings.Contains(string(p[0].Data), "Received:") {
			t.Fatalf("bug %v: pending %+v, want busy@example.test alone, not running", bug, p)
		}
		r.Flush()
		idle(t, r)
		if p := r.Pending(); len(p) != 0 {
			t.Errorf("bug %v: pending after the flush: %+v", bug, p)
		}
		ok := 0
		for _, m := range mx1.messages() {
			for _, to := range m.To {
				if to == "ok@example.test" {
					ok++
				}
			}
		}
		if want := map[bool]int{false: 1, true: 2}[bug]; ok != want {
			t.Errorf("bug %v: ok@example.test got %d messages, want %d", bug, ok, want)
		}
	}
}
