package sandbox

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/internal/metrics"
	"github.com/mxsim/mxsim/journal"
)

// DefaultListen is the address New binds when Config.Listen is empty:
// loopback only, a free port.
const DefaultListen = "127.0.0.1:0"

// What "mxsim sandbox" keeps by default (its --max-events, --max-messages
// and --max-message-bytes; harness.Config.JournalLimits): a sandbox left
// running for weeks stays within some tens of megabytes of events plus
// the message bytes, instead of growing until it runs out of memory.
// 100,000 events are the last few thousand SMTP sessions; 1,000 messages
// and 128 MiB are more than anyone reads back on a page.
const (
	DefaultMaxEvents       = 100_000
	DefaultMaxMessages     = 1_000
	DefaultMaxMessageBytes = 128 << 20
)

// DefaultLimits returns the journal limits of a long-running sandbox.
func DefaultLimits() journal.Limits {
	return journal.Limits{MaxEvents: DefaultMaxEvents, MaxMessages: DefaultMaxMessages, MaxMessageBytes: DefaultMaxMessageBytes}
}

// MinTokenLen is the shortest token New takes: a token guards a network
// that anyone who reaches the port could otherwise reconfigure, so a
// guessable one ("a") is refused rather than trusted.
const MinTokenLen = 16

// TokenCookie is the cookie that may carry the token on GET requests (the
// page's EventSource and links cannot set a header).
const TokenCookie = "mxsim_token"

// cspPage is the page's Content-Security-Policy: its own script and
// styles only, frames of its own origin (the HTML part of a message,
// itself sandboxed), no plug-ins, no forms sent anywhere.
const cspPage = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// shutdownGrace bounds how long Close waits for requests in flight.
const shutdownGrace = 5 * time.Second

// Sentinel errors.
var (
	// ErrConfig is wrapped by every error New returns for a bad Config.
	ErrConfig = errors.New("bad config")
)

//go:embed web
var webFS embed.FS

// Config configures a Server.
type Config struct {
	// Env is the running network to control (required). The Server never
	// closes it.
	Env *harness.Env
	// Listen is the "host:port" to serve on; default DefaultListen. The
	// host must be an IP address or "localhost". An address beyond
	// loopback (including an empty host, meaning every interface) needs
	// Token.
	Listen string
	// Token, when set, is required with every API request
	// ("Authorization: Bearer <token>"). Required beyond loopback.
	Token string
}

// Server is a running control API and web page. Its methods are safe for
// concurrent use.
type Server struct {
	env      *harness.Env
	token    string
	loopback bool
	ln       net.Listener
	srv      *http.Server
	done     chan struct{} // closed by Close: live streams end
	served   chan error    // Serve's result

	metrics *metrics.Collector // GET /metrics: Prometheus counters over the journal

	closeOnce sync.Once
	closeErr  error

	mu           sync.Mutex
	deleted      map[int64]bool // messages deleted, by event Seq
	deletedFloor int64          // journal events dropped when deleted was last pruned
}

// New checks cfg, binds the listener and starts serving. On error nothing
// is left running.
func New(cfg Config) (*Server, error) {
	if cfg.Env == nil {
		return nil, fmt.Errorf("sandbox: %w: no environment (Config.Env is nil)", ErrConfig)
	}
	listen := cfg.Listen
	if listen == "" {
		listen = DefaultListen
	}
	loopback, err := checkListen(listen)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(cfg.Token, " \t\r\n;,\"") {
		return nil, fmt.Errorf("sandbox: %w: token: must not contain blanks, quotes, ';' or ','", ErrConfig)
	}
	if cfg.Token != "" && len(cfg.Token) < MinTokenLen {
		return nil, fmt.Errorf("sandbox: %w: token: %d characters, want at least %d (leave it out and mxsim sandbox makes one)", ErrConfig, len(cfg.Token), MinTokenLen)
	}
	if !loopback && cfg.Token == "" {
		return nil, fmt.Errorf("sandbox: %w: listen %q is beyond loopback: a token is required", ErrConfig, listen)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen on %s: %w", listen, err)
	}
	mc, err := metrics.New(cfg.Env.Journal())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s := &Server{
		env:      cfg.Env,
		token:    cfg.Token,
		loopback: loopback,
		ln:       ln,
		done:     make(chan struct{}),
		served:   make(chan error, 1),
		deleted:  map[int64]bool{},
		metrics:  mc,
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { s.served <- s.srv.Serve(ln) }()
	return s, nil
}

// checkListen parses a listen address and reports whether it is loopback.
func checkListen(listen string) (bool, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return false, fmt.Errorf("sandbox: %w: listen %q: want host:port: %w", ErrConfig, listen, err)
	}
	if p, err := netip.ParseAddrPort("0.0.0.0:" + port); err != nil || p.Port() == 0 && port != "0" {
		return false, fmt.Errorf("sandbox: %w: listen %q: bad port %q", ErrConfig, listen, port)
	}
	switch {
	case host == "":
		return false, nil
	case strings.EqualFold(host, "localhost"):
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, fmt.Errorf("sandbox: %w: listen %q: host must be an IP address or localhost", ErrConfig, listen)
	}
	return ip.IsLoopback(), nil
}

// Addr returns the "IP:port" the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the address of the page, with the token in its fragment
// when one is set: "http://127.0.0.1:8025/#token=…". A server listening
// on every interface (0.0.0.0, ::) is named by the machine's host name,
// which a browser elsewhere can use, not by the unspecified address.
func (s *Server) URL() string { return pageURL(s.ln.Addr(), s.token, os.Hostname) }

func pageURL(addr net.Addr, token string, hostname func() (string, error)) string {
	host := addr.String()
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		name, err := hostname()
		if err != nil || name == "" {
			name = "localhost"
		}
		host = net.JoinHostPort(name, strconv.Itoa(ta.Port))
	}
	u := "http://" + host + "/"
	if token != "" {
		u += "#token=" + token
	}
	return u
}

// Close ends the live event streams, shuts the HTTP server down and waits
// until it has stopped. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		err := s.srv.Shutdown(ctx)
		if err != nil {
			err = errors.Join(err, s.srv.Close())
		}
		if serr := <-s.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		err = errors.Join(err, s.metrics.Close())
		if err != nil {
			s.closeErr = fmt.Errorf("sandbox: close: %w", err)
		}
	})
	return s.closeErr
}

// Handler returns the server's routes: the page at "/" and the API under
// "/api/", with the host, token and cross-origin checks. New serves it;
// it is exported for tests and for embedding in another server.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h apiFunc) { mux.Handle(pattern, s.requireToken(h)) }

	api("GET /api/info", s.getInfo)
	api("GET /api/hosts", s.listHosts)
	api("GET /api/hosts/{name}", s.getHost)
	api("PATCH /api/hosts/{name}", s.patchHost)
	api("PUT /api/hosts/{name}", s.putHost)
	api("POST /api/hosts/{name}/{action}", s.hostAction)
	api("GET /api/zones", s.listZones)
	api("GET /api/zones/{zone}", s.getZone)
	api("PUT /api/zones/{zone}", s.putZone)
	api("PUT /api/zones/{zone}/fault", s.putZoneFault)
	api("DELETE /api/zones/{zone}/fault", s.deleteZoneFault)
	api("POST /api/zones/{zone}/records", s.addRecord)
	api("PUT /api/zones/{zone}/records", s.setRecords)
	api("DELETE /api/zones/{zone}/records", s.removeRecords)
	api("GET /api/faults", s.listFaults)
	api("POST /api/faults", s.setFault)
	api("DELETE /api/faults", s.clearFault)
	api("POST /api/relay/flush", s.flushRelay)
	api("GET /api/journal", s.getJournal)
	api("GET /api/events", s.events)
	api("GET /api/messages", s.listMessages)
	api("DELETE /api/messages", s.deleteMessages)
	api("GET /api/messages/{id}", s.getMessage)
	api("DELETE /api/messages/{id}", s.deleteMessage)
	api("GET /api/messages/{id}/html", s.getHTML)
	api("GET /api/messages/{id}/parts/{n}", s.getPart)
	api("POST /api/send", s.send)
	api("GET /api/queue", s.getQueue)
	api("GET /api/schema", s.getSchema)
	api("GET /api/sessions", s.listSessions)
	api("GET /api/sessions/{id}/transcript", s.getTranscript)
	api("/api/", noRoute(mux, "/api/")) // 405 with Allow, or 404
	if s.metrics != nil {
		// Prometheus text format (docs/metrics.md); the token guards it too.
		mux.Handle("GET /metrics", s.requireToken(s.metrics.Handler()))
	}

	web, _ := fs.Sub(webFS, "web") // cannot fail: the directory is embedded
	files := http.FileServerFS(web)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path)
			return
		}
		w.Header().Set("Content-Security-Policy", cspPage)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	}))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
	}))
	return s.checkHost(cop.Handler(mux))
}

// checkHost refuses, on a loopback listener, requests whose Host header
// names anything but a loopback address or localhost: a page of another
// site that rebinds its DNS name to 127.0.0.1 cannot reach the API.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.loopback && !loopbackHost(r.Host) {
			writeError(w, http.StatusForbidden, "host %q refused: this sandbox answers only to loopback names", r.Host)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// requireToken checks the token, when one is set.
func (s *Server) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.token != "" && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mxsim sandbox"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong token: send \"Authorization: Bearer <token>\"")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	got := ""
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		got = strings.TrimSpace(tok)
	} else if r.Method == http.MethodGet || r.Method == http.MethodHead {
		// Only safe methods take the cookie: a state change always needs
		// the header, which no other site can make a browser send.
		if c, err := r.Cookie(TokenCookie); err == nil {
			got = c.Value
		}
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}
