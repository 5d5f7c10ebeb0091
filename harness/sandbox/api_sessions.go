package sandbox

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// /api/sessions: the SMTP sessions the hosts served, and their
// transcripts.

type sessionJSON struct {
	ID         string    `json:"id"`   // as the journal has it: "mx1.example.test#3"
	Path       string    `json:"path"` // as paths write it: "mx1.example.test~3"
	Host       string    `json:"host"`
	Remote     string    `json:"remote,omitempty"`
	Started    time.Time `json:"started"`
	Ended      bool      `json:"ended"`
	Messages   int       `json:"messages"`
	Transcript string    `json:"transcript"` // path of the transcript
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error {
	host := r.URL.Query().Get("host")
	if host != "" && s.env.Host(host) == nil {
		return notFound("host %q: no such host", host)
	}
	byID := map[string]*sessionJSON{}
	out := []*sessionJSON{}
	for _, e := range s.env.Journal().Events() {
		if e.Session == "" {
			continue
		}
		if e.Kind == journal.KindSMTPConnect {
			if host != "" && !strings.EqualFold(e.Source, strings.TrimSuffix(host, ".")) {
				continue
			}
			sj := &sessionJSON{ID: e.Session, Path: pathEscape(e.Session), Host: e.Source, Remote: e.Remote, Started: e.Time,
				Transcript: "/api/sessions/" + pathEscape(e.Session) + "/transcript"}
			byID[e.Session] = sj
			out = append(out, sj)
			continue
		}
		sj := byID[e.Session]
		if sj == nil {
			continue
		}
		switch e.Kind {
		case journal.KindSMTPDisconnect:
			sj.Ended = true
		case journal.KindSMTPMessage:
			sj.Messages++
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// A session ID is the host's name and a number, "mx1.example.test#3"
// (fakesmtp's, as the journal has it). A '#' in a URL starts its
// fragment, so paths write it '~' ("mx1.example.test~3"), which a host
// name never holds; the %23 of older links is read as well.

// pathEscape writes a session ID for a path.
func pathEscape(s string) string { return strings.ReplaceAll(s, "#", "~") }

// sessionID reads a session ID from a path.
func sessionID(s string) string { return strings.ReplaceAll(s, "~", "#") }

// getTranscript serves the C:/S: lines of one session: JSON, or plain
// text with ?format=text.
func (s *Server) getTranscript(w http.ResponseWriter, r *http.Request) error {
	id := sessionID(r.PathValue("id"))
	if len(s.env.Journal().Events(func(e journal.Event) bool {
		return e.Kind == journal.KindSMTPConnect && e.Session == id
	})) == 0 {
		return notFound("session %q: no such session", id)
	}
	lines := s.env.Journal().Transcript(id)
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		writeJSON(w, http.StatusOK, map[string]any{"session": id, "lines": lines})
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, strings.Join(lines, "\n")+"\n") // a write error means the client has gone
	default:
		return badRequest("format=%q: want json or text", f)
	}
	return nil
}
