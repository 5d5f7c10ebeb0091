package fakesmtp

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordConn remembers the type of each TLS record the server sent
// (TLS 1.2 keeps the content type in clear: 21 is an alert).
type recordConn struct {
	net.Conn
	mu    sync.Mutex
	buf   []byte
	types []byte
}

func (c *recordConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.buf = append(c.buf, p[:n]...)
	for len(c.buf) >= 5 {
		l := 5 + (int(c.buf[3])<<8 | int(c.buf[4]))
		if len(c.buf) < l {
			break
		}
		c.types = append(c.types, c.buf[0])
		c.buf = c.buf[l:]
	}
	c.mu.Unlock()
	return n, err
}

// lastRecord is the type of the last whole record read.
func (c *recordConn) lastRecord() byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.types) == 0 {
		return 0
	}
	return c.types[len(c.types)-1]
}

// A host ends a TLS session after QUIT with a close_notify alert
// (RFC 8446 §6.1, RFC 5246 §7.2.1), as real MTAs do: Exim logs a TLS
// error for every session a peer closes without one.
func TestQuitSendsCloseNotify(t *testing.T) {
	cfg := func(h *Host) *tls.Config {
		return &tls.Config{RootCAs: h.CA().Pool(), ServerName: hostName, MaxVersion: tls.VersionTLS12}
	}
	quit := func(t *testing.T, tc *tls.Conn, rc *recordConn) {
		t.Helper()
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(tc, "EHLO client.test\r\nQUIT\r\n"); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(tc)
		if err != nil {
			t.Fatalf("read to the end: %v", err)
		}
		if !strings.Contains(string(rest), "221 ") {
			t.Fatalf("no 221 to QUIT in %q", rest)
		}
		if got := rc.lastRecord(); got != 21 {
			t.Errorf("last TLS record from the host has type %d, want 21 (alert: close_notify)", got)
		}
	}
	t.Run("starttls", func(t *testing.T) {
		h := newHost(t, Behavior{TLS: TLS{StartTLS: TLSOffered}})
		conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(conn)
		io.WriteString(conn, "EHLO client.test\r\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, "250 ") {
				break
			}
		}
		io.WriteString(conn, "STARTTLS\r\n")
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220 ") {
			t.Fatalf("STARTTLS: %q %v", line, err)
		}
		rc := &recordConn{Conn: conn}
		tc := tls.Client(rc, cfg(h))
		quit(t, tc, rc)
	})
	t.Run("implicit", func(t *testing.T) {
		h := newHost(t, Behavior{TLS: TLS{Implicit: true}})
		conn, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		rc := &recordConn{Conn: conn}
		tc := tls.Client(rc, cfg(h))
		quit(t, tc, rc)
	})
}
