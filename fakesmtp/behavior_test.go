package fakesmtp

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxsim/mxsim/journal"
)

func mustReply(t testing.TB, s string) *Reply {
	t.Helper()
	r, err := ParseReply(s)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestForcedEHLO(t *testing.T) {
	r := mustReply(t, "421 4.3.2 not now")
	r.Times = 1
	h := newHost(t, Behavior{Replies: Replies{EHLO: Forced(*r)}})
	c := dial(t, h)
	if err := c.Hello("client.test"); code(err) != 421 {
		t.Fatalf("first EHLO: %v, want 421", err)
	}
	c2 := dial(t, h)
	if err := c2.Hello("client.test"); err != nil {
		t.Fatalf("second EHLO (Times used up): %v", err)
	}
	if got := replies(h.Journal(), FaultEHLO); len(got) != 1 || got[0].Text != "421 4.3.2 not now" {
		t.Errorf("EHLO fault replies: %v", got)
	}
}

func TestForcedMailTimes(t *testing.T) {
	h := newHost(t, Behavior{Replies: Replies{Mail: Forced(Reply{Code: 451, Enhanced: "4.3.0", Text: "try later", Times: 2})}})
	c := dial(t, h)
	for i := 0; i < 2; i++ {
		if err := c.Mail("a@origin.test", nil); code(err) != 451 || enhanced(err) != (smtp.EnhancedCode{4, 3, 0}) {
			t.Fatalf("MAIL %d: %v, want 451 4.3.0", i+1, err)
		}
	}
	if err := send(c, "a@origin.test", []string{"b@example.test"}, message("third")); err != nil {
		t.Fatalf("third attempt: %v", err)
	}
	if n := len(replies(h.Journal(), FaultMail)); n != 2 {
		t.Errorf("%d forced MAIL replies, want 2", n)
	}
}

func TestForcedMailPatterns(t *testing.T) {
	h := newHost(t, Behavior{Replies: Replies{Mail: []Rule{
		{Match: "*@blocked.test", Reply: Reply{Code: 553, Enhanced: "5.7.1", Text: "sender refused"}},
	}}})
	c := dial(t, h)
	if err := c.Mail("eve@blocked.test", nil); code(err) != 553 {
		t.Fatalf("MAIL from a blocked domain: %v, want 553", err)
	}
	if err := send(c, "alice@origin.test", []string{"b@example.test"}, message("allowed")); err != nil {
		t.Fatalf("MAIL from another domain: %v", err)
	}
	if n := len(replies(h.Journal(), FaultMail)); n != 1 {
		t.Errorf("%d forced MAIL replies, want 1", n)
	}
}

func TestForcedRcptPatterns(t *testing.T) {
	h := newHost(t, Behavior{Replies: Replies{Rcpt: []Rule{
		{Match: "*@FULL.test", Reply: *mustReply(t, "452 4.2.2 mailbox full")},
		{Match: "bob@*", Reply: Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user", Times: 1}},
		{Match: "bob@*", Reply: Reply{Code: 450, Text: "bob again"}},
	}}})
	c := dial(t, h)
	if err := c.Mail("a@origin.test", nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		to   string
		code int
	}{
		{"x@full.test", 452},
		{"Y@Full.Test", 452},
		{"bob@example.test", 550},
		{"bob@example.test", 450}, // first entry used up: the next matching one
		{"carol@example.test", 0},
	} {
		if err := c.Rcpt(tc.to, nil); code(err) != tc.code || (tc.code == 0 && err != nil) {
			t.Errorf("RCPT %s: %v, want %d", tc.to, err, tc.code)
		}
	}
	if n := len(replies(h.Journal(), FaultRcpt)); n != 4 {
		t.Errorf("%d forced RCPT replies, want 4", n)
	}
}

func TestForcedData(t *testing.T) {
	h := newHost(t, Behavior{Replies: Replies{Data: Forced(*mustReply(t, "451 4.3.0 no data now"))}})
	c := dial(t, h)
	if err := c.Mail("a@origin.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.test", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Data(); code(err) != 451 {
		t.Fatalf("DATA: %v, want 451", err)
	}
	// The session goes on.
	if err := c.Reset(); err != nil {
		t.Fatalf("RSET after forced DATA reply: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	waitDisconnects(t, h, 1)
	if n := count(h.Journal(), journal.KindSMTPMessage, nil); n != 0 {
		t.Errorf("%d messages recorded", n)
	}
	if got := replies(h.Journal(), FaultData); len(got) != 1 || got[0].Code != 451 {
		t.Errorf("DATA fault replies %v", got)
	}
}

func TestForcedEndOfData(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		h := newHost(t, Behavior{Replies: Replies{EndOfData: Forced(*mustReply(t, "554 5.6.0 content rejected"))}})
		c := dial(t, h)
		err := send(c, "a@origin.test", []string{"b@example.test"}, message("refused"))
		if code(err) != 554 {
			t.Fatalf("send: %v, want 554", err)
		}
		if n := count(h.Journal(), journal.KindSMTPMessage, nil); n != 0 {
			t.Errorf("refused message recorded")
		}
	})
	t.Run("custom 250", func(t *testing.T) {
		h := newHost(t, Behavior{Replies: Replies{EndOfData: Forced(*mustReply(t, "250 2.0.0 queued as ABC123"))}})
		c := dial(t, h)
		if err := c.Mail("a@origin.test", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("b@example.test", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(message("custom")))
		resp, err := w.CloseWithResponse()
		if err != nil || resp.StatusText != "2.0.0 queued as ABC123" {
			t.Fatalf("end of data: %+v %v", resp, err)
		}
		if n := count(h.Journal(), journal.KindSMTPMessage, nil); n != 1 {
			t.Errorf("%d messages recorded, want 1", n)
		}
	})
}

func TestDelays(t *testing.T) {
	const d = 30 * time.Millisecond
	h := newHost(t, Behavior{Delays: Delays{Greeting: d, EHLO: d, Mail: d, Rcpt: d, Data: d, EndOfData: d}})
	start := time.Now()
	c := dial(t, h)
	if err := send(c, "a@origin.test", []string{"b@example.test"}, message("slow")); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 6*d {
		t.Errorf("took %v, want at least %v", took, 6*d)
	}
	// Each reply follows its command, in order.
	var kinds []string
	for _, e := range h.Journal().Events(journal.OfKind(journal.KindSMTPCommand, journal.KindSMTPReply, journal.KindSMTPMessage)) {
		if e.Kind == journal.KindSMTPReply && strings.HasPrefix(e.Text, "250-") {
			continue
		}
		kinds = append(kinds, strings.TrimPrefix(string(e.Kind), "smtp.")+":"+strings.Fields(e.Text)[0])
	}
	want := "reply:220 command:EHLO reply:250 command:MAIL reply:250 command:RCPT reply:250 command:DATA reply:354 message:message reply:250"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("events\n got %s\nwant %s", got, want)
	}
}

func TestDelayInterruptedByClose(t *testing.T) {
	h, err := NewHost(Config{Name: hostName, Behavior: Behavior{Delays: Delays{Greeting: time.Hour, AllowLong: true}}})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, h)
	wait(t, h.Journal(), "connect", has(journal.KindSMTPConnect, nil))
	h.Close() // must not wait an hour
	if err := c.Hello("x.test"); err == nil {
		t.Error("greeting came")
	}
}

func TestDisconnectInData(t *testing.T) {
	h := newHost(t, Behavior{DisconnectInData: 100})
	c := dial(t, h)
	err := send(c, "a@origin.test", []string{"b@example.test"}, message("cut")+strings.Repeat("x", 1024)+"\r\n")
	if err == nil || code(err) != 0 {
		t.Fatalf("send: %v, want a connection error", err)
	}
	j := h.Journal()
	wait(t, j, "disconnect", has(journal.KindSMTPDisconnect, func(e journal.Event) bool {
		return e.Fault == FaultDisconnect && e.Text == "disconnect: disconnect in data after 100 bytes"
	}))
	if n := count(j, journal.KindSMTPMessage, nil); n != 0 {
		t.Errorf("cut message recorded")
	}
	// A message shorter than the limit goes through.
	c2 := dial(t, h)
	if err := send(c2, "a@origin.test", []string{"b@example.test"}, "Subject: s\r\n\r\nhi\r\n"); err != nil {
		t.Fatalf("short message: %v", err)
	}
}

func TestGreylist(t *testing.T) {
	const window = 50 * time.Millisecond
	h := newHost(t, Behavior{Greylist: &Greylist{Window: window}})
	try := func() error {
		c := dial(t, h)
		defer c.Quit()
		return send(c, "alice@origin.test", []string{"bob@example.test"}, message("grey"))
	}
	first := time.Now()
	err := try()
	if code(err) != 451 || enhanced(err) != (smtp.EnhancedCode{4, 7, 1}) {
		t.Fatalf("first attempt: %v, want 451 4.7.1", err)
	}
	if time.Since(first) < window {
		if err := try(); code(err) != 451 {
			t.Fatalf("immediate retry: %v, want 451", err)
		}
	}
	time.Sleep(window + 10*time.Millisecond)
	if err := try(); err != nil {
		t.Fatalf("retry after the window: %v", err)
	}
	if err := try(); err != nil {
		t.Fatalf("triplet passed once stays passed: %v", err)
	}
	// Another recipient is a new triplet.
	c := dial(t, h)
	if err := c.Mail("alice@origin.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("carol@example.test", nil); code(err) != 451 {
		t.Errorf("new triplet: %v, want 451", err)
	}
	if len(replies(h.Journal(), FaultGreylist)) < 2 {
		t.Errorf("greylist faults missing\n%s", h.Journal())
	}
}

func TestRelayPolicy(t *testing.T) {
	h := newHost(t, Behavior{Relay: &RelayPolicy{Accept: []string{"example.test", ".sub.test"}}})
	c := dial(t, h)
	if err := c.Mail("a@origin.test", nil); err != nil {
		t.Fatal(err)
	}
	for to, want := range map[string]int{
		"bob@example.test":    0,
		"BOB@Example.TEST":    0,
		"x@a.sub.test":        0,
		"x@sub.test":          550,
		"x@elsewhere.test":    550,
		"x@notexample.test":   550,
		"x@mail.example.test": 550,
	} {
		err := c.Rcpt(to, nil)
		if code(err) != want || want == 0 && err != nil {
			t.Errorf("RCPT %s: %v, want %d", to, err, want)
		}
		if want == 550 && enhanced(err) != (smtp.EnhancedCode{5, 7, 1}) {
			t.Errorf("RCPT %s: enhanced %v, want 5.7.1", to, enhanced(err))
		}
	}
	if n := len(replies(h.Journal(), FaultRelay)); n != 4 {
		t.Errorf("%d relay faults, want 4", n)
	}

	// Postfix's defer_unauth_destination style: a 4xx instead.
	h2 := newHost(t, Behavior{Relay: &RelayPolicy{Accept: []string{"example.test"}, Reject: mustReply(t, "454 4.7.1 relay access denied")}})
	c2 := dial(t, h2)
	if err := c2.Mail("a@origin.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c2.Rcpt("x@elsewhere.test", nil); code(err) != 454 {
		t.Errorf("custom reject: %v, want 454", err)
	}
}

func TestLimits(t *testing.T) {
	t.Run("size", func(t *testing.T) {
		h := newHost(t, Behavior{Limits: Limits{MaxSize: 200}})
		c := dial(t, h)
		if err := c.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		if n, ok := c.MaxMessageSize(); !ok || n != 200 {
			t.Errorf("SIZE = %d %v, want 200", n, ok)
		}
		if err := c.Mail("a@origin.test", &smtp.MailOptions{Size: 500}); code(err) != 552 {
			t.Errorf("MAIL SIZE=500: %v, want 552", err)
		}
		err := send(c, "a@origin.test", []string{"b@example.test"}, message("big")+strings.Repeat("y", 300)+"\r\n")
		if code(err) != 552 || enhanced(err) != (smtp.EnhancedCode{5, 3, 4}) {
			t.Errorf("big message: %v, want 552 5.3.4", err)
		}
		if n := len(replies(h.Journal(), FaultMaxSize)); n != 2 {
			t.Errorf("%d size faults, want 2\n%s", n, h.Journal())
		}
		if err := send(c, "a@origin.test", []string{"b@example.test"}, "Subject: s\r\n\r\nsmall\r\n"); err != nil {
			t.Errorf("small message: %v", err)
		}
	})
	t.Run("recipients", func(t *testing.T) {
		h := newHost(t, Behavior{Limits: Limits{MaxRecipients: 2}})
		c := dial(t, h)
		err := send(c, "a@origin.test", []string{"1@example.test", "2@example.test", "3@example.test"}, message("many"))
		if code(err) != 452 || enhanced(err) != (smtp.EnhancedCode{4, 5, 3}) {
			t.Errorf("third recipient: %v, want 452 4.5.3", err)
		}
		if n := len(replies(h.Journal(), FaultMaxRecipients)); n != 1 {
			t.Errorf("%d recipient faults, want 1", n)
		}
	})
	t.Run("conns", func(t *testing.T) {
		h := newHost(t, Behavior{Limits: Limits{MaxConns: 1}})
		c1 := dial(t, h)
		if err := c1.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		c2 := dial(t, h)
		err := c2.Hello("client.test")
		if code(err) != 421 || enhanced(err) != (smtp.EnhancedCode{4, 7, 0}) {
			t.Fatalf("second connection: %v, want 421 4.7.0", err)
		}
		wait(t, h.Journal(), "refused", has(journal.KindSMTPRefused, func(e journal.Event) bool {
			return e.Fault == FaultMaxConns && strings.Contains(e.Text, "too many connections (max 1)")
		}))
		c1.Quit()
		waitDisconnects(t, h, 2)
		c3 := dial(t, h)
		if err := c3.Hello("client.test"); err != nil {
			t.Errorf("after the first closed: %v", err)
		}
	})
}

func TestParseReply(t *testing.T) {
	for in, want := range map[string]Reply{
		"452 4.2.2 mailbox full": {Code: 452, Enhanced: "4.2.2", Text: "mailbox full"},
		"421":                    {Code: 421},
		" 554  go away ":         {Code: 554, Text: "go away"},
		"550 5.1.1":              {Code: 550, Enhanced: "5.1.1"},
		"250 2.0.0 ok 1.2.3":     {Code: 250, Enhanced: "2.0.0", Text: "ok 1.2.3"},
	} {
		got, err := ParseReply(in)
		if err != nil || got != want {
			t.Errorf("ParseReply(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if again, err := ParseReply(got.String()); err != nil || again != got {
			t.Errorf("round trip of %q: %+v %v", in, again, err)
		}
	}
	for _, in := range []string{"", "abc", "45", "4511 x", "199 too low", "600 too high", "451 5.7.1 class mismatch", "451 6.0.0 bad class", "451 4.0.0\r\n250 x"} {
		_, err := ParseReply(in)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseReply(%q) = %v, want ErrInvalid", in, err)
		}
	}
	// The error names the reply and the part that is wrong.
	for in, want := range map[string]string{
		"99 too small":           `bad reply "99 too small": code: want a three-digit code first`,
		"451-4.3.0 dash":         `bad reply "451-4.3.0 dash": code: want a three-digit code first`,
		"600 too big":            `bad reply "600 too big": code: 600 out of range 200..599`,
		"452 5.2.2 mailbox full": `bad reply "452 5.2.2 mailbox full": enhanced: class of "5.2.2" does not match code 452`,
	} {
		var fe *FieldError
		if _, err := ParseReply(in); err == nil || !strings.HasPrefix(err.Error(), want) || !errors.As(err, &fe) {
			t.Errorf("ParseReply(%q) = %v, want %s… wrapping a *FieldError", in, err, want)
		}
	}
	// Not an enhanced code: part of the text.
	if r, err := ParseReply("451 4.x.1 nope"); err != nil || r.Text != "4.x.1 nope" {
		t.Errorf("ParseReply(451 4.x.1 nope) = %+v, %v", r, err)
	}
}

func TestRelayPolicyNames(t *testing.T) {
	p := &RelayPolicy{Accept: []string{"Example.Test.", ".Sub.Test"}}
	for domain, want := range map[string]bool{
		"example.test": true, "a.sub.test": true, "sub.test": false, "other.test": false,
	} {
		if got := p.accepts(domain); got != want {
			t.Errorf("accepts(%q) = %v, want %v", domain, got, want)
		}
	}
}

// TestTagNames checks that the parts of a Behavior have one set of names:
// where a field has a YAML key (the scenario decoder's) and a JSON key,
// they are the same, and the types decoded in a shape of their own
// (Reply, Rule) and Behavior itself have no YAML keys.
func TestTagNames(t *testing.T) {
	name := func(tag string) string { n, _, _ := strings.Cut(tag, ","); return n }
	for _, typ := range []reflect.Type{
		reflect.TypeFor[Replies](), reflect.TypeFor[Delays](), reflect.TypeFor[Greylist](), reflect.TypeFor[RelayPolicy](),
		reflect.TypeFor[Auth](), reflect.TypeFor[TLS](), reflect.TypeFor[Limits](),
	} {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if y, j := name(f.Tag.Get("yaml")), name(f.Tag.Get("json")); y == "" || y != j {
				t.Errorf("%s.%s: yaml key %q, json key %q", typ.Name(), f.Name, y, j)
			}
		}
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[Behavior](), reflect.TypeFor[Reply](), reflect.TypeFor[Rule]()} {
		for i := range typ.NumField() {
			if f := typ.Field(i); f.Tag.Get("yaml") != "" || f.Tag.Get("json") == "" {
				t.Errorf("%s.%s: tags %q, want JSON only", typ.Name(), f.Name, f.Tag)
			}
		}
	}
}
