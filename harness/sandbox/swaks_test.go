package sandbox

import (
	"context"
	"net/http"
	"os/exec"
	"testing"
	"time"
)

// TestSwaksThroughSmarthost runs the swaks line "mxsim sandbox" prints
// against the demo's smarthost (STARTTLS, AUTH), when swaks is installed,
// and finds the message through the API.
func TestSwaksThroughSmarthost(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks is not installed (apt-get install -y swaks to run this test)")
	}
	f := newFixture(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, swaks, "--server", f.env.Host(DemoSmarthost).Addr(), "--tls",
		"--auth-user", DemoUser, "--auth-password", DemoPassword,
		"--from", "alice@origin.test", "--to", "bob@example.test", "--h-Subject", "hello from swaks")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	f.waitSessionsEnded()
	var list messageListJSON
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	msgs := list.Messages
	if len(msgs) != 1 || msgs[0].Subject != "hello from swaks" || msgs[0].Host != DemoSmarthost {
		t.Fatalf("messages: %+v", msgs)
	}
}
