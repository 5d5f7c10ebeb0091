package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/journal"
)

func TestParsePolicy(t *testing.T) {
	good := "version: STSv1\r\nmode: enforce\r\nmx: MX1.example.test.\r\nmx: *.example.test\r\nmax_age: 86400\r\n"
	p, err := parsePolicy(good)
	if err != nil {
		t.Fatal(err)
	}
	if p.mode != stsEnforce || strings.Join(p.mx, ",") != "mx1.example.test,*.example.test" || p.maxAge != 24*time.Hour {
		t.Errorf("parsed %+v", p)
	}
	if p, err := parsePolicy("version: STSv1\nmode: none\nmax_age: 0\n"); err != nil || p.mode != stsNone {
		t.Errorf("mode none without mx: %+v, %v", p, err)
	}
	for _, body := range []string{
		"",
		"version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",
		"version: STSv1\nmode: enforced\nmx: a.test\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",
		"version: STSv1\nmode: testing\nmx: a.test\n",
		"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n",
		"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n",
		"version: STSv1\nmode enforce\nmx: a.test\nmax_age: 1\n",
	} {
		if _, err := parsePolicy(body); !errors.Is(err, errPolicy) {
			t.Errorf("parsePolicy(%q) = %v, want errPolicy", body, err)
		}
	}
}

func TestPolicyMatches(t *testing.T) {
	p := &stsPolicy{mx: []string{"mx1.example.test", "*.mail.example.test"}}
	for host, want := range map[string]bool{
		"mx1.example.test":        true,
		"MX1.Example.Test.":       true,
		"mx2.example.test":        false,
		"a.mail.example.test":     true,
		"mail.example.test":       false, // the wildcard needs one more label
		"a.b.mail.example.test":   false, // and only one
		"x.mx1.example.test":      false,
		"a.mail.example.test.org": false,
	} {
		if got := p.matches(host); got != want {
			t.Errorf("matches(%q) = %v, want %v", host, got, want)
		}
	}
}

// policyServer is an HTTPS server for mta-sts.example.test on the
// network, serving body (or status) at /.well-known/mta-sts.txt.
type policyServer struct {
	mu          sync.Mutex
	body        string
	status      int
	contentType string
	fetches     atomic.Int32
	port        int
}

func (ps *policyServer) set(body string) {
	ps.mu.Lock()
	ps.body = body
	ps.mu.Unlock()
}

func startPolicyServer(t *testing.T, ip string, cfg *tls.Config, body string) *policyServer {
	t.Helper()
	ps := &policyServer{body: body, status: http.StatusOK, contentType: "text/plain"}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	ps.port = l.Addr().(*net.TCPAddr).Port
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/mta-sts.txt", func(w http.ResponseWriter, r *http.Request) {
		ps.fetches.Add(1)
		ps.mu.Lock()
		defer ps.mu.Unlock()
		w.Header().Set("Content-Type", ps.contentType)
		w.WriteHeader(ps.status)
		_, _ = w.Write([]byte(ps.body))
	})
	srv := &http.Server{Handler: mux, TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 5 * time.Second}
	srv.SetKeepAlivesEnabled(false)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(tls.NewListener(l, cfg)) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		<-done
	})
	return ps
}

const enforceMX2 = "version: STSv1\nmode: enforce\nmx: mx2.example.test\nmax_age: 86400\n"

func TestMTASTS(t *testing.T) {
	ca := newCA(t)
	cases := []struct {
		name    string
		body    string // the policy; "" none served
		txt     string // the TXT record; "" none
		webTLS  func() *tls.Config
		status  int    // HTTP status; 0: 200
		ctype   string // Content-Type; "": text/plain
		mx1TLS  func() *tls.Config
		bugs    Bugs
		wantMX1 int // messages at mx1 (unlisted in enforceMX2)
		wantMX2 int
		wantLog string
	}{
		{name: "enforce: unlisted mx1 skipped", body: enforceMX2, txt: "v=STSv1; id=1;", wantMX2: 1, wantLog: "MTA-STS policy of example.test (mode enforce, id 1) does not list it"},
		{name: "testing: mx1 used", body: strings.Replace(enforceMX2, "enforce", "testing", 1), txt: "v=STSv1; id=1;", wantMX1: 1, wantLog: "delivering anyway"},
		{name: "none: mx1 used", body: "version: STSv1\nmode: none\nmax_age: 86400\n", txt: "v=STSv1; id=1;", wantMX1: 1},
		{name: "no TXT: no policy", body: enforceMX2, wantMX1: 1},
		{name: "TXT without v=STSv1: no policy", body: enforceMX2, txt: "v=STSv2; id=1;", wantMX1: 1},
		{name: "bad id: no policy", body: enforceMX2, txt: "v=STSv1; id=a-b;", wantMX1: 1, wantLog: "bad id"},
		{name: "404: no policy", body: enforceMX2, txt: "v=STSv1; id=1;", status: http.StatusNotFound, wantMX1: 1, wantLog: "HTTP 404"},
		{name: "wrong Content-Type: no policy", body: enforceMX2, txt: "v=STSv1; id=1;", ctype: "text/html", wantMX1: 1, wantLog: "Content-Type"},
		{name: "web host expired: no policy", body: enforceMX2, txt: "v=STSv1; id=1;", webTLS: func() *tls.Config { return ca.serverTLS("mta-sts.example.test", true) }, wantMX1: 1, wantLog: "certificate"},
		{name: "web host wrong name: no policy", body: enforceMX2, txt: "v=STSv1; id=1;", webTLS: func() *tls.Config { return ca.serverTLS("www.example.test", false) }, wantMX1: 1, wantLog: "certificate"},
		{name: "web host untrusted: no policy", body: enforceMX2, txt: "v=STSv1; id=1;", webTLS: func() *tls.Config { return newCA(t).serverTLS("mta-sts.example.test", false) }, wantMX1: 1, wantLog: "certificate"},
		{name: "enforce: listed mx1 with an untrusted certificate skipped", body: strings.Replace(enforceMX2, "mx: mx2.example.test", "mx: *.example.test", 1), txt: "v=STSv1; id=1;",
			mx1TLS: func() *tls.Config { return newCA(t).serverTLS("mx1.example.test", false) }, wantMX2: 1, wantLog: "TLS with mx1.example.test failed"},
		{name: "enforce: listed mx1 without STARTTLS skipped", body: strings.Replace(enforceMX2, "mx: mx2.example.test", "mx: *.example.test", 1), txt: "v=STSv1; id=1;",
			mx1TLS: func() *tls.Config { return nil }, wantMX2: 1, wantLog: "does not offer STARTTLS and the policy enforces TLS"},
		{name: "planted bug: enforce as testing", body: enforceMX2, txt: "v=STSv1; id=1;", bugs: Bugs{STSEnforceAsTesting: true}, wantMX1: 1},
		{name: "planted bug: untrusted certificate used", body: strings.Replace(enforceMX2, "mx: mx2.example.test", "mx: *.example.test", 1), txt: "v=STSv1; id=1;",
			mx1TLS: func() *tls.Config { return newCA(t).serverTLS("mx1.example.test", false) }, bugs: Bugs{STSEnforceAsTesting: true}, wantMX1: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newNetwork(t, twoMX...)
			n.zone("mta-sts.example.test. A {net}60")
			if tc.txt != "" {
				n.zone(`_mta-sts.example.test. TXT "` + tc.txt + `"`)
			}
			web := ca.serverTLS("mta-sts.example.test", false)
			if tc.webTLS != nil {
				web = tc.webTLS()
			}
			ps := startPolicyServer(t, n.ip(60), web, tc.body)
			if tc.status != 0 {
				ps.status = tc.status
			}
			if tc.ctype != "" {
				ps.contentType = tc.ctype
			}
			t1 := ca.serverTLS("mx1.example.test", false)
			if tc.mx1TLS != nil {
				t1 = tc.mx1TLS()
			}
			mx1 := n.host(11, "mx1.example.test", hostOpts{TLS: t1})
			mx2 := n.host(12, "mx2.example.test", hostOpts{TLS: ca.serverTLS("mx2.example.test", false)})
			r := n.startRelay(Config{MTASTS: true, MTASTSPort: ps.port, RootCAs: ca.Pool, Bugs: tc.bugs})
			mustSubmit(t, r, "alice@origin.test", "bob@example.test")
			idle(t, r)
			delivered(t, r, mx1, tc.wantMX1)
			if m := delivered(t, r, mx2, tc.wantMX2); len(m) == 1 && !m[0].TLS {
				t.Error("mx2 got the message without TLS")
			}
			if tc.wantLog != "" && !strings.Contains(logText(r), tc.wantLog) {
				t.Errorf("relay log lacks %q:\n%s", tc.wantLog, logText(r))
			}
			if !n.dns.asked("_mta-sts.example.test.", "TXT") {
				t.Error("the TXT record was never asked for")
			}
		})
	}
}

// TestMTASTSDefersWhenNoHostIsListed: enforce with no listed MX keeps
// the mail (4.7.5), bounces nothing.
func TestMTASTSDefersWhenNoHostIsListed(t *testing.T) {
	ca := newCA(t)
	n := newNetwork(t, "example.test. MX 10 mx1.example.test.", "mx1.example.test. A {net}11", "mta-sts.example.test. A {net}60",
		`_mta-sts.example.test. TXT "v=STSv1; id=1;"`)
	ps := startPolicyServer(t, n.ip(60), ca.serverTLS("mta-sts.example.test", false), enforceMX2)
	mx1 := n.host(11, "mx1.example.test", hostOpts{TLS: ca.serverTLS("mx1.example.test", false)})
	r := n.startRelay(Config{MTASTS: true, MTASTSPort: ps.port, RootCAs: ca.Pool})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	delivered(t, r, mx1, 0)
	q := r.Queue()
	if len(q) != 1 || len(events(r, journal.KindRelayBounce)) != 0 {
		t.Fatalf("want deferred, not bounced: queue %+v", q)
	}
	if !strings.Contains(q[0].LastError, "4.7.5") || !strings.Contains(q[0].LastError, "no MX host of example.test matches its policy") {
		t.Errorf("last error %q", q[0].LastError)
	}
	if s, _ := mx1.counts(); s != 0 {
		t.Errorf("%d sessions at mx1; the relay should not even connect", s)
	}
}

// TestMTASTSCacheByID: the policy is fetched once per id; a new id fetches
// the new policy; a failed fetch or a vanished TXT record keeps the cached
// one (RFC 8461 §5.1).
func TestMTASTSCacheByID(t *testing.T) {
	ca := newCA(t)
	n := newNetwork(t, append([]string{"mta-sts.example.test. A {net}60", `_mta-sts.example.test. TXT "v=STSv1; id=1;"`}, twoMX...)...)
	ps := startPolicyServer(t, n.ip(60), ca.serverTLS("mta-sts.example.test", false), enforceMX2)
	mx1 := n.host(11, "mx1.example.test", hostOpts{TLS: ca.serverTLS("mx1.example.test", false)})
	mx2 := n.host(12, "mx2.example.test", hostOpts{TLS: ca.serverTLS("mx2.example.test", false)})
	r := n.startRelay(Config{MTASTS: true, MTASTSPort: ps.port, RootCAs: ca.Pool})
	send := func() {
		t.Helper()
		mustSubmit(t, r, "alice@origin.test", "bob@example.test")
		idle(t, r)
	}
	send()
	send()
	if got := ps.fetches.Load(); got != 1 {
		t.Errorf("%d fetches for two messages under one id, want 1", got)
	}
	delivered(t, r, mx2, 2)

	// A new body under the same id is not fetched.
	ps.set(strings.Replace(enforceMX2, "mx2", "mx1", 1))
	send()
	delivered(t, r, mx2, 3)

	// A new id is.
	n.dns.mu.Lock()
	delete(n.dns.records, "_mta-sts.example.test.")
	n.dns.mu.Unlock()
	n.zone(`_mta-sts.example.test. TXT "v=STSv1; id=2;"`)
	send()
	delivered(t, r, mx1, 1)
	if got := ps.fetches.Load(); got != 2 {
		t.Errorf("%d fetches after the id changed, want 2", got)
	}

	// A failing fetch under a third id keeps the cached policy (mx1 only).
	ps.mu.Lock()
	ps.status = http.StatusInternalServerError
	ps.mu.Unlock()
	n.dns.mu.Lock()
	delete(n.dns.records, "_mta-sts.example.test.")
	n.dns.mu.Unlock()
	n.zone(`_mta-sts.example.test. TXT "v=STSv1; id=3;"`)
	send()
	delivered(t, r, mx1, 2)
	if !strings.Contains(logText(r), "the cached one (id 2, mode enforce) stays in force") {
		t.Errorf("relay log:\n%s", logText(r))
	}

	// No TXT record at all: the cached policy still applies.
	n.dns.fail("_mta-sts.example.test.", dns.RcodeNameError)
	send()
	delivered(t, r, mx1, 3)
	delivered(t, r, mx2, 3)
}

func TestMTASTSPortChecked(t *testing.T) {
	if _, _, err := normalize(Config{DNS: "127.0.0.1:53", MTASTSPort: 70000}); !errors.Is(err, ErrConfig) {
		t.Errorf("MTASTSPort 70000: %v", err)
	}
	cfg, _, err := normalize(Config{DNS: "127.0.0.1:53", MTASTS: true})
	if err != nil || cfg.MTASTSPort != DefaultMTASTSPort {
		t.Errorf("default port %d, %v", cfg.MTASTSPort, err)
	}
}

// TestMTASTSDANEFirst: under TLS dane, a host with secure TLSA records is
// judged by them, not by the MTA-STS policy (RFC 8461 §2): its certificate
// from an untrusted CA matches its DANE-EE record, and it gets the mail;
// its neighbour without TLSA records falls under the policy.
func TestMTASTSDANEFirst(t *testing.T) {
	ca := newCA(t)
	n := newNetwork(t, append([]string{"mta-sts.example.test. A {net}60", `_mta-sts.example.test. TXT "v=STSv1; id=1;"`}, twoMX...)...)
	n.dns.setAD(true)
	ps := startPolicyServer(t, n.ip(60), ca.serverTLS("mta-sts.example.test", false), strings.Replace(enforceMX2, "mx: mx2.example.test", "mx: *.example.test", 1))
	own := newCA(t).serverTLS("mx1.example.test", false)
	mx1 := n.host(11, "mx1.example.test", hostOpts{TLS: own})
	n.host(12, "mx2.example.test", hostOpts{TLS: ca.serverTLS("mx2.example.test", false)})
	n.zone("_" + strconv.Itoa(n.port) + "._tcp.mx1.example.test. TLSA " + tlsaOf(t, 3, 1, 1, leafOf(t, own)))
	r := n.startRelay(Config{TLS: TLSDane, MTASTS: true, MTASTSPort: ps.port, RootCAs: ca.Pool})
	mustSubmit(t, r, "alice@origin.test", "bob@example.test")
	idle(t, r)
	if m := delivered(t, r, mx1, 1); !m[0].TLS {
		t.Error("mx1 got the message without TLS")
	}
}
