package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// GET /api/journal and GET /api/events: the journal, read back or
// followed live (server-sent events). When the journal has dropped events
// the reader had not seen (journal.NewBounded), they begin with one
// journal.dropped event that stands for them: its seq is that of the
// newest dropped, its text says how many, and its "dropped" the totals.

// heartbeat is how often an idle event stream gets a comment line, so
// that proxies and browsers keep it open.
const heartbeat = 15 * time.Second

// eventJSON is a journal.Event as the API writes it: the journal's JSON
// form, plus the time relative to the journal's start; messages without
// their bytes and headers (GET /api/messages/{seq} has those).
type eventJSON struct {
	journal.Event
	MS float64 `json:"ms"` // milliseconds since the journal started
}

func eventView(e journal.Event, start time.Time) eventJSON {
	if m := e.Message; m != nil {
		// Event details are shared and read-only: copy before trimming.
		slim := *m
		slim.Raw, slim.Headers = nil, nil
		e.Message = &slim
	}
	return eventJSON{Event: e, MS: float64(e.Time.Sub(start).Microseconds()) / 1000}
}

// sinceParam reads ?since=N (default 0: every event).
func sinceParam(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("since")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("since=%q: want a sequence number >= 0", v)
	}
	return n, nil
}

func (s *Server) getJournal(w http.ResponseWriter, r *http.Request) error {
	since, err := sinceParam(r)
	if err != nil {
		return err
	}
	j := s.env.Journal()
	out := []eventJSON{}
	for _, e := range j.Since(since) {
		out = append(out, eventView(e, j.Start()))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// events streams the journal as server-sent events (one "journal" event
// per entry, id = Seq), from ?since=N or the Last-Event-ID a reconnecting
// browser sends, until the client leaves or the server closes. Once the
// stream has started it returns nil whatever happens: a write error means
// the client has gone, and the status is sent.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	since, err := sinceParam(r)
	if err != nil {
		return err
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n >= 0 {
			since = n
		}
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, "retry: 1000\n\n"); err != nil {
		return nil
	}
	if rc.Flush() != nil {
		return nil
	}
	j := s.env.Journal()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	var buf bytes.Buffer
	for {
		changed := j.Changed() // before Since, so no Append is missed
		buf.Reset()
		for _, e := range j.Since(since) {
			data, _ := json.Marshal(eventView(e, j.Start())) // plain data: cannot fail
			fmt.Fprintf(&buf, "id: %d\nevent: journal\ndata: %s\n\n", e.Seq, data)
			since = e.Seq
		}
		if buf.Len() > 0 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return nil
			}
			if rc.Flush() != nil {
				return nil
			}
		}
		select {
		case <-changed:
		case <-tick.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return nil
			}
		case <-r.Context().Done():
			return nil
		case <-s.done:
			return nil
		}
	}
}
