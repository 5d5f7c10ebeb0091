package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a running demo network with a sandbox server over it.
type fixture struct {
	t     *testing.T
	env   *harness.Env
	srv   *Server
	http  *http.Client
	token string // sent as a bearer token when set
}

// newFixture starts the demo network and a sandbox on 127.0.0.1:0; both
// are closed by t.Cleanup (the server first).
func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	return newFixtureWith(t, Demo(), cfg)
}

// newFixtureWith is newFixture over the network hcfg.
func newFixtureWith(t *testing.T, hcfg harness.Config, cfg Config) *fixture {
	t.Helper()
	env := harness.Start(t, hcfg)
	cfg.Env = env
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return &fixture{t: t, env: env, srv: srv, http: &http.Client{Transport: tr}, token: cfg.Token}
}

// do sends a request with a JSON body (unless body is nil or a string,
// which is sent as is with contentType) and returns the status and body.
func (f *fixture) do(method, path, contentType string, body any) (int, []byte) {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, "http://"+f.srv.Addr()+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, data
}

// want checks the status, and decodes the body into v when v is not nil.
func (f *fixture) want(status int, v any, method, path, contentType string, body any) {
	f.t.Helper()
	got, data := f.do(method, path, contentType, body)
	if got != status {
		f.t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, got, status, data)
	}
	if v != nil {
		reflect.ValueOf(v).Elem().SetZero() // no field left over from an earlier answer
		if err := json.Unmarshal(data, v); err != nil {
			f.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

// wantError checks a 4xx answer: its status, that it is {"error": ...},
// and that the message contains substr.
func (f *fixture) wantError(status int, substr, method, path, contentType string, body any) {
	f.t.Helper()
	var e map[string]string
	f.want(status, &e, method, path, contentType, body)
	if e["error"] == "" || !strings.Contains(e["error"], substr) {
		f.t.Fatalf("%s %s: error %q, want it to contain %q", method, path, e["error"], substr)
	}
}

const ctJSON = "application/json"

// settle bounds how long a test waits for the network to reach the state
// it checks: a guard against a hang, not a speed check.
const settle = 10 * time.Second

// waitJournal blocks until cond holds over the journal (checked again at
// every append), or fails the test with the journal after settle.
//
// A test waits before it reads anything the network may still be
// writing: the journal, or the API's journal, messages and sessions. The
// network runs on its own goroutines: a host journals its smtp.disconnect
// after its 221 reply has reached the client, so harness.Submit returns
// before the session has ended, and two reads a few microseconds apart
// can see two journals.
func (f *fixture) waitJournal(what string, cond func([]journal.Event) bool) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	if err := f.env.Journal().Wait(ctx, cond); err != nil {
		f.t.Fatalf("waited %s for %s: %v\n%s", settle, what, err, f.env.Journal())
	}
}

// waitEvent waits for the first event that match accepts, and returns it.
func (f *fixture) waitEvent(what string, match func(journal.Event) bool) journal.Event {
	f.t.Helper()
	var found journal.Event
	f.waitJournal(what, func(evs []journal.Event) bool {
		i := slices.IndexFunc(evs, match)
		if i >= 0 {
			found = evs[i]
		}
		return i >= 0
	})
	return found
}

// waitSessionsEnded waits until at least one SMTP session has been
// opened and every session has ended (smtp.disconnect): a network with no
// relay and no client left then journals nothing more.
func (f *fixture) waitSessionsEnded() {
	f.t.Helper()
	f.waitJournal("every SMTP session to end", func(evs []journal.Event) bool {
		open := map[string]bool{}
		for _, e := range evs {
			switch e.Kind {
			case journal.KindSMTPConnect:
				open[e.Session] = true
			case journal.KindSMTPDisconnect:
				delete(open, e.Session)
			}
		}
		return len(open) == 0 && slices.ContainsFunc(evs, func(e journal.Event) bool { return e.Kind == journal.KindSMTPConnect })
	})
}

// isControl matches the control events whose text contains substr.
func isControl(substr string) func(journal.Event) bool {
	return func(e journal.Event) bool { return e.Kind == journal.KindControl && strings.Contains(e.Text, substr) }
}
