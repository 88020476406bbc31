package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/config"
)

// callbackSettle bounds how long a pending callback takes to arrive after
// its receiver comes up: the retry backoff reached while it was down, plus
// at worst the lease of a try the killed process was making.
const callbackSettle = 60 * time.Second

type callbackPost struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Valid  bool   `json:"-"`
}

// messageCallbacks reads the callbacks field of GET /v1/messages/{id}.
func (g *gateway) messageCallbacks(t testing.TB, id string) ([]map[string]any, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.URL+"/v1/messages/"+id, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+readKey)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET message: HTTP %d", resp.StatusCode)
	}
	var m struct {
		Callbacks []map[string]any `json:"callbacks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, err
	}
	return m.Callbacks, nil
}

// TestCallbacksSurviveACrash: the callback receiver is down, so the
// message's callbacks wait in the outbox; the gateway is SIGKILLed, started
// again, the receiver comes up, and the callbacks arrive, signed, in order.
func TestCallbacksSurviveACrash(t *testing.T) {
	t.Parallel()
	hookAddr := freeAddr(t) // nothing listens here yet: connection refused
	g := startGateway(t, fastConfig())

	req := otp(4242)
	req.CallbackURL = "http://" + hookAddr + "/hooks/switchboard"
	id := g.send(t, req)
	g.waitFinal(t, id)
	eventually(t, stateTimeout, "a failed callback try", func() (bool, string) {
		cbs, err := g.messageCallbacks(t, id)
		if err != nil {
			return false, err.Error()
		}
		if len(cbs) == 0 {
			return false, "no callbacks"
		}
		first := cbs[0]
		n, _ := first["attempts"].(float64)
		return first["delivery"] == "pending" && n >= 1, fmt.Sprint(cbs)
	})
	g.kill(t)
	g.restart(t)

	// The receiver comes up on the callback_url's address.
	var (
		mu    sync.Mutex
		posts []callbackPost
	)
	secret := config.APIKey{Name: "shop", Key: config.Secret(sendKey), Role: config.RoleSend}.CallbackSigningSecret()
	ln, err := net.Listen("tcp", hookAddr)
	require.NoError(t, err, "listen on the callback address again")
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var p callbackPost
		_ = json.Unmarshal(body, &p)
		p.Valid = client.VerifySignature(secret, r.Header.Get(client.SignatureHeader), body, time.Minute, time.Now()) == nil
		mu.Lock()
		posts = append(posts, p)
		mu.Unlock()
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	eventually(t, callbackSettle, "the callbacks to arrive after the restart", func() (bool, string) {
		cbs, err := g.messageCallbacks(t, id)
		if err != nil {
			return false, err.Error()
		}
		for _, cb := range cbs {
			if cb["delivery"] != "delivered" {
				return false, fmt.Sprint(cbs)
			}
		}
		return len(cbs) == 2, fmt.Sprint(cbs)
	})
	mu.Lock()
	defer mu.Unlock()
	var statuses []string
	for _, p := range posts {
		require.Equal(t, id, p.ID)
		require.True(t, p.Valid, "the callback signature verifies with the shop key's secret")
		statuses = append(statuses, p.Status)
	}
	require.Equal(t, []string{"sent", "delivered"}, statuses)
}
