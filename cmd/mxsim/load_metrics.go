package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mxsim/mxsim/internal/metrics"
	"github.com/mxsim/mxsim/journal"
)

// loadMetrics serves the Prometheus counters of a load run's network
// (mxsim load -metrics ADDR), the same as the sandbox's /metrics:
//
//  1. listenMetrics checks the address (loopback only: the counters name
//     the network's hosts, and a load run has no token to guard them)
//     and binds it before anything else starts, so that a bad address or
//     a port in use is a usage error;
//  2. it serves at once; until the network is up /metrics answers 503;
//  3. attach, called through load.Config.Journal once the network is up
//     and before submission starts, starts a collector over its journal;
//  4. Close, after the summary and the reports are written, shuts the
//     server down and stops the collector: the last scrape sees the whole
//     run, and no goroutine or port is left.
type loadMetrics struct {
	ln     net.Listener
	srv    *http.Server
	served chan error // Serve's error, once it has returned

	mu sync.Mutex
	c  *metrics.Collector
	h  http.Handler // c's

	once     sync.Once
	closeErr error
}

// metricsReadHeaderTimeout bounds how long a scraper may take to send its
// request headers.
const metricsReadHeaderTimeout = 10 * time.Second

// checkMetricsAddr checks the form of a -metrics address: host:port with
// a loopback host (an IP address or localhost).
func checkMetricsAddr(addr string) error {
	loopback, err := loopbackListen(addr)
	if err != nil {
		return err
	}
	if !loopback {
		return errors.New("not a loopback address: a load run serves its metrics on loopback only, such as 127.0.0.1:9464")
	}
	return nil
}

// listenMetrics binds addr (checked by checkMetricsAddr) and serves.
func listenMetrics(addr string) (*loadMetrics, error) {
	if err := checkMetricsAddr(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	m := &loadMetrics{ln: ln, served: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", m.serveMetrics)
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: metricsReadHeaderTimeout}
	go func() { m.served <- m.srv.Serve(ln) }()
	return m, nil
}

// URL is where the counters are scraped.
func (m *loadMetrics) URL() string { return "http://" + m.ln.Addr().String() + "/metrics" }

// attach starts counting the events of j, the network's journal. It is
// load.Config.Journal.
func (m *loadMetrics) attach(j *journal.Journal) {
	c, err := metrics.New(j)
	if err != nil {
		return // only for a nil journal, which load.Run never passes
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.c != nil {
		_ = m.c.Close()
	}
	m.c, m.h = c, c.Handler()
}

func (m *loadMetrics) serveMetrics(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	h := m.h
	m.mu.Unlock()
	if h == nil {
		http.Error(w, "the network of the load run is not up yet", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

// Close stops the server (open scrapes are cut off) and the collector. It
// is safe to call more than once.
func (m *loadMetrics) Close() error {
	m.once.Do(func() {
		err := m.srv.Close()
		if serr := <-m.served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		m.mu.Lock()
		if m.c != nil {
			err = errors.Join(err, m.c.Close())
		}
		m.mu.Unlock()
		if err != nil {
			m.closeErr = fmt.Errorf("metrics: %w", err)
		}
	})
	return m.closeErr
}
