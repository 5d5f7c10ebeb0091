package fakesmtp

import (
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidateBadInput(t *testing.T) {
	bad := Reply{Code: 700}
	for _, tc := range []struct {
		field string
		b     Behavior
	}{
		{"state", Behavior{State: "sideways"}},
		{"replies.greeting[0].reply.code", Behavior{Replies: Replies{Greeting: Forced(Reply{Code: 250})}}},
		{"replies.greeting[0].reply.code", Behavior{Replies: Replies{Greeting: Forced(Reply{Code: 220, Text: "a custom banner"})}}},
		{"replies.greeting[0].reply.code", Behavior{Replies: Replies{Greeting: Forced(bad)}}},
		{"replies.ehlo[0].reply.code", Behavior{Replies: Replies{EHLO: Forced(Reply{Code: 250})}}},
		{"replies.mail[0].reply.code", Behavior{Replies: Replies{Mail: Forced(Reply{Code: 199})}}},
		{"replies.mail[0].reply.enhanced", Behavior{Replies: Replies{Mail: Forced(Reply{Code: 451, Enhanced: "5.7.1"})}}},
		{"replies.mail[0].reply.enhanced", Behavior{Replies: Replies{Mail: Forced(Reply{Code: 451, Enhanced: "four"})}}},
		{"replies.mail[0].reply.text", Behavior{Replies: Replies{Mail: Forced(Reply{Code: 451, Text: "a\r\nb"})}}},
		{"replies.mail[0].reply.times", Behavior{Replies: Replies{Mail: Forced(Reply{Code: 451, Times: -1})}}},
		{"replies.starttls[0].reply.code", Behavior{Replies: Replies{StartTLS: Forced(Reply{Code: 220})}}},
		{"replies.auth[0].reply.enhanced", Behavior{Replies: Replies{Auth: Forced(Reply{Code: 454, Enhanced: "5.7.0"})}}},
		{"delays.starttls", Behavior{Delays: Delays{StartTLS: -1}}},
		{"delays.auth", Behavior{Delays: Delays{Auth: -1}}},
		{"greylist.reply.code", Behavior{Greylist: &Greylist{Reply: &Reply{Code: 250}}}},
		{"greylist.reply.times", Behavior{Greylist: &Greylist{Reply: &Reply{Code: 451, Times: 2}}}},
		{"greylist.reply.code", Behavior{Greylist: &Greylist{Reply: &Reply{Code: 550, Enhanced: "5.7.1"}}}},
		{"replies.data[0].reply.code", Behavior{Replies: Replies{Data: Forced(Reply{Code: 354})}}},
		{"replies.end_of_data[0].reply.code", Behavior{Replies: Replies{EndOfData: Forced(Reply{Code: 354})}}},
		{"replies.rcpt[0].match", Behavior{Replies: Replies{Rcpt: []Rule{{Match: "[", Reply: Reply{Code: 550}}}}}},
		{"replies.ehlo[0].match", Behavior{Replies: Replies{EHLO: []Rule{{Match: "*", Reply: Reply{Code: 421}}}}}},
		{"replies.mail[0].match", Behavior{Replies: Replies{Mail: []Rule{{Match: "[", Reply: Reply{Code: 550}}}}}},
		{"replies.rcpt[1].reply.code", Behavior{Replies: Replies{Rcpt: []Rule{{Reply: Reply{Code: 550}}, {Reply: Reply{Code: 250}}}}}},
		{"delays.greeting", Behavior{Delays: Delays{Greeting: -time.Second}}},
		{"delays.ehlo", Behavior{Delays: Delays{EHLO: -1}}},
		{"delays.mail", Behavior{Delays: Delays{Mail: -1}}},
		{"delays.rcpt", Behavior{Delays: Delays{Rcpt: -1}}},
		{"delays.data", Behavior{Delays: Delays{Data: -1}}},
		{"delays.end_of_data", Behavior{Delays: Delays{EndOfData: -1}}},
		{"delays.greeting", Behavior{Delays: Delays{Greeting: MaxDelay + time.Nanosecond}}},
		{"delays.end_of_data", Behavior{Delays: Delays{EndOfData: 100000 * time.Hour}}},
		{"delays.rcpt", Behavior{Delays: Delays{Rcpt: -1, AllowLong: true}}},
		{"hangup_after", Behavior{HangupAfter: -1}},
		{"disconnect_in_data", Behavior{DisconnectInData: -1}},
		{"greylist.window", Behavior{Greylist: &Greylist{Window: -time.Second}}},
		{"greylist.lifetime", Behavior{Greylist: &Greylist{Lifetime: -time.Second}}},
		{"relay.accept[1]", Behavior{Relay: &RelayPolicy{Accept: []string{"ok.test", "bad domain"}}}},
		{"relay.accept[0]", Behavior{Relay: &RelayPolicy{Accept: []string{""}}}},
		{"relay.accept[0]", Behavior{Relay: &RelayPolicy{Accept: []string{"-bad.test"}}}},
		{"relay.reject.code", Behavior{Relay: &RelayPolicy{Reject: &Reply{Code: 250}}}},
		{"relay.reject.times", Behavior{Relay: &RelayPolicy{Reject: &Reply{Code: 550, Times: 1}}}},
		{"auth.mechanisms[0]", Behavior{Auth: &Auth{Mechanisms: []string{"XOAUTH2"}}}},
		{"auth.users", Behavior{Auth: &Auth{Users: map[string]string{"": "x"}}}},
		{"auth.required", Behavior{Auth: &Auth{Required: true}}},
		{"tls.starttls", Behavior{TLS: TLS{StartTLS: "maybe"}}},
		{"tls.starttls", Behavior{TLS: TLS{StartTLS: TLSRequired, Implicit: true}}},
		{"tls.cert", Behavior{TLS: TLS{Cert: "stolen"}}},
		{"limits.max_size", Behavior{Limits: Limits{MaxSize: -1}}},
		{"limits.max_size", Behavior{Limits: Limits{MaxSize: 1 << 40}}},
		{"limits.max_size", Behavior{Limits: Limits{MaxSize: MaxSizeLimit + 1}}},
		{"limits.unlimited_size", Behavior{Limits: Limits{MaxSize: 1000, UnlimitedSize: true}}},
		{"limits.max_recipients", Behavior{Limits: Limits{MaxRecipients: -1}}},
		{"limits.max_conns", Behavior{Limits: Limits{MaxConns: -1}}},
		{"limits.messages_per_client.count", Behavior{Limits: Limits{MessagesPerClient: &RateLimit{Count: -1, Per: time.Minute}}}},
		{"limits.messages_per_client.count", Behavior{Limits: Limits{MessagesPerClient: &RateLimit{Per: time.Minute}}}},
		{"limits.messages_per_client.per", Behavior{Limits: Limits{MessagesPerClient: &RateLimit{Count: 1}}}},
		{"limits.messages_per_client.per", Behavior{Limits: Limits{MessagesPerClient: &RateLimit{Count: 1, Per: -time.Second}}}},
		{"limits.messages_per_client.reply.code", Behavior{Limits: Limits{MessagesPerClient: &RateLimit{Count: 1, Per: time.Minute, Reply: &Reply{Code: 250}}}}},
		{"limits.messages_per_client.reply.code", Behavior{Limits: Limits{MessagesPerClient: &RateLimit{Count: 1, Per: time.Minute, Reply: &Reply{Code: 700}}}}},
		{"limits.messages_per_recipient.reply.enhanced", Behavior{Limits: Limits{MessagesPerRecipient: &RateLimit{Count: 1, Per: time.Minute, Reply: &Reply{Code: 450, Enhanced: "5.2.1"}}}}},
		{"limits.messages_per_recipient.reply.times", Behavior{Limits: Limits{MessagesPerRecipient: &RateLimit{Count: 1, Per: time.Minute, Reply: &Reply{Code: 450, Times: 1}}}}},
		{"limits.messages_per_recipient.per", Behavior{Limits: Limits{MessagesPerRecipient: &RateLimit{Count: 1}}}},
		{"limits.connections_per_client.count", Behavior{Limits: Limits{ConnectionsPerClient: &ConnLimit{}}}},
		{"limits.connections_per_client.reply.code", Behavior{Limits: Limits{ConnectionsPerClient: &ConnLimit{Count: 1, Reply: &Reply{Code: 354}}}}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			err := tc.b.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.field)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("no *FieldError in %v", err)
			}
			// NewHost refuses it and leaves nothing running (goleak checks).
			if h, err := NewHost(Config{Name: hostName, Behavior: tc.b}); err == nil {
				h.Close()
				t.Fatal("NewHost accepted it")
			} else if !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), hostName) {
				t.Errorf("NewHost error %v", err)
			}
			// SetBehavior refuses it and keeps the old behaviour.
			h := newHost(t, Behavior{HangupAfter: 7})
			if err := h.SetBehavior(tc.b); !errors.Is(err, ErrInvalid) {
				t.Errorf("SetBehavior = %v", err)
			}
			if h.Behavior().HangupAfter != 7 {
				t.Error("behaviour changed by a refused SetBehavior")
			}
		})
	}
}

func TestValidateAllErrorsAtOnce(t *testing.T) {
	err := Behavior{State: "x", HangupAfter: -1, TLS: TLS{Cert: "y"}}.Validate()
	for _, f := range []string{"state:", "hangup_after:", "tls.cert:"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("%v lacks %s", err, f)
		}
	}
}

func TestValidateGood(t *testing.T) {
	b := Behavior{
		State:    Blackhole,
		Replies:  Replies{Greeting: Forced(Reply{Code: 421, Text: "busy"}), EndOfData: Forced(Reply{Code: 250}), Rcpt: []Rule{{Match: "*@x.test", Reply: Reply{Code: 452, Enhanced: "4.2.2"}}}},
		Greylist: &Greylist{Window: time.Second, Reply: &Reply{Code: 450, Enhanced: "4.7.1"}},
		Relay:    &RelayPolicy{Accept: []string{"example.test", ".example.test", "Other.Test."}, Reject: &Reply{Code: 451}},
		Auth:     &Auth{Mechanisms: []string{"plain", "CRAM-MD5"}, Users: map[string]string{"u": "p"}},
		TLS:      TLS{Implicit: true, Cert: CertExpired},
		Limits:   Limits{MaxSize: MaxSizeLimit, MaxRecipients: 1, MaxConns: 1},
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	// MaxDelay is allowed; beyond it, AllowLong says a delay is meant.
	for _, d := range []Delays{{Greeting: MaxDelay, EndOfData: MaxDelay}, {Rcpt: 100000 * time.Hour, AllowLong: true}} {
		if err := (Behavior{Delays: d}).Validate(); err != nil {
			t.Errorf("%+v: %v", d, err)
		}
	}
}

// TestEnumTables checks that Validate takes exactly the values each
// Values table lists, so the tables that decoders and schema generators
// read cannot drift from the rules.
func TestEnumTables(t *testing.T) {
	for _, tc := range []struct {
		field string
		vals  []string
		with  func(v string) Behavior
	}{
		{"state", State("").Values(), func(v string) Behavior { return Behavior{State: State(v)} }},
		{"tls.starttls", TLSMode("").Values(), func(v string) Behavior { return Behavior{TLS: TLS{StartTLS: TLSMode(v)}} }},
		{"tls.cert", CertKind("").Values(), func(v string) Behavior { return Behavior{TLS: TLS{Cert: CertKind(v)}} }},
		{"auth.mechanisms[0]", Mechanisms(), func(v string) Behavior {
			return Behavior{Auth: &Auth{Mechanisms: []string{v}, Users: map[string]string{"u": "p"}}}
		}},
	} {
		if len(tc.vals) == 0 {
			t.Errorf("%s: empty table", tc.field)
		}
		for _, v := range tc.vals {
			if err := tc.with(v).Validate(); err != nil {
				t.Errorf("%s %q: %v", tc.field, v, err)
			}
		}
		if err := tc.with("bogus").Validate(); err == nil || !strings.Contains(err.Error(), tc.field+": ") ||
			!strings.Contains(err.Error(), strings.Join(tc.vals[len(tc.vals)-1:], "")) {
			t.Errorf("%s bogus: %v, want an error listing the values", tc.field, err)
		}
	}
	if got := (Behavior{Auth: &Auth{Users: map[string]string{"u": "p"}}}).Auth.mechanisms(); !slices.Equal(got, DefaultMechanisms()) {
		t.Errorf("default mechanisms %v", got)
	}
}

func TestConfigBadInput(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{}, "name:"},
		{Config{Name: "bad name"}, "name:"},
		{Config{Name: hostName, Addr: "localhost:25"}, "addr:"},
		{Config{Name: hostName, Addr: "127.0.0.1"}, "addr:"},
		{Config{Name: hostName, Addr: "127.0.0.1:99999"}, "addr:"},
		{Config{Name: "", Addr: "x", Behavior: Behavior{State: "y"}}, "state:"},
	} {
		h, err := NewHost(tc.cfg)
		if err == nil {
			h.Close()
			t.Errorf("NewHost(%+v) succeeded", tc.cfg)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("NewHost(%+v) = %v, want %s", tc.cfg, err, tc.field)
		}
	}
}

func TestBehaviorIsCopied(t *testing.T) {
	users := map[string]string{"u": "p"}
	accept := []string{"example.test"}
	h := newHost(t, Behavior{Auth: &Auth{Users: users}, Relay: &RelayPolicy{Accept: accept}})
	users["u"] = "changed"
	accept[0] = "changed.test"
	b := h.Behavior()
	if b.Auth.Users["u"] != "p" || b.Relay.Accept[0] != "example.test" {
		t.Errorf("host shares the caller's maps/slices: %+v %+v", b.Auth, b.Relay)
	}
	b.Auth.Users["u"] = "again"
	if h.Behavior().Auth.Users["u"] != "p" {
		t.Error("Behavior() returns shared state")
	}
}

func TestCAIssue(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(ca.PEM()), "-----BEGIN CERTIFICATE-----") {
		t.Errorf("PEM %q", ca.PEM())
	}
	for _, kind := range []CertKind{CertValid, CertExpired, CertWrongName, CertSelfSigned} {
		cert, err := ca.Issue(kind, hostName)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		_, verr := cert.Leaf.Verify(x509VerifyOptions(ca, hostName))
		if (verr == nil) != (kind == CertValid) {
			t.Errorf("%s: verify = %v", kind, verr)
		}
	}
	if _, err := ca.Issue("forged", hostName); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "forged") {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := ca.Issue(CertValid, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty name: %v", err)
	}
	ip, err := ca.Issue(CertValid, "127.0.0.1")
	if err != nil || len(ip.Leaf.IPAddresses) != 1 {
		t.Errorf("IP name: %v %v", err, ip.Leaf)
	}
}

func x509VerifyOptions(ca *CA, name string) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: ca.Pool(), DNSName: name}
}
