package fakesmtp

import (
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// rawClient speaks SMTP line by line, for what go-smtp's client does not do.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
}

func newRawClient(t testing.TB, conn net.Conn) *rawClient {
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, conn: conn, tp: textproto.NewConn(conn)}
}

// expect reads one reply and checks that it starts with prefix.
func (r *rawClient) expect(prefix string) string {
	r.t.Helper()
	var lines []string
	for {
		l, err := r.tp.ReadLine()
		if err != nil {
			r.t.Fatalf("reading reply (want %s): %v", prefix, err)
		}
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			break
		}
	}
	got := strings.Join(lines, "\n")
	if !strings.HasPrefix(got, prefix) {
		r.t.Fatalf("reply %q, want %s", got, prefix)
	}
	return got
}

func (r *rawClient) cmd(line, prefix string) string {
	r.t.Helper()
	if err := r.tp.PrintfLine("%s", line); err != nil {
		r.t.Fatal(err)
	}
	return r.expect(prefix)
}

func (r *rawClient) write(s string) {
	r.t.Helper()
	if _, err := r.conn.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}
