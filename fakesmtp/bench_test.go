package fakesmtp

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxsim/mxsim/journal"
)

// BenchmarkAccept measures sink throughput: 1 KiB messages over four
// parallel connections to a host that accepts everything and records
// every message. Compare msgs/s with Postfix smtp-sink (about 6900/s for
// smtp-source -s 20 -m 20000 -l 1024 on the reference machine).
func BenchmarkAccept(b *testing.B) {
	h := newHost(b, Behavior{})
	body := "Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 62)+"\r\n", 16)
	body = body[:1024-2] + "\r\n"
	var failed atomic.Int64
	b.SetBytes(int64(len(body)))
	b.SetParallelism(2) // 2 × GOMAXPROCS clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("tcp", h.Addr())
		if err != nil {
			failed.Add(1)
			return
		}
		c := smtp.NewClient(conn)
		defer c.Close()
		c.CommandTimeout = 30 * time.Second
		for pb.Next() {
			if err := send(c, "a@origin.test", []string{"b@example.test"}, body); err != nil {
				failed.Add(1)
				return
			}
		}
		c.Quit()
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d clients failed", n)
	}
	if n := count(h.Journal(), journal.KindSMTPMessage, nil); n != b.N {
		b.Fatalf("journal has %d messages, want %d", n, b.N)
	}
}

// BenchmarkNewHost measures starting and closing a host.
func BenchmarkNewHost(b *testing.B) {
	j := journal.New()
	for b.Loop() {
		h, err := NewHost(Config{Name: hostName, Journal: j})
		if err != nil {
			b.Fatal(err)
		}
		h.Close()
	}
}
