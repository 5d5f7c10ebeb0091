package sandbox

import (
	"net/http"
	"time"

	"github.com/mxsim/mxsim/journal"
)

// GET /api/info and POST /api/relay/flush: the network as a whole.

type infoJSON struct {
	DNS           string          `json:"dns"`
	SMTPPort      int             `json:"smtp_port"`
	Relay         *submissionJSON `json:"relay,omitempty"`
	Started       time.Time       `json:"started"`
	Hosts         int             `json:"hosts"`
	Events        int             `json:"events"`  // appended since the start: the Seq of the newest
	Dropped       journal.Dropped `json:"dropped"` // what the journal no longer holds
	Limits        limitsJSON      `json:"limits"`  // what it keeps; 0: no limit
	TokenRequired bool            `json:"token_required"`
}

// limitsJSON is journal.Limits as the API writes it.
type limitsJSON struct {
	MaxEvents       int   `json:"max_events"`
	MaxMessages     int   `json:"max_messages"`
	MaxMessageBytes int64 `json:"max_message_bytes"`
}

type submissionJSON struct {
	Addr string `json:"addr"`
	User string `json:"user,omitempty"`
}

func (s *Server) getInfo(w http.ResponseWriter, r *http.Request) error {
	j := s.env.Journal()
	l := j.Limits()
	info := infoJSON{
		DNS: s.env.DNSAddr(), SMTPPort: s.env.SMTPPort(), Started: j.Start(),
		Hosts: len(s.env.Hosts()), Events: j.Len(), Dropped: j.Dropped(), TokenRequired: s.token != "",
		Limits: limitsJSON{MaxEvents: l.MaxEvents, MaxMessages: l.MaxMessages, MaxMessageBytes: l.MaxMessageBytes},
	}
	if rl := s.env.Relay(); rl != nil {
		sub := rl.Submission()
		info.Relay = &submissionJSON{Addr: sub.Addr, User: sub.User}
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// flushRelay asks the relay under test to retry its deferred mail now
// (Env.Flush journals it).
func (s *Server) flushRelay(w http.ResponseWriter, r *http.Request) error {
	if s.env.Relay() == nil {
		return conflict("no relay under test: start the sandbox with a relay")
	}
	if err := s.env.Flush(r.Context()); err != nil {
		return conflict("flush: %v", err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"flushed": s.env.Relay().Submission().Addr})
	return nil
}
