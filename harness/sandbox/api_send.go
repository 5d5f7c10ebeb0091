package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/mxsim/mxsim/harness"
)

// POST /api/send: a test message, submitted to the relay under test as a
// scenario's send step does (Env.Send: its submission address and
// credentials), or, with "host", straight to a simulated host.

// sendTimeout bounds one submission.
const sendTimeout = 60 * time.Second

// maxRecipients bounds the recipients of one test message.
const maxRecipients = 100

type sendJSON struct {
	From    string   `json:"from"`    // envelope sender and From; "" is the null sender
	To      []string `json:"to"`      // at least one
	Subject string   `json:"subject"` // any text; encoded as RFC 2047 when not ASCII
	Text    string   `json:"text"`    // the plain text body
	HTML    string   `json:"html"`    // an HTML alternative, optional
	// Attachment, optional, is attached as a file.
	Attachment *struct {
		Name    string `json:"name"`
		Content string `json:"content"`
	} `json:"attachment"`
	// Host submits to this simulated host instead of the relay: STARTTLS
	// when the host offers it, AUTH with User and Password when given.
	Host     string `json:"host"`
	User     string `json:"user"`
	Password string `json:"password"`
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) error {
	var req sendJSON
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	m, err := req.message()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), sendTimeout)
	defer cancel()
	to := ""
	if req.Host == "" {
		if s.env.Relay() == nil {
			return conflict("send: no relay under test: name a simulated host to submit to (host), or start the sandbox with a relay")
		}
		to = "the relay at " + s.env.Relay().Submission().Addr
		err = s.env.Send(ctx, m)
	} else {
		h := s.env.Host(req.Host)
		if h == nil {
			return badRequest("send: host %q: no such host", req.Host)
		}
		m.User, m.Password = req.User, req.Password
		m.StartTLS = h.Behavior().TLS.StartTLS != "" && h.Behavior().TLS.StartTLS != "none"
		m.ImplicitTLS = h.Behavior().TLS.Implicit
		to = h.Name() + " at " + h.Addr()
		s.env.Control("sandbox: test message to %s", h.Name())
		err = harness.Submit(ctx, h.Addr(), m)
	}
	if err != nil {
		// The submission reached the server and was refused, or not: a
		// gateway's error either way, with the server's words.
		return &apiError{http.StatusBadGateway, fmt.Sprintf("send to %s: %v", to, err)}
	}
	writeJSON(w, http.StatusOK, map[string]string{"sent": to})
	return nil
}

// message checks the request and builds the message: text, text and
// HTML as multipart/alternative, and an attachment in a multipart/mixed.
func (req *sendJSON) message() (harness.Message, error) {
	if req.From != "" {
		if err := checkAddr(req.From); err != nil {
			return harness.Message{}, badRequest("send: from %q: %v", req.From, err)
		}
	}
	if len(req.To) == 0 {
		return harness.Message{}, badRequest("send: to: want at least one recipient")
	}
	if len(req.To) > maxRecipients {
		return harness.Message{}, badRequest("send: to: %d recipients, at most %d", len(req.To), maxRecipients)
	}
	for _, to := range req.To {
		if err := checkAddr(to); err != nil {
			return harness.Message{}, badRequest("send: to %q: %v", to, err)
		}
	}
	if strings.ContainsAny(req.Subject, "\r\n") {
		return harness.Message{}, badRequest("send: subject: must be one line")
	}
	if req.Attachment != nil && (req.Attachment.Name == "" || strings.ContainsAny(req.Attachment.Name, "\r\n\"\\/")) {
		return harness.Message{}, badRequest("send: attachment: name %q: want a file name without quotes, slashes or line breaks", req.Attachment.Name)
	}
	subject := req.Subject
	if subject == "" {
		subject = "mxsim sandbox test message"
	}
	m := harness.Message{From: req.From, To: req.To, Subject: mime.QEncoding.Encode("utf-8", subject), Headers: map[string]string{"MIME-Version": "1.0"}}
	body := textPart("text/plain", req.Text)
	if req.HTML != "" {
		body = multipartOf("alternative", body, textPart("text/html", req.HTML))
	}
	if a := req.Attachment; a != nil {
		att := "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n" +
			"Content-Disposition: " + mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}) + "\r\n\r\n" + wrap76(base64.StdEncoding.EncodeToString([]byte(a.Content)))
		body = multipartOf("mixed", body, att)
	}
	head, rest, _ := strings.Cut(body, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		k, v, _ := strings.Cut(line, ": ")
		m.Headers[k] = v
	}
	m.Body = rest
	return m, nil
}

// checkAddr checks an address of the envelope: local@domain, no brackets,
// blanks or line breaks.
func checkAddr(a string) error {
	if strings.ContainsAny(a, " \t\r\n<>") || !strings.Contains(a, "@") {
		return fmt.Errorf("want local@domain")
	}
	if _, err := mail.ParseAddress("<" + a + ">"); err != nil {
		return fmt.Errorf("want local@domain")
	}
	return nil
}

// textPart returns a part, headers and body, of UTF-8 text in
// quoted-printable.
func textPart(mt, text string) string {
	var b bytes.Buffer
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n")))
	qp.Close()
	return "Content-Type: " + mt + "; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + b.String()
}

// multipartOf returns a multipart/sub of the parts (each headers and body).
func multipartOf(sub string, parts ...string) string {
	r := make([]byte, 12)
	rand.Read(r) // never fails (crypto/rand)
	boundary := "mxsim-" + hex.EncodeToString(r)
	var b strings.Builder
	fmt.Fprintf(&b, "Content-Type: multipart/%s; boundary=%q\r\n\r\n", sub, boundary)
	for _, p := range parts {
		fmt.Fprintf(&b, "--%s\r\n%s\r\n", boundary, p)
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.String()
}

// wrap76 breaks base64 text into lines of 76 characters (RFC 2045 §6.8).
func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	return b.String() + s + "\r\n"
}
