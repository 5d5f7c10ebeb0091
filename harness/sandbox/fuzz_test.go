package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/sandbox"
	"github.com/mxsim/mxsim/journal"
)

// FuzzAPI sends arbitrary requests to the sandbox's handler, in process
// (no socket): route picks one of fuzzRoutes (low five bits) and a
// Content-Type (high three bits: the route's own or one of
// fuzzContentTypes), arg fills the route's {arg} (a path segment or the
// query string) and body is the request body. The network is the demo
// network of `mxsim sandbox`. The target checks:
//
//   - no panic and no 5xx;
//   - every 4xx is a JSON object {"error": "..."} with a message, and
//     nothing else;
//   - a 2xx from the API is JSON;
//   - nothing half-applied: after a request that was not a success, the
//     hosts, zones and faults read back through the API are what they
//     were before, and no control event was journaled.
//
// After a successful change the target puts the network back as it
// started, so every input meets the same state. One network serves a
// fuzzing process, replaced every restartEvery inputs so that its
// journal stays small.
func FuzzAPI(f *testing.F) {
	for _, s := range apiSeeds() {
		f.Add(s.route, s.arg, []byte(s.body))
	}
	fx := &apiFuzz{}
	f.Cleanup(func() {
		if err := fx.stop(); err != nil {
			f.Errorf("stop: %v", err)
		}
	})
	f.Fuzz(func(t *testing.T, route uint8, arg string, body []byte) {
		fx.input(t, route, arg, body)
	})
}

const (
	// restartEvery is how many inputs one network serves before the
	// target starts a fresh one.
	restartEvery = 4096
	ctJSON       = "application/json"
	ctMerge      = "application/merge-patch+json"
)

// fuzzRoutes are the requests the target sends. "{arg}" is replaced by
// the fuzzed argument: in a path it is one segment, unescaped (it may hold
// "/", "..", anything); after "?" it is the raw query string.
var fuzzRoutes = []struct{ method, path, contentType string }{
	{"PATCH", "/api/hosts/mx2.example.test", ctMerge},
	{"PUT", "/api/hosts/mx2.example.test", ctJSON},
	{"PATCH", "/api/hosts/smtp.isp.test", ctJSON},
	{"PUT", "/api/hosts/mx1.example.test", ctJSON},
	{"PATCH", "/api/hosts/{arg}", ctMerge},
	{"POST", "/api/hosts/mx1.example.test/{arg}", ""},
	{"POST", "/api/hosts/{arg}/down", ""},
	{"POST", "/api/zones/example.test/records", ctJSON},
	{"PUT", "/api/zones/example.test/records", ctJSON},
	{"DELETE", "/api/zones/example.test/records?{arg}", ""},
	{"POST", "/api/zones/isp.test/records", ctJSON},
	{"PUT", "/api/zones/shop.example/records", ctJSON},
	{"PUT", "/api/zones/{arg}/records", ctJSON},
	{"DELETE", "/api/zones/{arg}/records?name=@", ""},
	{"POST", "/api/faults", ctJSON},
	{"DELETE", "/api/faults?{arg}", ""},
	{"POST", "/api/relay/flush", ctJSON},
	{"GET", "/api/hosts/{arg}", ""},
	{"GET", "/api/zones/{arg}", ""},
	{"GET", "/api/sessions/{arg}/transcript", ""},
	{"GET", "/api/messages/{arg}", ""},
	{"GET", "/api/info?{arg}", ""},
	{"DELETE", "/api/hosts/mx1.example.test", ctJSON},
	{"POST", "/api/{arg}", ctJSON},
	{"PUT", "/", ctJSON},
}

// fuzzContentTypes are the Content-Types a route's high bits pick; ""
// (index 0) keeps the route's own.
var fuzzContentTypes = []string{"", ctJSON, ctMerge, "", "text/plain", "application/json; charset=utf-8", `application/json; x="`, "multipart/form-data; boundary=x"}

// apiFuzz is one fuzzing process's network and sandbox. The fuzzing
// engine runs one input at a time per process.
type apiFuzz struct {
	env     *harness.Env
	srv     *sandbox.Server
	handler http.Handler
	host    string // the Host header: the listener's loopback address
	initial []byte // the hosts, zones and faults as the network started, read through the API
	zones   []fakedns.Zone
	hosts   map[string]fakesmtp.Behavior
	inputs  int
}

func (fx *apiFuzz) start() error {
	env, err := harness.New(context.Background(), sandbox.Demo())
	if err != nil {
		return err
	}
	srv, err := sandbox.New(sandbox.Config{Env: env})
	if err != nil {
		return errors.Join(err, env.Close())
	}
	fx.env, fx.srv, fx.handler, fx.host, fx.inputs = env, srv, srv.Handler(), srv.Addr(), 0
	fx.zones = env.DNS().Zones()
	fx.hosts = map[string]fakesmtp.Behavior{}
	for _, h := range env.Hosts() {
		fx.hosts[h.Name()] = h.Behavior()
	}
	fx.initial, err = fx.state()
	return err
}

func (fx *apiFuzz) stop() error {
	if fx.env == nil {
		return nil
	}
	err := errors.Join(fx.srv.Close(), fx.env.Close())
	fx.env, fx.srv = nil, nil
	return err
}

// serve runs one request through the handler.
func (fx *apiFuzz) serve(method, path, rawQuery, contentType string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/", bytes.NewReader(body))
	r.URL.Path, r.URL.RawQuery = path, rawQuery
	r.RequestURI = r.URL.RequestURI()
	r.Host = fx.host
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	fx.handler.ServeHTTP(w, r)
	return w
}

// state reads the hosts, zones and faults back through the API.
func (fx *apiFuzz) state() ([]byte, error) {
	var out []byte
	for _, p := range []string{"/api/hosts", "/api/zones", "/api/faults"} {
		w := fx.serve("GET", p, "", "", nil)
		if w.Code != http.StatusOK {
			return nil, fmt.Errorf("GET %s: status %d: %s", p, w.Code, w.Body)
		}
		out = append(append(out, w.Body.Bytes()...), '\n')
	}
	return out, nil
}

// restore puts the network back as it started: every host's behaviour,
// every zone, no fault.
func (fx *apiFuzz) restore() error {
	var errs []error
	for name, b := range fx.hosts {
		errs = append(errs, fx.env.Host(name).SetBehavior(b))
	}
	dns := fx.env.DNS()
	for _, z := range dns.Zones() {
		errs = append(errs, dns.RemoveZone(z.Name))
	}
	for _, z := range fx.zones {
		errs = append(errs, dns.AddZone(z))
	}
	dns.ClearFaults()
	return errors.Join(errs...)
}

func (fx *apiFuzz) input(t *testing.T, route uint8, arg string, body []byte) {
	if fx.env == nil || fx.inputs >= restartEvery {
		if err := fx.stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if err := fx.start(); err != nil {
			t.Fatalf("start: %v", err)
		}
	}
	fx.inputs++
	rt := fuzzRoutes[int(route&0x1f)%len(fuzzRoutes)]
	contentType := rt.contentType
	if c := fuzzContentTypes[route>>5]; c != "" {
		contentType = c
	}
	path, rawQuery, _ := strings.Cut(rt.path, "?")
	path = strings.Replace(path, "{arg}", arg, 1)
	rawQuery = strings.Replace(rawQuery, "{arg}", arg, 1)
	what := fmt.Sprintf("%s %q query %q (Content-Type %q) body %q", rt.method, path, rawQuery, contentType, body)

	j := fx.env.Journal()
	mark := int64(j.Len())
	w := fx.serve(rt.method, path, rawQuery, contentType, body)
	code, resp := w.Code, w.Body.Bytes()
	if code >= 500 {
		t.Fatalf("%s: status %d: %s", what, code, resp)
	}
	api := strings.HasPrefix(path, "/api/")
	if code >= 400 {
		checkError(t, what, w)
	} else if code < 300 && api && !json.Valid(resp) {
		t.Fatalf("%s: status %d with a body that is not JSON: %q", what, code, resp)
	}

	now, err := fx.state()
	if err != nil {
		t.Fatalf("after %s: %v", what, err)
	}
	if code < 200 || code >= 300 {
		if !bytes.Equal(now, fx.initial) {
			t.Fatalf("%s: status %d, yet the network changed:\n--- before\n%s--- after\n%s", what, code, fx.initial, now)
		}
		for _, e := range j.Since(mark) {
			if e.Kind == journal.KindControl {
				t.Fatalf("%s: status %d, yet a change was journaled: %s", what, code, e.Text)
			}
		}
		return
	}
	if !bytes.Equal(now, fx.initial) {
		if err := fx.restore(); err != nil {
			t.Fatalf("after %s: restore the demo network: %v", what, err)
		}
		again, err := fx.state()
		if err != nil || !bytes.Equal(again, fx.initial) {
			t.Fatalf("after %s: the demo network is not as it started after a restore (%v):\n--- want\n%s--- got\n%s", what, err, fx.initial, again)
		}
	}
}

// checkError checks that a 4xx answer is exactly {"error": "<message>"}.
func checkError(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: status %d with Content-Type %q, want JSON: %q", what, w.Code, ct, w.Body)
	}
	var e struct {
		Error string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || dec.More() || e.Error == "" {
		t.Fatalf("%s: status %d with body %q, want {\"error\": \"...\"} (%v)", what, w.Code, w.Body, err)
	}
}

// apiSeed is one seed input.
type apiSeed struct {
	route uint8
	arg   string
	body  string
}

// apiSeeds are requests each route takes, good and bad, the way the
// page and the API tests send them; testdata/fuzz/FuzzAPI holds odder
// ones. The route numbers index fuzzRoutes.
func apiSeeds() []apiSeed {
	return []apiSeed{
		{0, "", `{"greylist": {"window": "45s"}, "delays": {"rcpt": "10ms"}}`},
		{0, "", `{"greylist": null, "state": "down"}`},
		{0, "", `{"greylist": {"window": 1000000000}}`},
		{0, "", `{"greylist": {"window": "soon"}}`},
		{0, "", `{"state": "sideways", "greylist": null}`},
		{0, "", `{"limits": {"max_conns": -1}, "state": "down"}`},
		{0, "", `{"state": "down"} {}`},
		{0, "", `[1, 2]`},
		{1, "", `{"tls": {"starttls": "offered"}}`},
		{1, "", `{"tls": {"starttls": "maybe"}}`},
		{1, "", `{"replies": {"rcpt": [{"reply": {"code": 250}}]}}`},
		{1, "", `{"replies": {"rcpt": [{"match": "*@full.example.test", "reply": {"code": 452, "enhanced": "4.2.2", "text": "full", "times": 2}}]}}`},
		{2, "", `{"auth": {"mechanisms": ["PLAIN", "XOAUTH"], "users": {"": "x"}}}`},
		{3, "", `{"tpye": 1}`},
		{3, "", `{}`},
		{4, "MX2.example.test.", `{"hangup_after": 3}`},
		{4, "nope.example.test", `{}`},
		{5, "down", ""},
		{5, "up", ""},
		{5, "disconnect", ""},
		{5, "sideways", ""},
		{6, "../mx1.example.test", ""},
		{7, "", `{"name": "www", "record": "A 127.0.0.99"}`},
		{7, "", `{"name": "www", "record": "A not-an-ip"}`},
		{7, "", `{"name": "www", "type": "A", "record": "A 127.0.0.1"}`},
		{8, "", `{"name": "@", "type": "MX", "records": ["MX 5 mx9.example.test."]}`},
		{8, "", `{"name": "@", "type": "MX", "records": ["A 127.0.0.1"]}`},
		{8, "", `{"name": "other.test.", "type": "MX", "records": []}`},
		{8, "", `{"name": "@", "type": "MX", "recods": []}`},
		{9, "name=@&type=MX", ""},
		{9, "name=www&type=A", ""},
		{9, "type=MX", ""},
		{10, "", `{"name": "smtp", "record": "A 127.0.0.50"}`},
		{11, "", `{"name": "@", "type": "MX", "records": ["MX 10 mx-a.shop.example."]}`},
		{12, "nope.test", `{"type": "MX"}`},
		{13, "origin.test", ""},
		{14, "", `{"name": "example.test", "type": "MX", "kind": "servfail"}`},
		{14, "", `{"name": "mx1.example.test", "type": "A", "kind": "delay", "delay": "10ms", "times": 2}`},
		{14, "", `{"name": "example.test", "kind": "delay"}`},
		{14, "", `{"name": "example.test", "kind": "sideways"}`},
		{14, "", `{"kind": "servfail"}`},
		{15, "name=example.test&type=MX", ""},
		{15, "type=MX", ""},
		{15, "", ""},
		{16, "", ""},
		{17, "mx1.example.test", ""},
		{18, "example.test", ""},
		{19, "mx1.example.test#1", ""},
		{20, "1", ""},
		{20, "1.eml", ""},
		{21, "since=5", ""},
		{22, "", `{}`},
		{23, "nope", `{}`},
		{24, "", `{}`},
		{0 | 4<<5, "", `{"state": "down"}`},
		{7 | 3<<5, "", `{"name": "www", "record": "A 127.0.0.99"}`},
		{14 | 6<<5, "", `{"name": "example.test", "kind": "servfail"}`},
	}
}
