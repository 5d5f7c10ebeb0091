package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mxsim/mxsim/fakesmtp"
	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/journal"
)

// chromiumPath is Debian's chromium package.
const chromiumPath = "/usr/bin/chromium"

// TestBrowserTakesHostDown loads the page in headless Chromium, takes mx1
// down with a click, and sees the change in the page and through the API.
// The page gets the token from its URL fragment, so the token plumbing of
// the page is exercised too. A screenshot is kept in $MXSIM_ARTIFACTS (or
// the test's temporary directory).
func TestBrowserTakesHostDown(t *testing.T) {
	requireChromium(t)
	f := newFixture(t, Config{Token: "browser-token-4567"})

	// Some traffic first, so that the page has a message, a session and a
	// timeline to show.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := harness.Submit(ctx, f.env.Host(DemoSmarthost).Addr(), harness.Message{
		From: "alice@origin.test", To: []string{"bob@example.test"}, Subject: "hello from the browser test",
		Headers:  map[string]string{"MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8", "Content-Transfer-Encoding": "quoted-printable"},
		Body:     "caf=C3=A9 cr=C3=A8me\r\n",
		StartTLS: true, User: DemoUser, Password: DemoPassword,
	})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if _, err := f.env.DNS().Resolver().LookupMX(ctx, "example.test"); err != nil {
		t.Fatalf("LookupMX: %v", err)
	}

	bctx, dir, poll := openPage(t, f)
	const row = `tr[data-host="mx1.example.test"]`
	poll("mx1 shown up", `document.querySelector('`+row+` .state')?.textContent === 'up'`)
	poll("live stream connected", `document.getElementById('live').textContent === 'live'`)
	poll("message listed", `document.querySelector('#messages tbody tr') !== null`)
	poll("timeline drawn", `document.querySelectorAll('#timeline svg g.row').length > 5`)

	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(row+` button[data-action="down"]`), chromedp.NodeVisible)); err != nil {
		t.Fatalf("click down: %v", err)
	}
	poll("mx1 shown down", `document.querySelector('`+row+` .state')?.textContent === 'down'`)
	poll("MX set shows mx1 down", `document.querySelector('#zone-example\\.test .mx.down')?.textContent.includes('mx1.example.test')`)
	poll("timeline shows the change", `[...document.querySelectorAll('#timeline svg g.band text')].some(t => t.textContent.includes('mx1.example.test: state down'))`)

	var h hostJSON
	f.want(http.StatusOK, &h, "GET", "/api/hosts/mx1.example.test", "", nil)
	if h.State != fakesmtp.Down {
		t.Fatalf("API: mx1 state %q after the click, want down", h.State)
	}

	// The host controls send the scenario's shape: the greylist box a
	// set step's part and clear, the behaviour editor a host as under
	// hosts: (YAML here), the fault form a set step's fault and a zone's
	// fault.
	const row3 = `tr[data-host="mx3.example.test"]`
	// Live refreshes rebuild the rows: find and click in one step of the
	// page, so that the node clicked is the one found.
	click := func(what, sel string) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true })()`, sel)
		if ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](js)); err != nil || !ok {
			t.Fatalf("click %s (%s): found %v, %v", what, sel, ok, err)
		}
	}
	click("greylist", row3+` input[data-action="greylist"]`)
	poll("mx3 greylists", `document.querySelector('`+row3+` .summary')?.textContent.includes('greylist 30s')`)
	click("greylist off", row3+` input[data-action="greylist"]`)
	poll("mx3 greylists no more", `!document.querySelector('`+row3+` .summary')?.textContent.includes('greylist')`)
	click("edit", row3+` button[data-action="edit"]`)
	poll("behaviour form shown", `document.querySelector('#behavior-form a, #behavior-body a[data-action="edit-yaml"]') !== null`)
	click("edit as YAML", `#behavior-body a[data-action="edit-yaml"]`)
	poll("behaviour editor shown", `document.querySelector('#detail textarea.behavior')?.value.startsWith('{')`)
	if err := chromedp.Do(bctx, chromedp.SetValue(chromedp.CSS(`#detail textarea.behavior`), "greylist: {window: 45s}\nreplies:\n  rcpt: \"452 4.2.2 full\"\n")); err != nil {
		t.Fatalf("edit behaviour: %v", err)
	}
	click("save", `#detail button[data-action="save-behavior"]`)
	poll("mx3 saved", `document.querySelector('`+row3+` .summary')?.textContent.includes('greylist 45s')`)
	if b := f.env.Host("mx3.example.test").Behavior(); b.Greylist == nil || b.Greylist.Window != 45*time.Second || len(b.Replies.Rcpt) != 1 || b.Replies.Rcpt[0].Reply.Code != 452 {
		t.Fatalf("mx3 after the editor's save: %+v", b)
	}
	submitFault := func(name, typ, kind string, zone bool) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const f = document.getElementById('fault-form'); f.name.value = %q; f.type.value = %q; f.kind.value = %q; f.zone.checked = %v; f.requestSubmit(); return true })()`, name, typ, kind, zone)
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](js)); err != nil {
			t.Fatalf("fault form: %v", err)
		}
	}
	submitFault("example.test", "MX", "servfail", false)
	poll("fault listed", `document.getElementById('faults').textContent.includes('servfail on example.test MX')`)
	submitFault("shop.example", "", "nxdomain", true)
	poll("zone fault listed", `document.getElementById('faults').textContent.includes('nxdomain on shop.example any type (whole zone)')`)
	if fs := f.env.DNS().Faults(); len(fs) != 2 {
		t.Fatalf("faults after the form: %+v", fs)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => { [...document.querySelectorAll('#faults .fault')].find(d => d.textContent.includes('whole zone')).querySelector('button').click(); return true })()`)); err != nil {
		t.Fatalf("clear zone fault: %v", err)
	}
	poll("zone fault cleared", `!document.getElementById('faults').textContent.includes('whole zone')`)
	if fs := f.env.DNS().Faults(); len(fs) != 1 || fs[0].Kind != "servfail" {
		t.Fatalf("faults after clearing the zone's: %+v", fs)
	}

	// Open the message, for the screenshot.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#messages tbody tr`), chromedp.NodeVisible)); err != nil {
		t.Fatalf("click message: %v", err)
	}
	poll("message shown", `document.getElementById('detail-title').textContent.startsWith('Message')`)
	poll("body decoded", `document.querySelector('#detail pre.text')?.textContent.includes('café crème')`)
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	out := filepath.Join(dir, "sandbox-host-down.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))
}

// requireChromium skips the test without Chromium, except under CI.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: CI must install Debian's chromium package (.ci/run does)", chromiumPath)
		}
		t.Skipf("%s is missing: apt-get install -y chromium to run this test", chromiumPath)
	}
}

// openPage starts headless Chromium, loads the sandbox's page and returns
// the browser's context, the directory for screenshots, and poll, which
// waits for a JavaScript expression to hold or fails the test with a
// screenshot. The browser is closed by t.Cleanup, before the fixture.
func openPage(t *testing.T, f *fixture) (bctx context.Context, dir string, poll func(what, expr string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(bctx, 10*time.Second)
		defer ccancel()
		chromedp.Cancel(cctx) // close the browser and wait for it
		bcancel()
	})

	dir = os.Getenv("MXSIM_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	poll = func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			// Keep what the page showed, and its error box, as evidence.
			shown, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('error').textContent`))
			if png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
				os.WriteFile(filepath.Join(dir, "sandbox-failed.png"), png, 0o644)
			}
			t.Fatalf("page: %s: %v (error box: %q; screenshot in %s)", what, err, shown, dir)
		}
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(f.srv.URL())); err != nil {
		t.Fatalf("navigate to %s: %v", f.srv.URL(), err)
	}
	return bctx, dir, poll
}

// TestBrowserShowsDrops: a sandbox that has dropped events and messages
// says so on its page: a band at the top of the timeline, and a line over
// the messages.
func TestBrowserShowsDrops(t *testing.T) {
	requireChromium(t)
	f := newFixtureWith(t, limited(journal.Limits{MaxEvents: 40, MaxMessages: 2}), Config{})
	f.submitN(10)
	dropped := f.env.Journal().Dropped()
	bctx, dir, poll := openPage(t, f)
	poll("live stream connected", `document.getElementById('live').textContent === 'live'`)
	band := fmt.Sprintf("%d older events dropped (the sandbox keeps the last 40)", dropped.Events)
	poll("timeline shows the drop", `[...document.querySelectorAll('#timeline svg g.band.dropped text')].some(t => t.textContent.includes('`+band+`'))`)
	poll("the timeline's heading says so too", `document.getElementById('events-dropped').textContent === '· `+fmt.Sprintf("%d", dropped.Events)+` older events dropped'`)
	poll("messages say how many were dropped", `document.getElementById('messages-dropped').textContent === '8 older messages dropped (the sandbox keeps the last 2)'`)
	poll("two messages listed", `document.querySelectorAll('#messages tbody tr').length === 2`)
	if png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(dir, "sandbox-drops.png"), png, 0o644)
	}
}
