package sandbox

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeMIME(t *testing.T) {
	pdf := strings.Repeat("%PDF-1.4 binary\x00\x01", 10)
	b64 := base64.StdEncoding.EncodeToString([]byte(pdf))
	wrapped := b64[:40] + "\r\n" + b64[40:] // base64 arrives in lines
	for _, c := range []struct {
		name, raw string
		text      string
		parts     []partJSON
		err       string
	}{
		{
			name:  "plain text, no MIME headers",
			raw:   "Subject: s\r\n\r\nline one\r\nline two\r\n",
			text:  "line one\nline two\n",
			parts: []partJSON{{Type: "text/plain", Charset: "us-ascii", Size: 20}},
		},
		{
			name: "multipart/mixed: quoted-printable UTF-8 text and a base64 attachment",
			raw: "Subject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
				"preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
				"caf=C3=A9 au lait, a long line that is soft=\r\n-broken\r\n" +
				"--b1\r\nContent-Type: application/pdf; name=\"old.pdf\"\r\nContent-Disposition: attachment; filename=\"=?UTF-8?Q?r=C3=A9sum=C3=A9.pdf?=\"\r\n" +
				"Content-Transfer-Encoding: base64\r\n\r\n" + wrapped + "\r\n--b1--\r\n",
			text: "café au lait, a long line that is soft-broken", // the CRLF before a boundary is the boundary's (RFC 2046 §5.1.1)
			parts: []partJSON{
				{Type: "text/plain", Charset: "utf-8", Encoding: "quoted-printable", Size: 46},
				{Type: "application/pdf", Encoding: "base64", Filename: "résumé.pdf", Size: len(pdf)},
			},
		},
		{
			name: "multipart/alternative nested in mixed: text/plain wins over html",
			raw: "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n" +
				"--i\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--i\r\nContent-Type: text/plain\r\n\r\nhi\r\n--i--\r\n--o--\r\n",
			text:  "hi",
			parts: []partJSON{{Type: "text/html", Size: 9}, {Type: "text/plain", Size: 2}},
		},
		{
			name:  "single part, base64 ISO-8859-1 text",
			raw:   "Content-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte("gr\xfc\xdfe\r\n")) + "\r\n",
			text:  "grüße\n",
			parts: []partJSON{{Type: "text/plain", Charset: "ISO-8859-1", Encoding: "base64", Size: 7}},
		},
		{
			name:  "only HTML: its source is the text",
			raw:   "Content-Type: text/html; charset=utf-8\r\n\r\n<b>bold</b>\r\n",
			text:  "<b>bold</b>\n",
			parts: []partJSON{{Type: "text/html", Charset: "utf-8", Size: 13}},
		},
		{
			name: "multipart without a boundary",
			raw:  "Content-Type: multipart/mixed\r\n\r\nwhatever\r\n",
			err:  "multipart/mixed without a boundary",
		},
		{
			name: "a broken part keeps the parts before it",
			raw: "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n" +
				"--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n--b--\r\n",
			text:  "first",
			parts: []partJSON{{Type: "text/plain", Size: 5}},
			err:   "illegal base64",
		},
		{
			name: "bad Content-Type",
			raw:  "Content-Type: ;;;\r\n\r\nx\r\n",
			err:  "content-type",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := decodeMIME([]byte(c.raw))
			if d.Text != c.text {
				t.Errorf("text %q, want %q", d.Text, c.text)
			}
			if !reflect.DeepEqual(d.Parts, c.parts) {
				t.Errorf("parts %+v\nwant  %+v", d.Parts, c.parts)
			}
			if c.err == "" && d.Err != "" || c.err != "" && !strings.Contains(d.Err, c.err) {
				t.Errorf("error %q, want one containing %q", d.Err, c.err)
			}
		})
	}
}

func TestDecodeWords(t *testing.T) {
	for in, want := range map[string]string{
		"plain subject":                       "plain subject",
		"=?UTF-8?B?w6l0w6k=?=":                "été",
		"=?ISO-8859-1?Q?Gr=FC=DFe?= aus Bonn": "Grüße aus Bonn",
		"=?X-UNKNOWN?Q?abc?=":                 "=?X-UNKNOWN?Q?abc?=",
	} {
		if got := decodeWords(in); got != want {
			t.Errorf("decodeWords(%q) = %q, want %q", in, got, want)
		}
	}
}
