package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sseReader reads server-sent events from a response body.
type sseReader struct{ sc *bufio.Scanner }

// next returns the id and data of the next event, skipping comments.
func (r *sseReader) next() (id string, data string, err error) {
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "" && data != "":
			return id, data, nil
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
	if err := r.sc.Err(); err != nil {
		return "", "", err
	}
	return "", "", io.EOF
}

func openEvents(t *testing.T, f *fixture, ctx context.Context, query string, header http.Header) (*http.Response, *sseReader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+f.srv.Addr()+"/api/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := f.http.Do(req)
	if err != nil {
		t.Fatalf("GET /api/events: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("GET /api/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp, &sseReader{bufio.NewScanner(resp.Body)}
}

func TestEventsStreamLiveAndEndOnClose(t *testing.T) {
	f := newFixture(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := int64(f.env.Journal().Len())
	resp, sse := openEvents(t, f, ctx, "?since="+itoa(start), nil)
	defer resp.Body.Close()

	// A change made after the stream opened arrives on it, live.
	f.want(http.StatusOK, nil, "POST", "/api/hosts/mx3.example.test/down", "", nil)
	for {
		id, data, err := sse.next()
		if err != nil {
			t.Fatalf("stream ended before the change arrived: %v", err)
		}
		var e eventJSON
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("event %s: %v", data, err)
		}
		if id != itoa(e.Seq) || e.Seq <= start {
			t.Fatalf("event id %s, seq %d, want seq > %d", id, e.Seq, start)
		}
		if e.Kind == "control" && strings.Contains(e.Text, "mx3.example.test: state down") {
			break
		}
	}

	// Closing the server ends the stream (and its handler: goleak checks).
	if err := f.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for {
		if _, _, err := sse.next(); err != nil {
			break
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the stream did not end when the server closed")
	}
}

func TestEventsResumeFromLastEventID(t *testing.T) {
	f := newFixture(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f.want(http.StatusOK, nil, "POST", "/api/hosts/mx3.example.test/down", "", nil)
	f.want(http.StatusOK, nil, "POST", "/api/hosts/mx3.example.test/up", "", nil)
	up := f.waitEvent("the control event for up", isControl("mx3.example.test: state up")).Seq
	resp, sse := openEvents(t, f, ctx, "?since=0", http.Header{"Last-Event-ID": {itoa(up - 1)}})
	defer resp.Body.Close()
	id, data, err := sse.next()
	if err != nil {
		t.Fatal(err)
	}
	if id != itoa(up) || !strings.Contains(data, "state up") {
		t.Fatalf("first event after Last-Event-ID %d: id %s %s", up-1, id, data)
	}
	f.wantError(http.StatusBadRequest, "since=", "GET", "/api/events?since=minus", "", nil)
}
