package postfix

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// TestLogSink sends the syslog datagram of a refused connection to the log
// socket: it becomes one relay.attempt in the attached journal and a
// relay.log in the sink's own, and close ends the reader.
func TestLogSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	s, err := listenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	j := journal.New()
	s.attach(j)
	c, err := net.Dial("unixgram", path)
	if err != nil {
		s.close()
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("<22>Nov 26 11:34:48 postfix/smtp[12]: connect to mx1.example.test[127.0.0.11]:25: Connection refused")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	logged := func(evs []journal.Event) bool { return len(evs) > 0 }
	if err := s.all.Wait(ctx, logged); err != nil {
		t.Fatalf("no relay.log: %v", err)
	}
	if err := s.close(); err != nil {
		t.Errorf("close: %v", err)
	}
	// The reader has ended: both journals are complete.
	at := j.Events(journal.OfKind(journal.KindRelayAttempt))
	if len(at) != 1 || at[0].Peer != "mx1.example.test" || at[0].Remote != "127.0.0.11" || at[0].Err != "Connection refused" {
		t.Errorf("relay.attempt events %+v, want one for mx1.example.test[127.0.0.11], Connection refused", at)
	}
	if got := s.all.Events()[0].Text; got != "postfix/smtp[12]: connect to mx1.example.test[127.0.0.11]:25: Connection refused" {
		t.Errorf("relay.log %q", got)
	}
}
