package fakesmtp

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

var (
	_ sasl.Server = (*loginServer)(nil)
	_ sasl.Server = (*cramMD5Server)(nil)
)

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login): "Username:", then "Password:". go-sasl
// has only the client.
type loginServer struct {
	state int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.state {
	case 0:
		if resp == nil { // no initial response: ask for the user name
			l.state = 1
			return []byte("Username:"), false, nil
		}
		l.user, l.state = string(resp), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.state = string(resp), 2
		return []byte("Password:"), false, nil
	case 2:
		l.state = 3
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}

// cramMD5Server is the server side of CRAM-MD5 (RFC 2195): a challenge,
// then "user hex(HMAC-MD5(password, challenge))".
type cramMD5Server struct {
	challenge string
	users     map[string]string
	result    func(user string, ok bool) error
	sent      bool
}

func newCRAMMD5Server(host string, users map[string]string, result func(string, bool) error) (*cramMD5Server, error) {
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("fakesmtp: cram-md5 challenge: %w", err)
	}
	// RFC 2195 §2: the challenge has the form of a msg-id.
	ch := fmt.Sprintf("<%s.%d@%s>", hex.EncodeToString(nonce[:]), time.Now().Unix(), host)
	return &cramMD5Server{challenge: ch, users: users, result: result}, nil
}

func (c *cramMD5Server) Next(resp []byte) ([]byte, bool, error) {
	if !c.sent {
		if len(resp) > 0 {
			return nil, true, sasl.ErrUnexpectedClientResponse
		}
		c.sent = true
		return []byte(c.challenge), false, nil
	}
	user, digest, _ := strings.Cut(string(resp), " ")
	pass, found := c.users[user]
	mac := hmac.New(md5.New, []byte(pass))
	mac.Write([]byte(c.challenge))
	want := hex.EncodeToString(mac.Sum(nil))
	return nil, true, c.result(user, found && hmac.Equal([]byte(want), []byte(strings.ToLower(digest))))
}
