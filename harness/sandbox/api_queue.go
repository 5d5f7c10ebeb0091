package sandbox

import (
	"context"
	"net/http"
	"time"

	"github.com/mxsim/mxsim/harness"
)

// GET /api/queue: the queue of the relay under test, message by message,
// for a relay that can list it (harness.QueueLister: the reference relay,
// Postfix, Exim, OpenSMTPD).

// queueTimeout bounds one listing (postqueue -j in a container).
const queueTimeout = 15 * time.Second

type queueJSON struct {
	Relay    string           `json:"relay"` // the relay's submission address
	Messages []harness.Queued `json:"messages"`
}

func (s *Server) getQueue(w http.ResponseWriter, r *http.Request) error {
	rl := s.env.Relay()
	if rl == nil {
		return conflict("no relay under test: start the sandbox with a relay (mxsim sandbox --relay reference)")
	}
	ql, ok := rl.(harness.QueueLister)
	if !ok {
		return conflict("the relay under test cannot list its queue")
	}
	ctx, cancel := context.WithTimeout(r.Context(), queueTimeout)
	defer cancel()
	list, err := ql.ListQueue(ctx)
	if err != nil {
		return &apiError{http.StatusBadGateway, "queue: " + err.Error()}
	}
	if list == nil {
		list = []harness.Queued{}
	}
	for i := range list {
		if list[i].To == nil {
			list[i].To = []harness.QueuedRcpt{}
		}
	}
	writeJSON(w, http.StatusOK, queueJSON{Relay: rl.Submission().Addr, Messages: list})
	return nil
}
