// Command go is the Go example: it sends an OTP through Switchboard with the
// Go client, then shows how a business app verifies the status callbacks
// Switchboard POSTs to its callback_url.
//
// Run a gateway (make run), then:
//
//	go run ./examples/go
//
// Environment: SWITCHBOARD_URL (default http://127.0.0.1:8080),
// SWITCHBOARD_API_KEY (default the example config's send key),
// SWITCHBOARD_CALLBACK_SECRET (the secret callbacks are signed with).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/client"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	log.SetFlags(0)
	if err := run(); err != nil {
		log.Fatal("error: ", err)
	}
}

func run() error {
	base := env("SWITCHBOARD_URL", "http://127.0.0.1:8080")
	key := env("SWITCHBOARD_API_KEY", "dev-send-key-0123456789")
	secret := env("SWITCHBOARD_CALLBACK_SECRET", "whsec-example-secret")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// 1. A tiny HTTP server: the business app's callback endpoint.
	hooks, err := startCallbackServer(secret)
	if err != nil {
		return err
	}
	defer hooks.Close()

	// 2. Send an OTP. Send adds an Idempotency-Key and retries 429/503 and
	// network errors with it, so a retry can never send the code twice.
	sb := client.New(base, key)
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	res, err := sb.Send(ctx, &client.SendRequest{
		To:          client.Recipient{WhatsApp: "+15551234567", Phone: "+15551234567"},
		Body:        fmt.Sprintf("Your code is %06d", n.Int64()),
		Tags:        []string{"otp"},
		TTL:         "10m",
		CallbackURL: hooks.URL + "/hooks/switchboard",
	}, "")
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		return fmt.Errorf("send refused: %s (code %s, field %q)", apiErr.Message, apiErr.Code, apiErr.Field)
	}
	if err != nil {
		return err
	}
	fmt.Printf("accepted %s: policy %s, route %s\n", res.ID, res.Policy, strings.Join(res.Route, " -> "))

	m, err := sb.Get(ctx, res.ID)
	if err != nil {
		return err
	}
	fmt.Printf("status %s\n", m.Status)

	// 3. A status callback, signed here the way the gateway signs it.
	payload, _ := json.Marshal(map[string]any{
		"id": res.ID, "status": "delivered", "channel": res.Route[0], "attempt": 1,
		"is_fallback": false, "duplicate": false, "timestamp": time.Now().UTC().Format(time.RFC3339),
	})
	sig := client.Sign(payload, time.Now(), secret)
	if code := post(hooks.URL+"/hooks/switchboard", payload, sig); code != http.StatusNoContent {
		return fmt.Errorf("signed callback answered %d, want 204", code)
	}
	fmt.Println("callback signature verified")
	tampered := bytes.Replace(payload, []byte(`"delivered"`), []byte(`"failed"`), 1)
	if code := post(hooks.URL+"/hooks/switchboard", tampered, sig); code != http.StatusUnauthorized {
		return fmt.Errorf("tampered callback answered %d, want 401", code)
	}
	fmt.Println("tampered callback rejected")
	// During a rotation (callback_secrets: [new, old]) the gateway signs
	// with each secret, one v1= each: a receiver holding either accepts.
	rotating := client.Sign(payload, time.Now(), "whsec-the-new-one", secret)
	if code := post(hooks.URL+"/hooks/switchboard", payload, rotating); code != http.StatusNoContent {
		return fmt.Errorf("callback signed during a rotation answered %d, want 204", code)
	}
	fmt.Println("callback signed during a rotation verified")
	return nil
}

type callbackServer struct {
	URL string
	srv *http.Server
}

func (c *callbackServer) Close() { c.srv.Close() }

// startCallbackServer serves POST /hooks/switchboard: verify, then trust.
func startCallbackServer(secret string) (*callbackServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/switchboard", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10)) // the raw bytes: verify before decoding
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		err = client.VerifySignature(secret, r.Header.Get(client.SignatureHeader), body, 5*time.Minute, time.Now())
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var cb struct {
			ID, Status, Channel string
			Attempt             int
		}
		if err := json.Unmarshal(body, &cb); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		// Callbacks are at-least-once: make handling idempotent on (id, status, attempt).
		log.Printf("callback: message %s is %s on %s (attempt %d)", cb.ID, cb.Status, cb.Channel, cb.Attempt)
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return &callbackServer{URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

func post(url string, body []byte, sig string) int {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(client.SignatureHeader, sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
