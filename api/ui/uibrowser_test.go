package ui_test

// TestUIBrowser drives the support dashboard in a real browser: Debian's
// chromium, headless, through github.com/chromedp/chromedp, against an
// in-process gateway on 127.0.0.1 (sim channels). It signs in and searches
// with the keyboard, follows a message that failed over from WhatsApp to
// SMS to its timeline, checks that a body and metadata holding markup show
// as text, disables a channel as admin, and saves screenshots at 1280 and
// 390 px wide to a temporary folder it prints.
//
// `make test` installs chromium (apt) when missing; without it this test
// fails, it does not skip. To refresh the screenshots the README shows:
//
//	SWITCHBOARD_UPDATE_SCREENSHOTS=1 go test -count=1 -run TestUIBrowser ./api/ui/

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// xss is markup that would run script if the dashboard ever wrote message
// content unescaped. The page's CSP would block both payloads, so the test
// checks the DOM (no element was created, the text is there as text) rather
// than only that nothing ran.
const xss = `<script>window.__pwned=1;alert(1)</script><img src=x onerror="window.__pwned=2;alert(2)">`

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: install chromium (apt-get install chromium), or run `make test`, which does")
	return ""
}

// browser is one headless chromium tab with the helpers the test needs.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string

	mu      sync.Mutex
	dialogs []string // alert/confirm/prompt messages, dismissed
	console []string // errors and warnings, including CSP violations
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	exe := chromiumPath(t)
	shots, err := os.MkdirTemp("", "switchboard-ui-*")
	require.NoError(t, err)
	t.Logf("dashboard screenshots: %s", shots)

	// Bounded: a hung browser fails the test instead of eating the
	// package's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		chromedp.Env("TZ=UTC"),
	)
	bctx, bcancel := chromedp.NewContext(actx)
	// Closing the tab and then the allocator waits for chromium to exit,
	// before the gateway (started earlier) shuts down.
	t.Cleanup(func() { bcancel(); acancel(); cancel() })

	b := &browser{t: t, ctx: bctx, base: base, shots: shots}
	require.NoError(t, chromedp.Do(bctx), "start chromium %s", exe)
	require.NoError(t, chromedp.Listen(bctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			b.mu.Lock()
			b.dialogs = append(b.dialogs, string(d.Type)+": "+d.Message)
			b.mu.Unlock()
			go func() { // never call the browser from the listener itself
				_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		}
	}))
	go func() {
		for m, err := range chromedp.Console(bctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.console = append(b.console, string(m.Type)+": "+m.Text+" "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, actions...), what)
}

func evalAs[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	require.NoError(b.t, err, "evaluate %s", js)
	return v
}

// waitJS waits, bounded, until js is true. Errors while a navigation
// replaces the page are retried.
func (b *browser) waitJS(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			loc, _ := chromedp.Run(b.ctx, chromedp.Location())
			b.t.Fatalf("waited 15s for %s (%s) at %s: %v", what, js, loc, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) open(path, ready string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path))
	b.waitJS(path+" ready", ready)
}

// keys types into whatever has focus, as a user at a keyboard would.
func (b *browser) keys(s string) {
	b.t.Helper()
	b.do("type", chromedp.KeyEvent(s))
}

func (b *browser) focused() string {
	b.t.Helper()
	return evalAs[string](b, `document.activeElement ? document.activeElement.id : ""`)
}

func (b *browser) text(css string) string {
	b.t.Helper()
	return evalAs[string](b, fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, css))
}

// noSideScroll: at a phone's width the page must not scroll sideways.
func (b *browser) noSideScroll(what string) {
	b.t.Helper()
	w := evalAs[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`)
	require.LessOrEqual(b.t, w[0], w[1], "%s scrolls sideways at %dpx", what, w[1])
}

// shot saves the viewport (full=false) or the whole page as PNG and
// returns it.
func (b *browser) shot(name string, full bool) []byte {
	b.t.Helper()
	var png []byte
	var err error
	if full {
		png, err = chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	} else {
		png, err = chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	}
	require.NoError(b.t, err, "screenshot %s", name)
	require.NoError(b.t, os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644))
	return png
}

func (b *browser) checkNothingRan() {
	b.t.Helper()
	require.Equal(b.t, "undefined", evalAs[string](b, `typeof window.__pwned`), "injected script ran")
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(b.t, b.dialogs, "a dialog opened")
	for _, m := range b.console {
		require.NotContains(b.t, m, "Content Security Policy", "the page tried to run or load something its CSP refused: markup got through unescaped?")
	}
}

func TestUIBrowser(t *testing.T) {
	u := startUI(t)
	b := newBrowser(t, u.base)
	sim := func(ch, mode string) { u.api("POST", "/v1/channels/"+ch+"/sim", adminKey, `{"mode":"`+mode+`"}`) }

	// A few ordinary messages, then WhatsApp rejects: one fails over to SMS.
	var ids []string
	for _, m := range []string{
		`{"to":{"whatsapp":"+15551234567","phone":"+15551234567"},"body":"Your code is 481516","tags":["otp"]}`,
		`{"to":{"email":"bo@example.com","telegram":"987654321"},"body":"Your order has shipped","tags":["order"]}`,
		`{"to":{"whatsapp":"+447700900123"},"body":"Your table is booked for 8pm","tags":["booking"]}`,
		`{"to":{"email":"cy@example.org"},"subject":"Receipt","body":"Thanks for your order","tags":["receipt"]}`,
	} {
		ids = append(ids, u.send(m))
	}
	for _, id := range ids {
		u.waitStatus(id, "delivered")
	}
	sim("whatsapp", "reject")
	failover := u.send(`{"to":{"whatsapp":"+15557770001","phone":"+15557770001"},"body":"Your code is 230742","tags":["otp"]}`)
	m := u.waitStatus(failover, "delivered")
	require.Equal(t, "sms", m["channel"])
	// Markup in the body, a metadata value and a metadata key.
	evil := u.send(`{"to":{"email":"mallory@example.com"},"body":` + mustJSON(t, xss) +
		`,"metadata":{"note":` + mustJSON(t, xss) + `,"<script>alert(1)</script>":"key"}}`)
	u.waitStatus(evil, "delivered")

	// ---- 1280 px: sign in by keyboard ----
	b.do("viewport", chromedp.EmulateViewport(1280, 800))
	b.open("/ui/", `location.pathname === "/ui/login" && document.readyState === "complete"`)
	require.Equal(t, "key", b.focused(), "the key field has focus on arrival")
	b.keys("not-a-key\r")
	b.waitJS("sign-in refused", `!!document.querySelector("#login-error")`)
	require.Contains(t, b.text("#login-error"), "That API key is not valid.")
	require.Equal(t, "key", b.focused(), "after a refusal the key field has focus again")
	b.keys(adminKey + "\r")
	b.waitJS("signed in", `location.pathname === "/ui/" && !!document.querySelector("form[role=search]")`)
	require.Contains(t, b.text("header.top"), "ops admin")
	b.waitJS("times shown in the viewer's zone by ui.js", `!/^\d{4}-/.test(document.querySelector("#live time").textContent)`)
	docsMessages := b.shot("1280-messages", false)

	// ---- search by recipient, by keyboard; open the message by keyboard ----
	b.do("focus search", chromedp.Focus(chromedp.CSS("#q")))
	b.keys("+1 (555) 777-0001")
	b.keys("\t")
	require.Equal(t, "status", b.focused(), "Tab moves from the search box to the next filter")
	b.do("back to search", chromedp.Focus(chromedp.CSS("#q")))
	b.keys("\r")
	b.waitJS("search ran", `location.search.includes("q=") && !!document.querySelector("table.list")`)
	links := evalAs[[]string](b, `[...document.querySelectorAll("table.list a[href^='/ui/messages/']")].map(a => a.getAttribute("href"))`)
	require.Equal(t, []string{"/ui/messages/" + failover}, links, "the search finds the message by its recipient")
	row := b.text("table.list tbody tr")
	require.Contains(t, row, "sms")
	require.Contains(t, row, "fallback")
	require.NotContains(t, row, "5557770001", "masked in the list")
	b.shot("1280-search", false)

	b.do("focus the message link", chromedp.Focus(chromedp.CSS("table.list a[href^='/ui/messages/']")))
	b.keys("\r")
	b.waitJS("timeline", fmt.Sprintf(`location.pathname === "/ui/messages/%s" && !!document.querySelector("ol.timeline")`, failover))
	tl := b.text("ol.timeline")
	require.Contains(t, tl, "WhatsApp rejected the message: sim: recipient rejected, so we sent it by SMS.")
	require.Contains(t, b.text("section.summary"), "+15557770001", "the full recipient on the detail page")
	b.shot("1280-timeline-full", true)
	docsTimeline := b.shot("1280-timeline", false) // summary, route and the failover reason

	// ---- escaping: markup in a body and metadata shows as text ----
	b.open("/ui/messages/"+evil, `!!document.querySelector("section.summary")`)
	b.do("open the message text", chromedp.Click(chromedp.CSS("section.summary details summary")))
	b.waitJS("message text shown", `document.querySelector("pre.body").checkVisibility()`)
	require.Equal(t, xss, b.text("pre.body"), "the body is shown as text")
	facts := b.text("section.summary dl.facts")
	require.Contains(t, facts, xss, "a metadata value is shown as text")
	require.Contains(t, facts, "<script>alert(1)</script>", "a metadata key is shown as text")
	require.Zero(t, evalAs[int](b, `document.querySelectorAll("main script, main img, main [onerror]").length`),
		"message content created elements")
	b.checkNothingRan()
	b.shot("1280-escaping", true)

	// ---- channels: disable WhatsApp as admin, by keyboard ----
	b.open("/ui/channels", `!!document.querySelector("#reason-whatsapp")`)
	require.Contains(t, b.text("section:has(#fo-h)"), "WhatsApp rejected the message")
	b.do("focus reason", chromedp.Focus(chromedp.CSS("#reason-whatsapp")))
	b.keys("INC-42 WhatsApp rejects recipients\r")
	b.waitJS("disabled", `!!document.querySelector("form[action='/ui/channels/whatsapp/enable']")`)
	require.Contains(t, b.text("#ch-whatsapp"), "WhatsApp")
	require.Contains(t, b.text("section.channel:has(#ch-whatsapp)"), "Disabled: INC-42 WhatsApp rejects recipients (ops, dashboard)")
	require.Contains(t, mustJSON(t, u.api("GET", "/v1/channels", readKey, "")), "INC-42 WhatsApp rejects recipients (ops, dashboard)")
	b.shot("1280-channels", true)

	// ---- 390 px: same pages on a phone, no sideways scrolling ----
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, p := range []struct{ name, path, ready, says string }{
		{"390-messages", "/ui/", `!!document.querySelector("table.list")`, "fallback"},
		{"390-timeline", "/ui/messages/" + failover, `!!document.querySelector("ol.timeline")`, "so we sent it by SMS."},
		{"390-channels", "/ui/channels", `!!document.querySelector("section.channel")`, "Enable whatsapp"},
	} {
		b.open(p.path, p.ready)
		require.Contains(t, b.text("main"), p.says, p.name)
		b.noSideScroll(p.name)
		b.shot(p.name, true)
	}
	b.checkNothingRan()

	if os.Getenv("SWITCHBOARD_UPDATE_SCREENSHOTS") != "" {
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "dashboard-messages.png"), docsMessages, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "dashboard-timeline.png"), docsTimeline, 0o644))
		t.Log("updated docs/dashboard-messages.png and docs/dashboard-timeline.png")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.console) > 0 {
		t.Logf("browser console:\n%s", strings.Join(b.console, "\n"))
	}
}
