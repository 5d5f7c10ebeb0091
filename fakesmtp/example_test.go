package fakesmtp_test

import (
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/journal"
)

// A host that takes mail for everyone except a full mailbox; the journal
// shows what it accepted and why it refused.
func Example() {
	h, err := fakesmtp.NewHost(fakesmtp.Config{
		Name: "mx1.example.test",
		Addr: "127.0.0.1:0",
		Behavior: fakesmtp.Behavior{
			Replies: fakesmtp.Replies{Rcpt: []fakesmtp.Rule{
				{Match: "*@full.example.test", Reply: fakesmtp.Reply{Code: 452, Enhanced: "4.2.2", Text: "mailbox full"}},
			}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()

	for _, to := range []string{"bob@example.test", "carol@full.example.test"} {
		c, err := smtp.Dial(h.Addr())
		if err != nil {
			fmt.Println(err)
			return
		}
		err = c.SendMail("alice@origin.test", []string{to}, strings.NewReader("Subject: hello "+to+"\r\n\r\nHi.\r\n"))
		fmt.Println(to, "->", err)
		c.Quit()
	}

	j := h.Journal()
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPMessage)) {
		fmt.Printf("%s accepted %q for %v\n", e.Session, e.Message.Subject, e.Message.To)
	}
	for _, e := range j.Events(journal.OfKind(journal.KindSMTPReply), func(e journal.Event) bool { return e.Fault != "" }) {
		fmt.Printf("%s refused: %s [%s]\n", e.Session, e.Text, e.Fault)
	}
	// Output:
	// bob@example.test -> <nil>
	// carol@full.example.test -> SMTP error 452: mailbox full
	// mx1.example.test#1 accepted "hello bob@example.test" for [bob@example.test]
	// mx1.example.test#2 refused: 452 4.2.2 mailbox full [replies.rcpt]
}
