package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mxsim/mxsim/fakedns"
	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
	"github.com/mxsim/mxsim/scenarios"
)

// page drives the sandbox's page in one step of the page per action, as
// live refreshes rebuild parts of it between steps.
type page struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	poll func(what, expr string)
}

func (p page) eval(what, js string) {
	p.t.Helper()
	if ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](js)); err != nil || !ok {
		p.t.Fatalf("%s: %v, %v", what, ok, err)
	}
}

// click clicks the element sel finds.
func (p page) click(what, sel string) {
	p.t.Helper()
	p.eval("click "+what, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true })()`, sel))
}

// fill sets the value of the field sel finds, as typing does (an input
// event), or checks or unchecks a checkbox.
func (p page) fill(sel string, value any) {
	p.t.Helper()
	v, _ := json.Marshal(value)
	p.eval("fill "+sel, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false;
		const v = %s; if (typeof v === 'boolean') e.checked = v; else e.value = v;
		e.dispatchEvent(new Event('input', { bubbles: true })); e.dispatchEvent(new Event('change', { bubbles: true })); return true })()`, sel, v))
}

func (p page) screenshot(name string) {
	p.t.Helper()
	// A viewport as tall as the page, not FullScreenshot: Chromium draws
	// a sandboxed frame (the HTML preview) only inside the viewport.
	for range 3 { // the page may grow as the viewport does
		h, err := chromedp.Run(p.ctx, chromedp.Evaluate[int64](`Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)`))
		if err != nil {
			p.t.Fatalf("screenshot: %v", err)
		}
		if _, err := chromedp.Run(p.ctx, chromedp.EmulateViewport(1440, h)); err != nil {
			p.t.Fatalf("screenshot: %v", err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the frame is drawn after the resize; a picture, not a check
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if _, err := chromedp.Run(p.ctx, chromedp.EmulateViewport(1440, 900)); err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, name), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", filepath.Join(p.dir, name))
}

// TestBrowserControlPanel drives each control of the page once and reads
// the result back from the API: the behaviour form (forced replies,
// delays, state, greylisting, TLS, AUTH, limits, extensions, a part
// switched off, a mistake shown next to the form), the fault form's
// error, the test message form through the relay, search, the HTML
// preview and attachments, delete, the relay's queue with its reasons in
// full, and a transcript.
func TestBrowserControlPanel(t *testing.T) {
	requireChromium(t)
	cfg := Demo()
	cfg.Relay = harness.Reference(harness.ReferenceConfig{Hostname: "relay.test", RetryInterval: time.Hour})
	f := newFixtureWith(t, cfg, Config{Token: "panel-token-0123456789"})
	bctx, dir, poll := openPage(t, f)
	p := page{t, bctx, dir, poll}
	poll("live stream connected", `document.getElementById('live').textContent === 'live'`)
	poll("queue panel shown", `!document.getElementById('queue-panel').hidden && document.getElementById('queue-note').textContent === 'empty'`)

	// Must show: a forced reply and a delay set from the page, read back
	// from the API.
	const row3 = `tr[data-host="mx3.example.test"]`
	p.click("edit mx3", row3+` button[data-action="edit"]`)
	poll("behaviour form built from the schema", `document.querySelector('#behavior-form[data-host="mx3.example.test"] [data-part="replies"]') !== null`)
	// Every part of a behaviour the Go types have is in the form, and
	// nothing else: a part added to scenarios.Behavior shows up by itself.
	keys, _ := json.Marshal(scenarios.BehaviorKeys())
	poll("one switch per behaviour part", `JSON.stringify([...document.querySelectorAll('#behavior-form [data-part-on]')].map(e => e.dataset.partOn)) === '`+string(keys)+`'`)
	p.click("add a rcpt rule", `#behavior-form button[data-action="add"][data-path="replies.rcpt"]`)
	poll("rule row added", `document.querySelector('#behavior-form [data-path="replies.rcpt.0.reply"]') !== null`)
	p.fill(`#behavior-form [data-path="replies.rcpt.0.reply"]`, "452 4.2.2 mailbox full")
	p.fill(`#behavior-form [data-path="replies.rcpt.0.times"]`, "2")
	p.fill(`#behavior-form [data-path="delays.mail"]`, "2s")
	p.click("save", `#behavior-form button[data-action="save-form"]`)
	poll("saved", `document.getElementById('behavior-saved')?.textContent.startsWith('saved')`)
	var h hostJSON
	f.want(http.StatusOK, &h, "GET", "/api/hosts/mx3.example.test", "", nil)
	b := f.env.Host("mx3.example.test").Behavior()
	if h.Behavior == nil || h.Behavior.Replies == nil || len(h.Behavior.Replies.Rcpt) != 1 || h.Behavior.Replies.Rcpt[0].Reply.String() != "452 4.2.2 mailbox full" ||
		h.Behavior.Replies.Rcpt[0].Reply.Times != 2 || h.Behavior.Delays == nil || h.Behavior.Delays.Mail != 2*time.Second {
		t.Fatalf("API after the form: %+v (%s)", h.Behavior, h.Summary)
	}
	if b.Delays.Mail != 2*time.Second || len(b.Replies.Rcpt) != 1 || b.Replies.Rcpt[0].Reply.Code != 452 {
		t.Fatalf("mx3's behaviour after the form: %+v", b)
	}
	poll("the form shows what was saved", `document.querySelector('#behavior-form [data-path="replies.rcpt.0.reply"]')?.value === '452 4.2.2 mailbox full' && document.querySelector('#behavior-form [data-path="delays.mail"]').value === '2s'`)

	// Every other part once, on mx1.
	const row1 = `tr[data-host="mx1.example.test"]`
	p.click("edit mx1", row1+` button[data-action="edit"]`)
	poll("mx1's form", `document.querySelector('#behavior-form[data-host="mx1.example.test"]') !== null`)
	for sel, v := range map[string]any{
		"state": "blackhole", "greylist.window": "45s", "tls.starttls": "required", "tls.cert": "expired",
		"auth.users": "carol: s3cret", "auth.required": true, "auth.mechanisms": "PLAIN", "limits.max_recipients": "5",
		"extensions.no_chunking": true, "hangup_after": "7", "relay.accept": "example.test", "greeting": nil,
	} {
		if v == nil {
			continue
		}
		p.fill(`#behavior-form [data-path="`+sel+`"]`, v)
	}
	// A greeting rule: a list of rules, each a reply or a map.
	p.click("add a greeting rule", `#behavior-form button[data-action="add"][data-path="greeting"]`)
	p.fill(`#behavior-form [data-path="greeting.0.reply"]`, "554 5.3.2 go away")
	p.click("save mx1", `#behavior-form button[data-action="save-form"]`)
	poll("mx1 saved", `document.getElementById('behavior-saved')?.textContent.startsWith('saved')`)
	b = f.env.Host("mx1.example.test").Behavior()
	if b.State != fakesmtp.Blackhole || b.Greylist == nil || b.Greylist.Window != 45*time.Second || b.TLS.StartTLS != fakesmtp.TLSRequired ||
		b.TLS.Cert != fakesmtp.CertExpired || b.Auth == nil || b.Auth.Users["carol"] != "s3cret" || !b.Auth.Required || len(b.Auth.Mechanisms) != 1 ||
		b.Limits.MaxRecipients != 5 || !b.Extensions.NoChunking || b.HangupAfter != 7 || b.Relay == nil || len(b.Relay.Accept) != 1 ||
		len(b.Replies.Greeting) != 1 || b.Replies.Greeting[0].Reply.Code != 554 {
		t.Fatalf("mx1 after the form: %+v", b)
	}
	poll("host table shows blackhole", `document.querySelector('`+row1+` .state')?.textContent === 'blackhole'`)

	// A mistake: the API's error next to the form, nothing changed.
	p.fill(`#behavior-form [data-path="delays.rcpt"]`, "soon")
	p.click("save a mistake", `#behavior-form button[data-action="save-form"]`)
	poll("error next to the form", `!document.getElementById('behavior-error').hidden && document.getElementById('behavior-error').textContent.includes('soon')`)
	if got := f.env.Host("mx1.example.test").Behavior(); got.Delays.Rcpt != 0 || got.State != fakesmtp.Blackhole {
		t.Fatalf("a refused form changed mx1: %+v", got)
	}
	// A part switched off is normal again; the mistake goes with it.
	p.fill(`#behavior-form [data-path="delays.rcpt"]`, "")
	for _, part := range []string{"state", "greylist", "tls", "auth", "limits", "extensions", "hangup_after", "relay", "greeting", "delays"} {
		p.fill(`#behavior-form input[data-part-on="`+part+`"]`, false)
	}
	p.click("save mx1 normal", `#behavior-form button[data-action="save-form"]`)
	poll("error gone", `document.getElementById('behavior-error').hidden`)
	if got := f.env.Host("mx1.example.test").Behavior(); got.State != fakesmtp.Up || got.Greylist != nil || got.Auth != nil || got.HangupAfter != 0 || len(got.Replies.Greeting) != 0 {
		t.Fatalf("mx1 with every part off: %+v", got)
	}

	// The fault form: a bad name is refused next to the form.
	p.eval("fault form", `(() => { const f = document.getElementById('fault-form'); f.name.value = 'bad name!'; f.type.value = ''; f.kind.value = 'servfail'; f.zone.checked = false; f.requestSubmit(); return true })()`)
	poll("fault error shown", `document.getElementById('fault-error').textContent.includes('bad domain name')`)
	if fs := f.env.DNS().Faults(); len(fs) != 0 {
		t.Fatalf("faults after a bad name: %+v", fs)
	}

	// A test message through the relay, with HTML and an attachment.
	poll("send offers the relay", `document.getElementById('send-form').via.options[0]?.value === ''`)
	p.click("open the send form", `#send summary`)
	p.fill(`#send-form [name="subject"]`, "panel test ✓")
	p.fill(`#send-form [name="to"]`, "bob@example.test")
	p.fill(`#send-form [name="html"]`, `<p style="color:#1f5fbf">Hello <b>from HTML</b></p><script>document.title='pwned'</script>`)
	p.fill(`#send-form [name="attname"]`, "notes.txt")
	p.fill(`#send-form [name="attcontent"]`, "some notes")
	p.eval("send", `(() => { document.getElementById('send-form').requestSubmit(); return true })()`)
	poll("sent", `document.getElementById('send-result').textContent.startsWith('sent to the relay')`)
	f.waitEvent("the relay to deliver", func(e journal.Event) bool {
		return e.Kind == journal.KindSMTPMessage && e.Message != nil && strings.Contains(e.Message.Subject, "panel")
	})
	poll("message listed", `[...document.querySelectorAll('#messages tbody .subject')].some(td => td.textContent === 'panel test ✓')`)
	p.click("open the message", `#messages tbody tr`)
	poll("HTML preview in a sandboxed frame", `(() => { const f = document.querySelector('#detail iframe.html-preview'); return f !== null && f.getAttribute('sandbox') === '' })()`)
	poll("attachment listed for download", `(() => { const a = [...document.querySelectorAll('#detail .attachments a')].find(a => a.textContent === 'notes.txt'); return a && a.getAttribute('download') === 'notes.txt' })()`)
	// The link's GET carries the token in the page's cookie.
	att, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(async () => { const a = [...document.querySelectorAll('#detail .attachments a')].find(a => a.textContent === 'notes.txt'); return await (await fetch(a.href)).text() })()`, chromedp.EvalAwaitPromise))
	if err != nil || att != "some notes" {
		t.Fatalf("attachment downloaded: %q, %v", att, err)
	}
	if title, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.title`)); title != "mxsim sandbox" {
		t.Fatalf("the message's script ran: title %q", title)
	}

	// Search.
	p.fill(`#message-search`, "PANEL")
	poll("search finds it", `document.querySelectorAll('#messages tbody tr').length === 1 && document.getElementById('messages-count').textContent.includes('1 found')`)
	p.fill(`#message-search`, "no-such-text")
	poll("search finds nothing", `document.querySelectorAll('#messages tbody tr').length === 0`)
	p.fill(`#message-search`, "")
	poll("search cleared", `document.querySelectorAll('#messages tbody tr').length === 1`)

	// The relay's queue: every MX of example.test defers; the reason is
	// shown whole.
	long := "451 4.3.0 " + strings.Repeat("a reason the queue must show whole ", 4) + "the end"
	for _, mx := range []string{"mx1.example.test", "mx2.example.test"} {
		f.want(http.StatusOK, nil, "PUT", "/api/hosts/"+mx, ctJSON, map[string]any{"replies": map[string]any{"rcpt": long}})
	}
	// mx3 keeps the delay set from the page (a set step's part).
	f.want(http.StatusOK, nil, "PATCH", "/api/hosts/mx3.example.test", ctJSON, map[string]any{"replies": map[string]any{"rcpt": long}})
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	if err := f.env.Send(ctx, harness.Message{From: "alice@origin.test", To: []string{"carol@example.test"}, Subject: "stuck"}); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Wait(ctx, settle, func(j *journal.Journal) error {
		if len(j.Events(journal.OfKind(journal.KindRelayDefer))) == 0 {
			return errors.New("not deferred yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p.click("refresh the queue", `#queue-refresh`)
	poll("queue shows the reason whole", `[...document.querySelectorAll('#queue .reason')].some(r => r.textContent.includes('the end') && r.textContent.includes('a reason the queue'))`)
	poll("the timeline shows the defer reason whole", `[...document.querySelectorAll('#timeline g.row.note text.label')].some(t => t.textContent.startsWith('relay defer') && t.textContent.includes('the end (in reply to RCPT)'))`)
	var q queueJSON
	f.want(http.StatusOK, &q, "GET", "/api/queue", "", nil)
	if len(q.Messages) != 1 || q.Messages[0].To[0].To != "carol@example.test" {
		t.Fatalf("API queue: %+v", q)
	}
	poll("the page lists the API's queue", `document.querySelector('#queue tbody tr')?.dataset.id === '`+q.Messages[0].ID+`'`)
	poll("the host table has mx3's new behaviour", `document.querySelector('`+row3+` .summary')?.textContent.includes('451 4.3.0')`)
	p.click("edit mx3 again", row3+` button[data-action="edit"]`)
	poll("mx3's form, as it is now", `document.querySelector('#behavior-form[data-host="mx3.example.test"] [data-path="replies.rcpt.0.reply"]')?.value.endsWith('the end') && document.querySelector('#behavior-form [data-path="delays.mail"]').value === '2s'`)
	p.screenshot("sandbox.png")

	// Delete, from the list.
	p.click("delete the message", `#messages tbody button[data-action="delete-message"]`)
	poll("deleted", `document.querySelectorAll('#messages tbody tr').length === 0 && document.getElementById('messages-count').textContent.includes('1 deleted')`)
	var list messageListJSON
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	if len(list.Messages) != 0 || list.Deleted != 1 {
		t.Fatalf("API after delete: %+v", list)
	}

	// The rest of the controls, once each.
	const rowA = `tr[data-host="mx-a.shop.example"]`
	p.click("down", rowA+` button[data-action="down"]`)
	poll("mx-a down", `document.querySelector('`+rowA+` .state')?.textContent === 'down'`)
	p.click("up", rowA+` button[data-action="up"]`)
	poll("mx-a up", `document.querySelector('`+rowA+` .state')?.textContent === 'up'`)
	if st := f.env.Host("mx-a.shop.example").Behavior().State; st != fakesmtp.Up && st != "" {
		t.Fatalf("mx-a after down and up: %q", st)
	}
	p.click("kick", `tr[data-host="mx2.example.test"] button[data-action="disconnect"]`)
	f.waitEvent("the kick", isControl("mx2.example.test: client connections closed"))
	p.click("greylist on", rowA+` input[data-action="greylist"]`)
	poll("mx-a greylists", `document.querySelector('`+rowA+` .summary')?.textContent.includes('greylist 30s')`)
	if g := f.env.Host("mx-a.shop.example").Behavior().Greylist; g == nil || g.Window != 30*time.Second {
		t.Fatalf("mx-a greylist after the box: %+v", g)
	}
	p.click("edit MX", `[id="zone-shop.example"] button[data-action="edit-mx"]`)
	poll("MX editor", `document.querySelector('.mxedit textarea') !== null`)
	p.fill(`.mxedit textarea`, "10 mx-b.shop.example")
	p.click("save MX", `.mxedit button`)
	poll("MX set saved", `document.querySelectorAll('[id="zone-shop.example"] .mx').length === 1`)
	if got := lookupMX(t, f.env, "shop.example"); len(got) != 1 || got[0] != "10 mx-b.shop.example." {
		t.Fatalf("MX of shop.example after the editor: %v", got)
	}
	p.click("flush", `#flush`)
	f.waitEvent("the flush", isControl("flush"))
	p.fill(`#hide-commands`, true)
	poll("commands hidden", `![...document.querySelectorAll('#timeline g.row text.label')].some(t => t.textContent.startsWith('RCPT TO'))`)
	p.fill(`#hide-commands`, false)
	poll("commands shown", `[...document.querySelectorAll('#timeline g.row text.label')].some(t => t.textContent.startsWith('RCPT TO'))`)
	f.want(http.StatusOK, nil, "POST", "/api/send", ctJSON, map[string]any{"host": "mx-b.shop.example", "from": "alice@origin.test", "to": []string{"dave@shop.example"}, "subject": "to delete"})
	poll("a message to delete", `document.querySelectorAll('#messages tbody tr').length === 1`)
	p.click("delete all", `#delete-all`)
	poll("every message deleted", `document.querySelectorAll('#messages tbody tr').length === 0 && document.getElementById('messages-count').textContent.includes('2 deleted')`)
	f.want(http.StatusOK, &list, "GET", "/api/messages", "", nil)
	if len(list.Messages) != 0 || list.Deleted != 2 {
		t.Fatalf("API after delete all: %+v", list)
	}

	// A transcript, by its path with '~'.
	p.click("a session", `#sessions li`)
	poll("transcript shown", `document.getElementById('detail-title').textContent.startsWith('Transcript') && document.querySelector('#detail pre.transcript').textContent.includes('EHLO')`)
}

// TestBrowserTimeline20Hosts: with 20 hosts, the diagram scrolls sideways
// and every lane keeps its whole name, without overlapping the next.
func TestBrowserTimeline20Hosts(t *testing.T) {
	requireChromium(t)
	var hosts []harness.Host
	var mx []string
	for i := range 20 {
		name := fmt.Sprintf("mx%02d.a-rather-long-name.example.test", i+1)
		hosts = append(hosts, harness.Host{Name: name})
		mx = append(mx, fmt.Sprintf("MX %d %s.", 10+i, name))
	}
	f := newFixtureWith(t, harness.Config{Zones: []fakedns.Zone{{Name: "example.test", Records: map[string][]string{"@": mx}}}, Hosts: hosts}, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, h := range hosts {
		if err := harness.Submit(ctx, f.env.Host(h.Name).Addr(), harness.Message{From: "alice@origin.test", To: []string{"bob@example.test"}}); err != nil {
			t.Fatal(err)
		}
	}
	f.waitSessionsEnded()
	bctx, dir, poll := openPage(t, f)
	poll("22 lanes", `document.querySelectorAll('#timeline svg.heads g.head').length === 22`)
	names, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#timeline svg.heads g.head text')].map(t => t.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if !strings.Contains(strings.Join(names, "\n"), h.Name) {
			t.Errorf("lane labels %q lack %s whole", names, h.Name)
		}
	}
	poll("labels fit their lanes, lanes do not overlap", `(() => {
		const heads = [...document.querySelectorAll('#timeline svg.heads g.head')];
		let right = -1;
		for (const g of heads) {
			const r = g.querySelector('rect').getBBox(), tx = g.querySelector('text').getBBox();
			if (tx.width > r.width || r.x < right) return false;
			right = r.x + r.width;
		}
		return true })()`)
	poll("the timeline scrolls sideways", `(() => { const b = document.getElementById('timeline'); return b.scrollWidth > b.clientWidth + 1000 && getComputedStyle(b).overflowX === 'auto' })()`)
	page{t, bctx, dir, poll}.screenshot("sandbox-timeline.png")
}
