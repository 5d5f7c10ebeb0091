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

// BenchmarkConnPerMessage is the workload of `make bench` (smtp-source
// without -d): every message on a new connection, 1 KiB and 100 KiB
// bodies, to a host that accepts and records everything. Profile it with
//
//	go test -run '^$' -bench ConnPerMessage -cpuprofile cpu.prof ./fakesmtp
func BenchmarkConnPerMessage(b *testing.B) {
	for _, size := range []int{1024, 100 * 1024} {
		name := "1KiB"
		if size > 1024 {
			name = "100KiB"
		}
		b.Run(name, func(b *testing.B) {
			h := newHost(b, Behavior{})
			body := "Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 62)+"\r\n", size/64+1)
			var failed atomic.Int64
			b.SetBytes(int64(len(body)))
			b.SetParallelism(4) // 4 × GOMAXPROCS clients, like smtp-source -s 20 on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					conn, err := net.Dial("tcp", h.Addr())
					if err != nil {
						failed.Add(1)
						return
					}
					c := smtp.NewClient(conn)
					c.CommandTimeout = 30 * time.Second
					err = send(c, "a@origin.test", []string{"b@example.test"}, body)
					if err == nil {
						err = c.Quit()
					}
					c.Close()
					if err != nil {
						failed.Add(1)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d clients failed", n)
			}
			if n := count(h.Journal(), journal.KindSMTPMessage, nil); n != b.N {
				b.Fatalf("journal has %d messages, want %d", n, b.N)
			}
		})
	}
}
