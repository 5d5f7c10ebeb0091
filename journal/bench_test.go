package journal_test

import (
	"testing"

	"github.com/mxsim/mxsim/journal"
)

// event is a typical SMTP event: what a host appends for each command.
var event = journal.Event{
	Kind: journal.KindSMTPCommand, Source: "mx1.example.test", Session: "mx1.example.test#3",
	Remote: "127.0.0.1:40000", Local: "127.0.0.10:2525", Text: "RCPT TO:<bob@example.test>",
}

// BenchmarkAppend measures one writer appending to a journal that keeps
// everything (what harness environments use).
func BenchmarkAppend(b *testing.B) {
	j := journal.New()
	b.ReportAllocs()
	for b.Loop() {
		j.Append(event)
	}
}

// BenchmarkAppendParallel measures writers contending for one journal, as
// the hosts and the DNS of a busy network do.
func BenchmarkAppendParallel(b *testing.B) {
	j := journal.New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			j.Append(event)
		}
	})
}

// BenchmarkAppendBounded measures the sandbox's journal: it holds the last
// 100,000 events and the bytes of the last 1,000 messages (one event in
// ten is a message), so past the start it drops as much as it appends.
func BenchmarkAppendBounded(b *testing.B) {
	j := journal.NewBounded(journal.Limits{MaxEvents: 100_000, MaxMessages: 1_000})
	msg := journal.Event{Kind: journal.KindSMTPMessage, Source: "mx1.example.test", Session: "mx1.example.test#3",
		Message: &journal.Message{From: "a@x.test", To: []string{"b@y.test"}, Size: 281, Raw: make([]byte, 281)}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%10 == 0 {
			j.Append(msg)
		} else {
			j.Append(event)
		}
		i++
	}
}

// BenchmarkEvents measures reading a journal of 100,000 events whole, as
// Wait does at every Append.
func BenchmarkEvents(b *testing.B) {
	j := journal.New()
	for range 100_000 {
		j.Append(event)
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(j.Events()) != 100_000 {
			b.Fatal("events lost")
		}
	}
}
