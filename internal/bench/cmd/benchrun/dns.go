package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/internal/bench"
)

const dnsOrigin = "bench.test"

// dnsResult is one server's throughput and latency runs.
type dnsResult struct {
	qps      float64
	avg      time.Duration
	p50, p99 float64 // seconds, at the fixed offered load
	lost     int64
	notOK    int
	recorded int // queries in the fakedns journal (-1 for NSD)
}

var reDNSCount = regexp.MustCompile(`dnsserve: (\d+) queries journaled`)

// nsdConf is an NSD configuration for one run: the zone, loopback only,
// response-rate limiting off (it caps a single client at ~200 qps), no
// privilege drop, no remote control, everything under dir.
func nsdConf(dir, ip string, port, servers int, zoneFile string) string {
	return fmt.Sprintf(`server:
  ip-address: %s@%d
  port: %d
  username: ""
  chroot: ""
  zonesdir: "%s"
  pidfile: "%s/nsd.pid"
  zonelistfile: "%s/zone.list"
  xfrdfile: "%s/xfrd.state"
  xfrdir: "%s"
  database: ""
  logfile: "%s/nsd.log"
  verbosity: 0
  server-count: %d
  reuseport: yes
  rrl-ratelimit: 0
  hide-version: yes
remote-control:
  control-enable: no
zone:
  name: %s
  zonefile: "%s"
`, ip, port, port, dir, dir, dir, dir, dir, dir, servers, dnsOrigin, zoneFile)
}

// dnsOnce starts a server ("nsd" or "fakedns"), runs dnsperf for
// throughput and for latency at a fixed rate, and stops it.
func (r *runner) dnsOnce(ctx context.Context, server, zoneFile, queryFile, cpuprofile string) (dnsResult, error) {
	ap, err := bench.FreeAddr()
	if err != nil {
		return dnsResult{}, err
	}
	ip, port := ap.Addr().String(), int(ap.Port())
	ready, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var p *bench.Proc
	switch server {
	case "nsd":
		dir, err := os.MkdirTemp(r.c.work, "nsd-")
		if err != nil {
			return dnsResult{}, err
		}
		conf := filepath.Join(dir, "nsd.conf")
		if err := os.WriteFile(conf, []byte(nsdConf(dir, ip, port, runtime.NumCPU(), zoneFile)), 0o644); err != nil {
			return dnsResult{}, err
		}
		if p, err = r.g.Start("nsd", "-d", "-c", conf); err != nil {
			return dnsResult{}, err
		}
		err = bench.WaitTCP(ready, ap.String())
		if err == nil {
			// TCP answers before every UDP server process has loaded the
			// zone: wait for a UDP answer too.
			err = r.dnsReady(ready, ip, port)
		}
	default:
		args := []string{"-addr", ap.String(), "-zone", zoneFile, "-origin", dnsOrigin}
		if cpuprofile != "" {
			args = append(args, "-cpuprofile", cpuprofile)
		}
		if p, err = r.g.Start(r.binary("dnsserve"), args...); err != nil {
			return dnsResult{}, err
		}
		err = p.WaitOutput(ready, "listening on")
	}
	if err != nil {
		p.Stop(time.Second)
		return dnsResult{}, fmt.Errorf("%s: %w", server, err)
	}
	res, err := r.dnsperf(ctx, ip, port, queryFile)
	stopErr := p.Stop(10 * time.Second)
	if err != nil {
		return res, fmt.Errorf("%s: %w", server, err)
	}
	res.recorded = -1
	if server == "fakedns" {
		if stopErr != nil {
			return res, stopErr
		}
		m := reDNSCount.FindStringSubmatch(p.Output())
		if m == nil {
			return res, fmt.Errorf("dnsserve printed no count: %q", p.Output())
		}
		res.recorded, _ = strconv.Atoi(m[1])
	}
	return res, nil
}

// dnsReady waits until the server answers a UDP query.
func (r *runner) dnsReady(ctx context.Context, ip string, port int) error {
	q := filepath.Join(r.c.work, "ready.txt")
	if err := os.WriteFile(q, []byte(dnsOrigin+" SOA\n"), 0o644); err != nil {
		return err
	}
	for {
		out, _, err := r.g.Run(ctx, "dnsperf", "-s", ip, "-p", strconv.Itoa(port), "-d", q, "-n", "1", "-t", "1")
		if err == nil {
			if st, perr := bench.ParseDNSPerf(out); perr == nil && st.Completed > 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no UDP answer: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *runner) dnsperf(ctx context.Context, ip string, port int, queryFile string) (dnsResult, error) {
	var res dnsResult
	runCtx, cancel := context.WithTimeout(ctx, time.Duration(r.c.dnsSeconds+r.c.dnsLatencySeconds+60)*time.Second)
	defer cancel()
	common := []string{"-s", ip, "-p", strconv.Itoa(port), "-d", queryFile, "-c", strconv.Itoa(r.c.dnsClients)}
	out, _, err := r.g.Run(runCtx, "dnsperf", append(common, "-l", strconv.Itoa(r.c.dnsSeconds))...)
	if err != nil {
		return res, err
	}
	st, err := bench.ParseDNSPerf(out)
	if err != nil {
		return res, err
	}
	res.qps, res.avg, res.lost = st.QPS, st.AvgLatency, st.Lost
	out, _, err = r.g.Run(runCtx, "dnsperf", append(common, "-l", strconv.Itoa(r.c.dnsLatencySeconds), "-Q", strconv.Itoa(r.c.dnsLatencyQPS), "-v")...)
	if err != nil {
		return res, err
	}
	lat, notOK, err := bench.ParseDNSPerfLatencies(strings.NewReader(out))
	if err != nil {
		return res, err
	}
	res.notOK = notOK
	if res.p50, err = bench.Percentile(lat, 50); err != nil {
		return res, fmt.Errorf("latency run: %w", err)
	}
	res.p99, _ = bench.Percentile(lat, 99)
	return res, nil
}

func (r *runner) dns(ctx context.Context) (bench.Section, error) {
	zoneFile := filepath.Join(r.c.work, "bench.test.zone")
	queryFile := filepath.Join(r.c.work, "queries.txt")
	if err := writeWith(zoneFile, func(f *os.File) error { return bench.BenchZone(f, dnsOrigin, r.c.dnsDomains) }); err != nil {
		return bench.Section{}, err
	}
	if err := writeWith(queryFile, func(f *os.File) error { return bench.BenchQueries(f, dnsOrigin, r.c.dnsDomains) }); err != nil {
		return bench.Section{}, err
	}
	sec := bench.Section{
		Title: "DNS: fakedns versus NSD",
		Setup: fmt.Sprintf("One zone, `%s`, with %d mail domains (MX and TXT each) and %d MX hosts (A), generated as an RFC 1035 file that "+
			"NSD serves (`server-count: %d`, `reuseport`, `rrl-ratelimit: 0`) and that `internal/bench/cmd/dnsserve` loads into fakedns "+
			"(which journals every query, in a fresh journal per run). dnsperf replays MX and A queries for those names: "+
			"throughput for %d s with %d clients and up to 100 queries outstanding; then latency at a fixed %d queries/s for %d s "+
			"(`-Q`, `-v`: p50 and p99 of every answer). Each run measures NSD, then fakedns.",
			dnsOrigin, r.c.dnsDomains, max(r.c.dnsDomains/10, 1), runtime.NumCPU(), r.c.dnsSeconds, r.c.dnsClients, r.c.dnsLatencyQPS, r.c.dnsLatencySeconds),
		Table: bench.Table{Header: []string{"server", "queries/s", "per-run queries/s", "avg latency (throughput run)", fmt.Sprintf("p50 at %d qps", r.c.dnsLatencyQPS), fmt.Sprintf("p99 at %d qps", r.c.dnsLatencyQPS), "lost", "journaled"}},
	}
	var nsdQ, fakeQ []float64
	var rows [2][]dnsResult
	for i := range r.c.runs {
		a, err := r.dnsOnce(ctx, "nsd", zoneFile, queryFile, "")
		if err != nil {
			return sec, err
		}
		b, err := r.dnsOnce(ctx, "fakedns", zoneFile, queryFile, "")
		if err != nil {
			return sec, err
		}
		r.logf("dns run %d: nsd %.0f qps p99 %.0fµs, fakedns %.0f qps p99 %.0fµs (journaled %d)", i+1, a.qps, a.p99*1e6, b.qps, b.p99*1e6, b.recorded)
		nsdQ, fakeQ = append(nsdQ, a.qps), append(fakeQ, b.qps)
		rows[0], rows[1] = append(rows[0], a), append(rows[1], b)
	}
	for k, name := range []string{"NSD", "fakedns"} {
		var avg, p50, p99, lost, rec []float64
		for _, x := range rows[k] {
			avg = append(avg, float64(x.avg))
			p50 = append(p50, x.p50*1e9)
			p99 = append(p99, x.p99*1e9)
			lost = append(lost, float64(x.lost))
			rec = append(rec, float64(x.recorded))
		}
		q := []float64{}
		for _, x := range rows[k] {
			q = append(q, x.qps)
		}
		journaled := "—"
		if k == 1 {
			journaled = fmt.Sprintf("%.0f queries (median)", med(rec))
		}
		sec.Table.Rows = append(sec.Table.Rows, []string{name, fmt.Sprintf("%.0f", med(q)), list(q, func(x float64) string { return fmt.Sprintf("%.0f", x) }),
			us(med(avg)), us(med(p50)), us(med(p99)), fmt.Sprintf("%.0f", med(lost)), journaled})
	}
	rs := bench.Ratios(fakeQ, nsdQ)
	rat := med(rs)
	sec.Notes = append(sec.Notes, "fakedns ÷ NSD queries/s per run: "+list(rs, ratio)+".")
	t := bench.Target{ID: "dns", What: "fakedns ÷ NSD queries/s", Want: "≥ 0.50×", Got: ratio(rat), Met: rat >= 0.5}
	if !t.Met {
		prof := filepath.Join(r.c.work, "dnsserve.cpu.prof")
		if _, err := r.dnsOnce(ctx, "fakedns", zoneFile, queryFile, prof); err != nil {
			t.Profile = "profile run failed: " + err.Error()
		} else {
			t.Profile = fmt.Sprintf("$ dnsserve -addr ADDR -zone %s.zone -origin %s -cpuprofile dnsserve.prof   # driven by dnsperf as above\n$ go tool pprof -top -nodecount=25 dnsserve dnsserve.prof\n", dnsOrigin, dnsOrigin) +
				r.pprofTop(ctx, r.binary("dnsserve"), prof)
		}
		t.Explain = bench.Finding(t.ID)
	}
	sec.Targets = append(sec.Targets, t)
	return sec, nil
}

func writeWith(path string, fill func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
