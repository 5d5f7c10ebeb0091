package sandbox

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"unicode/utf8"
)

// maxShown is the most of a message's headers, body and readable text
// that the JSON of one message carries, each: a message of hundreds of
// megabytes would otherwise be copied several times over to build one
// answer. The raw message is always available whole, streamed, as .eml.
const maxShown = 1 << 20

// errFound stops walkMIME once it has copied the part it was asked for.
var errFound = errors.New("part found")

// maxDepth is how deep multiparts may nest before decoding stops.
const maxDepth = 8

// partJSON is one leaf of a message's MIME tree (RFC 2045, RFC 2046).
type partJSON struct {
	Type     string `json:"type"`               // media type, lower case: "text/plain"
	Charset  string `json:"charset,omitempty"`  // as declared
	Encoding string `json:"encoding,omitempty"` // Content-Transfer-Encoding as declared
	Filename string `json:"filename,omitempty"` // Content-Disposition filename, or Content-Type name
	Size     int    `json:"size"`               // bytes after the transfer encoding is undone
	URL      string `json:"url,omitempty"`      // where to download it (GET /api/messages/{seq})
}

// decodedMessage is what the page shows instead of the raw body.
type decodedMessage struct {
	Text      string     // the first text/plain part that is not an attachment (else text/html, as source), decoded; at most maxShown bytes of it
	Truncated bool       // Text is the start of a longer part
	Parts     []partJSON // every leaf part, in order
	Err       string     // what could not be decoded; what was decoded so far is kept
	// HTML is the first text/html part that is not an attachment,
	// decoded, at most maxShown bytes of it; "" when there is none.
	HTML string
}

// decodeMIME walks the MIME structure of raw: it undoes base64 and
// quoted-printable (RFC 2045 §6), converts ISO-8859-1 and US-ASCII text to
// UTF-8, and lists the parts. A malformed message yields what could be read
// and an error text, never a failure. Only the candidates for Text are
// kept, maxShown bytes at most; the other parts are decoded to be
// counted, never held.
func decodeMIME(raw []byte) decodedMessage { return walkMIME(raw, -1, nil) }

// copyPart writes the n-th leaf part of raw (counted from 0, as Parts
// lists them) to w, its transfer encoding undone, and returns its
// description; ok is false when raw has no such part.
func copyPart(raw []byte, n int, w io.Writer) (part partJSON, ok bool, err error) {
	d := walkMIME(raw, n, w)
	if n >= len(d.Parts) {
		if d.Err != "" {
			return partJSON{}, false, fmt.Errorf("%s", d.Err)
		}
		return partJSON{}, false, nil
	}
	return d.Parts[n], true, nil
}

// walkMIME is decodeMIME, which also copies the leaf part number want
// (when want >= 0) to w, and stops after it.
func walkMIME(raw []byte, want int, w io.Writer) decodedMessage {
	var d decodedMessage
	var htmlTruncated bool
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		d.Err = "header: " + err.Error()
		return d
	}
	var html string
	var visit func(h textproto.MIMEHeader, body io.Reader, depth int) error
	visit = func(h textproto.MIMEHeader, body io.Reader, depth int) error {
		ct := h.Get("Content-Type")
		if ct == "" {
			ct = "text/plain; charset=us-ascii" // RFC 2045 §5.2
		}
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			return fmt.Errorf("content-type %q: %v", ct, err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			if depth >= maxDepth {
				return fmt.Errorf("multiparts nested deeper than %d", maxDepth)
			}
			if params["boundary"] == "" {
				return fmt.Errorf("%s without a boundary", mt)
			}
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart() // raw: the transfer encoding is undone below, for every part alike
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return fmt.Errorf("%s: %v", mt, err)
				}
				if err := visit(p.Header, p, depth+1); err != nil {
					return err
				}
			}
		}
		enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
		var r io.Reader = body
		switch enc {
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, body) // skips the line breaks
		case "quoted-printable":
			r = quotedprintable.NewReader(body)
		}
		part := partJSON{Type: mt, Charset: params["charset"], Encoding: enc, Filename: filename(h, params)}
		attachment := part.Filename != "" || strings.HasPrefix(strings.ToLower(h.Get("Content-Disposition")), "attachment")
		text := !attachment && (mt == "text/plain" && d.Text == "" || mt == "text/html" && html == "")
		var data []byte
		if len(d.Parts) == want {
			n, err := io.Copy(w, r)
			part.Size = int(n)
			d.Parts = append(d.Parts, part)
			if err != nil {
				return fmt.Errorf("%s (%s): %v", mt, enc, err)
			}
			return errFound
		}
		if text {
			if data, err = io.ReadAll(io.LimitReader(r, maxShown)); err != nil {
				return fmt.Errorf("%s (%s): %v", mt, enc, err)
			}
		}
		rest, err := io.Copy(io.Discard, r)
		if err != nil {
			return fmt.Errorf("%s (%s): %v", mt, enc, err)
		}
		part.Size = len(data) + int(rest)
		d.Parts = append(d.Parts, part)
		switch {
		case !text:
		case mt == "text/plain":
			d.Text, d.Truncated = toUTF8(data, part.Charset), rest > 0
		default:
			html, htmlTruncated = toUTF8(data, part.Charset), rest > 0
		}
		return nil
	}
	if err := visit(textproto.MIMEHeader(m.Header), m.Body, 0); err != nil && err != errFound {
		d.Err = err.Error()
	}
	d.HTML = html
	if d.Text == "" {
		d.Text, d.Truncated = html, htmlTruncated
	}
	d.Text = strings.ReplaceAll(d.Text, "\r\n", "\n") // as splitMessage shows the raw body
	return d
}

// filename returns the name a part gives itself (RFC 2183 §2.3, or the
// older Content-Type name parameter), encoded words decoded.
func filename(h textproto.MIMEHeader, ctParams map[string]string) string {
	name := ctParams["name"]
	if _, p, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && p["filename"] != "" {
		name = p["filename"]
	}
	return decodeWords(name)
}

// toUTF8 returns text in UTF-8: ISO-8859-1 is converted, UTF-8 and ASCII
// are taken as they are; anything else (or invalid UTF-8) keeps its valid
// bytes and shows the rest as U+FFFD.
func toUTF8(b []byte, charset string) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "latin-1":
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String()
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// decodeWords decodes RFC 2047 encoded words ("=?UTF-8?Q?caf=C3=A9?=");
// text it cannot decode is returned as it is.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	dec := mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		switch strings.ToLower(charset) {
		case "iso-8859-1", "latin1", "us-ascii":
			return strings.NewReader(toUTF8(b, "iso-8859-1")), nil
		}
		return nil, fmt.Errorf("charset %s", charset)
	}}
	out, err := dec.DecodeHeader(s)
	if err != nil {
		return s
	}
	return out
}
