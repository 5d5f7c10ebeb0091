package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrParse is wrapped by every error of the output parsers.
var ErrParse = errors.New("cannot parse tool output")

// DNSPerf is what dnsperf reports at the end of a run.
type DNSPerf struct {
	Sent, Completed, Lost int64
	QPS                   float64
	AvgLatency            time.Duration
}

var (
	reSent      = regexp.MustCompile(`Queries sent:\s+(\d+)`)
	reCompleted = regexp.MustCompile(`Queries completed:\s+(\d+)`)
	reLost      = regexp.MustCompile(`Queries lost:\s+(\d+)`)
	reQPS       = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	reAvg       = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
)

// ParseDNSPerf reads the statistics block dnsperf prints at the end.
func ParseDNSPerf(out string) (DNSPerf, error) {
	var r DNSPerf
	qps := reQPS.FindStringSubmatch(out)
	if qps == nil {
		return r, fmt.Errorf("bench: dnsperf output: no \"Queries per second\" line: %w", ErrParse)
	}
	r.QPS, _ = strconv.ParseFloat(qps[1], 64)
	r.Sent = firstInt(reSent, out)
	r.Completed = firstInt(reCompleted, out)
	r.Lost = firstInt(reLost, out)
	if m := reAvg.FindStringSubmatch(out); m != nil {
		s, _ := strconv.ParseFloat(m[1], 64)
		r.AvgLatency = time.Duration(s * float64(time.Second))
	}
	return r, nil
}

func firstInt(re *regexp.Regexp, s string) int64 {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// ParseDNSPerfLatencies reads the per-query lines of `dnsperf -v`
// ("> NOERROR example.test MX 0.000123") and returns each latency in
// seconds, with the number of answers that were not NOERROR.
func ParseDNSPerfLatencies(r io.Reader) (lat []float64, notOK int, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "> ") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		v, perr := strconv.ParseFloat(f[len(f)-1], 64)
		if perr != nil {
			continue // "> T ..." timeout lines carry no latency
		}
		if f[1] != "NOERROR" {
			notOK++
		}
		lat = append(lat, v)
	}
	if err := sc.Err(); err != nil {
		return lat, notOK, fmt.Errorf("bench: dnsperf output: %w", err)
	}
	return lat, notOK, nil
}

// Suite is the summary line of `mxsim run`.
type Suite struct {
	Passed, Failed, Errors int
	Elapsed                time.Duration
}

// Total is the number of scenarios run.
func (s Suite) Total() int { return s.Passed + s.Failed + s.Errors }

var reSuite = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed(?:, (\d+) errors?)?.*\bin ([0-9][0-9.a-zµ]*)\s*$`)

// ParseSuite reads the last summary line of `mxsim run`
// ("25 passed, 0 failed, 0 errors, in 17.4s").
func ParseSuite(out string) (Suite, error) {
	all := reSuite.FindAllStringSubmatch(out, -1)
	if all == nil {
		return Suite{}, fmt.Errorf("bench: mxsim run output: no summary line: %w", ErrParse)
	}
	m := all[len(all)-1]
	var s Suite
	s.Passed, _ = strconv.Atoi(m[1])
	s.Failed, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		s.Errors, _ = strconv.Atoi(m[3])
	}
	d, err := time.ParseDuration(m[4])
	if err != nil {
		return s, fmt.Errorf("bench: mxsim run output: duration %q: %w", m[4], ErrParse)
	}
	s.Elapsed = d
	return s, nil
}
