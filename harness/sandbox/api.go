package sandbox

// What every API handler shares: the error type and the one place that
// writes it, the JSON writer, and the body readers. Each resource has a
// file of its own (api_hosts.go, api_zones.go, api_faults.go,
// api_journal.go, api_messages.go, api_sessions.go, api_info.go); the
// routes are in sandbox.go.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

// apiError is an error with the HTTP status it answers; handlers return it
// from their checks so that nothing is applied after a failed one.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

var _ error = (*apiError)(nil)

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func gone(format string, args ...any) *apiError {
	return &apiError{http.StatusGone, fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *apiError {
	return &apiError{http.StatusConflict, fmt.Sprintf(format, args...)}
}

// apiFunc is an API handler. It either writes its answer and returns nil,
// or returns an error before writing anything; ServeHTTP writes that error,
// so that one place decides how every failure looks.
type apiFunc func(http.ResponseWriter, *http.Request) error

var _ http.Handler = apiFunc(nil)

// ServeHTTP runs h and writes its error as {"error": "..."}: with the
// status and text of the *apiError in its chain, else 400 and the error's
// text (the checks of fakedns and fakesmtp return plain errors that name
// what is wrong with the request).
func (h apiFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := h(w, r)
	if err == nil {
		return
	}
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, "%s", ae.msg)
		return
	}
	writeError(w, http.StatusBadRequest, "%v", err)
}

// noRoute answers what the routes of mux do not take, below catchAll:
// 405 with Allow when the path takes other methods, else 404. The
// catch-all pattern wins over the mux's own 405, hence this.
func noRoute(mux *http.ServeMux, catchAll string) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var allow []string
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			r2 := r.Clone(r.Context())
			r2.Method = m
			if _, p := mux.Handler(r2); p != catchAll {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return &apiError{http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))}
		}
		return notFound("no such endpoint: %s %s", r.Method, r.URL.Path)
	}
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) // a write error means the client has gone
}

// writeError writes {"error": "..."} with status. API handlers return
// their errors instead (apiFunc); the checks in front of them (host,
// token, cross-origin) call this.
func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// readBody checks the Content-Type against the accepted media types and
// returns the body, at most maxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request, accept ...string) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	ok := false
	for _, a := range accept {
		ok = ok || err == nil && mt == a
	}
	if !ok {
		return nil, &apiError{http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: want %s", ct, strings.Join(accept, " or "))}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBody)}
		}
		return nil, badRequest("read body: %v", err)
	}
	return body, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("bad JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("bad JSON body: data after the JSON value")
	}
	return nil
}

// readJSON reads an application/json body into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}

// orAny names a record type for a message: "" means every type.
func orAny(t string) string {
	if t == "" {
		return "ANY"
	}
	return t
}
