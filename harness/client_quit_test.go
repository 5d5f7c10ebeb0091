package harness

import (
	"context"
	"testing"
	"time"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/journal"
)

// A submission refused at RCPT ends with QUIT, not a dropped connection.
func TestSubmitQuitsAfterRefusal(t *testing.T) {
	h, err := fakesmtp.NewHost(fakesmtp.Config{Name: "relay.example.test", Addr: "127.0.0.1:0", Behavior: fakesmtp.Behavior{
		Replies: fakesmtp.Replies{Rcpt: fakesmtp.Forced(fakesmtp.Reply{Code: 554, Enhanced: "5.7.1", Text: "relaying denied"})},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = Submit(ctx, h.Addr(), Message{From: "alice@origin.test", To: []string{"bob@example.test"}})
	if err == nil {
		t.Fatal("submission accepted; the host refuses every RCPT")
	}
	j := h.Journal()
	if err := j.Wait(ctx, func(evs []journal.Event) bool {
		for _, e := range evs {
			if e.Kind == journal.KindSMTPDisconnect {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no disconnect: %v", err)
	}
	var quit bool
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPCommand)) {
		quit = quit || e.Text == "QUIT"
	}
	if !quit {
		t.Errorf("the client dropped the connection after the refusal without QUIT; commands: %v", j.Events(journal.OfKind(journal.KindSMTPCommand)))
	}
}
