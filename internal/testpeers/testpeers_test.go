package testpeers

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// The peers start and answer: a smoke test so a broken install fails here,
// with the peer's own log, rather than inside a channel test.
func TestPeersStart(t *testing.T) {
	get := func(url string) string {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := get(Telegram(t) + "/bot1:abc/getMe"); !strings.Contains(body, `"ok":true`) {
		t.Fatalf("telegram getMe: %s", body)
	}
	md := StartMailDev(t, MailDevOptions{})
	if body := get(md.WebURL + "/api/email"); !strings.HasPrefix(strings.TrimSpace(body), "[") {
		t.Fatalf("maildev /api/email: %s", body)
	}
	resp, err := http.Post(Prism(t)+"/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json", "application/x-www-form-urlencoded", strings.NewReader("To=%2B15551234567&From=%2B15005550006&Body=hi"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("prism without auth: got %d, want 401 (the spec requires basic auth)", resp.StatusCode)
	}
}
