package sandbox

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestToken(t *testing.T) {
	f := newFixture(t, Config{Token: "s3cret-token-4567"})
	if !strings.HasSuffix(f.srv.URL(), "/#token=s3cret-token-4567") {
		t.Fatalf("URL %q does not carry the token", f.srv.URL())
	}
	f.want(http.StatusOK, nil, "GET", "/api/hosts", "", nil)
	f.want(http.StatusOK, nil, "POST", "/api/hosts/mx1.example.test/down", "", nil)

	send := func(method, path string, set func(*http.Request)) int {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+f.srv.Addr()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		set(req)
		resp, err := f.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		set    func(*http.Request)
		want   int
	}{
		{"no token", "GET", "/api/hosts", func(*http.Request) {}, http.StatusUnauthorized},
		{"wrong token", "GET", "/api/hosts", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, http.StatusUnauthorized},
		{"basic auth", "GET", "/api/hosts", func(r *http.Request) { r.SetBasicAuth("s3cret-token-4567", "") }, http.StatusUnauthorized},
		{"no token, state change", "POST", "/api/hosts/mx1.example.test/up", func(*http.Request) {}, http.StatusUnauthorized},
		{"no token, unknown endpoint", "GET", "/api/nope", func(*http.Request) {}, http.StatusUnauthorized},
		{"cookie on GET", "GET", "/api/hosts", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: TokenCookie, Value: "s3cret-token-4567"}) }, http.StatusOK},
		{"cookie on POST", "POST", "/api/hosts/mx1.example.test/up", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: TokenCookie, Value: "s3cret-token-4567"})
		}, http.StatusUnauthorized},
		{"bearer, any case", "GET", "/api/hosts", func(r *http.Request) { r.Header.Set("Authorization", "bearer s3cret-token-4567") }, http.StatusOK},
		{"page needs no token", "GET", "/", func(*http.Request) {}, http.StatusOK},
	} {
		if got := send(tc.method, tc.path, tc.set); got != tc.want {
			t.Errorf("%s: %s %s: status %d, want %d", tc.name, tc.method, tc.path, got, tc.want)
		}
	}
	if st := f.env.Host("mx1.example.test").Behavior().State; st != "down" {
		t.Fatalf("an unauthorized request changed mx1: state %q", st)
	}
}

func TestLoopbackOnlyAndCrossOrigin(t *testing.T) {
	f := newFixture(t, Config{})
	send := func(set func(*http.Request), method, path string) int {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+f.srv.Addr()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		set(req)
		resp, err := f.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// DNS rebinding: a foreign name pointing at 127.0.0.1.
	if got := send(func(r *http.Request) { r.Host = "evil.example" }, "GET", "/api/hosts"); got != http.StatusForbidden {
		t.Errorf("Host evil.example: status %d, want 403", got)
	}
	if got := send(func(r *http.Request) { r.Host = "localhost:8025" }, "GET", "/api/hosts"); got != http.StatusOK {
		t.Errorf("Host localhost: status %d, want 200", got)
	}
	// A page of another site posting to the sandbox.
	cross := func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }
	if got := send(cross, "POST", "/api/hosts/mx1.example.test/down"); got != http.StatusForbidden {
		t.Errorf("cross-site POST: status %d, want 403", got)
	}
	if st := f.env.Host("mx1.example.test").Behavior().State; st == "down" {
		t.Fatal("a cross-site request took mx1 down")
	}
	if got := send(func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin") }, "POST", "/api/hosts/mx1.example.test/down"); got != http.StatusOK {
		t.Errorf("same-origin POST: status %d, want 200", got)
	}
}

// TestPageURL: a server on every interface prints a URL a browser can use,
// named by the machine, not "http://[::]:P/" or "http://0.0.0.0:P/".
func TestPageURL(t *testing.T) {
	name := func() (string, error) { return "box.example", nil }
	broken := func() (string, error) { return "", errors.New("no name") }
	for _, tc := range []struct {
		addr     net.Addr
		token    string
		hostname func() (string, error)
		want     string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8025}, "", name, "http://127.0.0.1:8025/"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 8025}, "", name, "http://[::1]:8025/"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8025}, "t0123456789abcdef", name, "http://box.example:8025/#token=t0123456789abcdef"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9000}, "", name, "http://box.example:9000/"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9000}, "", broken, "http://localhost:9000/"},
	} {
		if got := pageURL(tc.addr, tc.token, tc.hostname); got != tc.want {
			t.Errorf("pageURL(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
