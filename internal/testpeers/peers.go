package testpeers

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TwilioSpec is the path of Twilio's OpenAPI spec (api v2010), which `make
// peers` extracts from the pinned npm package @twilio-alpha/mcp into
// tools/peers/twilio-oai. SWITCHBOARD_TWILIO_SPEC, when set, overrides it.
func TwilioSpec() (string, error) {
	if p := os.Getenv("SWITCHBOARD_TWILIO_SPEC"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("SWITCHBOARD_TWILIO_SPEC: %w", err)
		}
		return p, nil
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "tools", "peers", "twilio-oai", "twilio_api_v2010.json")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("Twilio's OpenAPI spec is missing (run `make peers`): %w", err)
	}
	return p, nil
}

// Prism serves Twilio's OpenAPI spec with Stoplight Prism (static examples,
// request validation on) and returns its base URL, e.g. http://127.0.0.1:41234.
// One instance is shared by the test binary.
func Prism(t testing.TB) string {
	t.Helper()
	p, err := once("prism", func() (*Peer, error) {
		spec, err := TwilioSpec()
		if err != nil {
			return nil, err
		}
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		return start("prism", []string{"node_modules/.bin/prism", "mock", "-h", "127.0.0.1", "-p", fmt.Sprint(port), spec},
			port, httpReady(fmt.Sprintf("http://127.0.0.1:%d/2010-04-01/Accounts.json", port)))
	})
	if err != nil {
		t.Fatalf("prism: %v", err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", p.Port)
}

// MailDevOptions configures a maildev instance.
type MailDevOptions struct {
	User, Pass string // require SMTP AUTH with these (--incoming-user/--incoming-pass)
}

// MailDev is a running maildev: SMTP on SMTPPort, its REST API at WebURL
// (GET /api/email lists received mail as JSON).
type MailDev struct {
	SMTPPort int
	WebURL   string
	Peer     *Peer
}

// StartMailDev starts a maildev instance for one test (SMTP without TLS) and
// stops it when the test ends.
func StartMailDev(t testing.TB, o MailDevOptions) *MailDev {
	t.Helper()
	smtpPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	webPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// Each instance keeps its mail in its own folder: parallel tests must
	// not see each other's messages.
	args := []string{"node_modules/.bin/maildev", "--ip", "127.0.0.1", "--smtp", fmt.Sprint(smtpPort), "--web", fmt.Sprint(webPort), "--web-ip", "127.0.0.1",
		"--mail-directory", t.TempDir()}
	if o.User != "" {
		args = append(args, "--incoming-user", o.User, "--incoming-pass", o.Pass)
	}
	web := fmt.Sprintf("http://127.0.0.1:%d", webPort)
	p, err := start("maildev", args, smtpPort, func() error {
		if err := tcpReady(smtpPort)(); err != nil {
			return err
		}
		return httpReady(web + "/api/healthz")()
	})
	if err != nil {
		t.Fatalf("maildev: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("maildev log:\n%s", p.Log())
		}
		p.stop()
	})
	return &MailDev{SMTPPort: smtpPort, WebURL: web, Peer: p}
}

// Telegram starts telegram-test-api and returns its base URL (the Bot API
// lives under /bot<token>/<method>). One instance is shared by the test binary.
func Telegram(t testing.TB) string {
	t.Helper()
	p, err := once("telegram", func() (*Peer, error) {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		return start("telegram-test-api", []string{"node", "telegram.js", fmt.Sprint(port)}, port,
			httpReady(fmt.Sprintf("http://127.0.0.1:%d/bot1:probe/getMe", port)))
	})
	if err != nil {
		t.Fatalf("telegram-test-api: %v", err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", p.Port)
}
