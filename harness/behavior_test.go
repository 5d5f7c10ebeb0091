package harness

import (
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
)

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		b    fakesmtp.Behavior
		want string
	}{
		{fakesmtp.Behavior{}, "accepts everything"},
		{fakesmtp.Behavior{State: fakesmtp.Down}, "down"},
		{fakesmtp.Behavior{
			TLS:  fakesmtp.TLS{StartTLS: fakesmtp.TLSOffered},
			Auth: &fakesmtp.Auth{Mechanisms: []string{"PLAIN", "LOGIN"}, Users: map[string]string{"relay": "x"}, Required: true},
		}, "AUTH PLAIN/LOGIN required (users relay), STARTTLS offered (valid certificate)"},
		{fakesmtp.Behavior{
			Greylist: &fakesmtp.Greylist{Window: time.Second},
			Replies:  fakesmtp.Replies{Rcpt: []fakesmtp.Rule{{Match: "*@full.test", Reply: fakesmtp.Reply{Code: 452, Text: "full", Times: 2}}}},
		}, "rcpt 452 full for *@full.test ×2, greylist 1s"},
		{fakesmtp.Behavior{TLS: fakesmtp.TLS{Implicit: true, Cert: fakesmtp.CertExpired}, Limits: fakesmtp.Limits{MaxSize: 1000}},
			"implicit TLS (expired certificate), SIZE 1000"},
		{fakesmtp.Behavior{Limits: fakesmtp.Limits{UnlimitedSize: true}}, "no size limit"},
		{fakesmtp.Behavior{Limits: fakesmtp.Limits{
			MessagesPerClient:    &fakesmtp.RateLimit{Count: 3, Per: time.Minute},
			MessagesPerRecipient: &fakesmtp.RateLimit{Count: 1, Per: time.Hour},
			ConnectionsPerClient: &fakesmtp.ConnLimit{Count: 2},
		}}, "at most 3 messages per client per 1m0s, at most 1 messages per recipient per 1h0m0s, at most 2 connections per client"},
		{fakesmtp.Behavior{Extensions: fakesmtp.Extensions{NoChunking: true}, DisconnectInData: 9}, "disconnect after 9 bytes of data, no CHUNKING"},
	} {
		if got := Describe(tc.b); got != tc.want {
			t.Errorf("Describe(%+v) = %q, want %q", tc.b, got, tc.want)
		}
	}
}
