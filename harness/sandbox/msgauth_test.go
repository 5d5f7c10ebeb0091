package sandbox

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
)

// TestMessageAuthResults: a host that checks messages (verify) shows
// what it recorded in the message list and view.
func TestMessageAuthResults(t *testing.T) {
	f := newFixture(t, Config{})
	h := f.env.Host(DemoSmarthost)
	b := h.Behavior()
	b.Verify = &fakesmtp.Verify{SPF: true}
	if err := h.SetBehavior(b); err != nil {
		t.Fatal(err)
	}
	f.submitDirect(harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}})
	var list messageListJSON
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	if len(list.Messages) != 1 {
		t.Fatalf("messages: %+v", list)
	}
	m := list.Messages[0]
	// The demo publishes no SPF record for origin.test.
	if !strings.HasPrefix(m.AuthResults, DemoSmarthost+"; spf=none") {
		t.Errorf("auth_results %q, want spf=none from %s", m.AuthResults, DemoSmarthost)
	}
	var d messageDetailJSON
	f.want(http.StatusOK, &d, "GET", "/api/messages/"+itoa(m.Seq), "", nil)
	if d.AuthResults != m.AuthResults {
		t.Errorf("view auth_results %q, list %q", d.AuthResults, m.AuthResults)
	}
}
