package api_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/sqlite"
)

// outageStore is a store whose reads, sends and pings fail as a database
// that cannot be reached does (store.ErrUnavailable) while down is set.
type outageStore struct {
	store.Store
	down atomic.Bool
}

var errRefused = &store.UnavailableError{Err: errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")}

func (s *outageStore) Get(ctx context.Context, id string) (*store.Message, error) {
	if s.down.Load() {
		return nil, errRefused
	}
	return s.Store.Get(ctx, id)
}

func (s *outageStore) List(ctx context.Context, p store.ListParams) (store.ListResult, error) {
	if s.down.Load() {
		return store.ListResult{}, errRefused
	}
	return s.Store.List(ctx, p)
}

func (s *outageStore) Enqueue(ctx context.Context, m *store.Message) (*store.Message, bool, error) {
	if s.down.Load() {
		return nil, false, errRefused
	}
	return s.Store.Enqueue(ctx, m)
}

func (s *outageStore) Ping(ctx context.Context) error {
	if s.down.Load() {
		return errRefused
	}
	return s.Store.Ping(ctx)
}

// TestStoreOutageAnswers503: while the store cannot be reached, reads and
// lists answer 503 unavailable with Retry-After (as documented), never 500,
// and the outage costs one log line per kind of refusal, with a count,
// not one per request. Once the store is back, they answer 200 again.
func TestStoreOutageAnswers503(t *testing.T) {
	t.Parallel()
	dsn := filepath.Join(t.TempDir(), "sb.db")
	cfg, err := config.Parse("test.yaml", []byte(strings.ReplaceAll(testConfig, "%DSN%", dsn)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	inner, err := sqlite.Open(ctx, dsn)
	require.NoError(t, err)
	st := &outageStore{Store: inner}
	logs := &syncBuffer{}
	g, err := gateway.New(ctx, cfg, gateway.Options{Store: st, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, inner.Close())
	})
	base := "http://" + ln.Addr().String()
	doc := loadSpec(t)
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	sc := &specClient{t: t, base: base, router: router, http: &http.Client{Timeout: 10 * time.Second}, seen: map[string]bool{}}

	id := sc.do(call{method: "POST", path: "/v1/messages", key: sendKey, body: otp, want: 202}).body["id"].(string)
	sc.do(call{method: "GET", path: "/v1/messages/" + id, key: readKey, want: 200})

	st.down.Store(true)
	const n = 20
	for range n {
		for _, c := range []call{
			{method: "GET", path: "/v1/messages/" + id, key: readKey, want: 503},
			{method: "GET", path: "/v1/messages/" + id, key: sendKey, want: 503},
			{method: "GET", path: "/v1/messages?limit=5", key: readKey, want: 503},
			{method: "POST", path: "/v1/messages", key: sendKey, body: otp, want: 503},
		} {
			r := sc.do(c)
			require.Equal(t, "unavailable", r.code(), "%s %s: %s", c.method, c.path, r.raw)
			require.Equal(t, "1", r.header.Get("Retry-After"), "%s %s", c.method, c.path)
			require.NotContains(t, string(r.raw), "5432", "no internals in the answer")
		}
		require.Equal(t, "not_ready", sc.do(call{method: "GET", path: "/readyz", want: 503}).code())
	}
	log := logs.String()
	require.NotContains(t, log, "status=500")
	require.NotContains(t, log, `msg="http request"`, "no line per refused request")
	for _, msg := range []string{
		`level=ERROR msg="message store unavailable: requests answered 503"`,
		`level=ERROR msg="enqueue message: sends refused with 503"`,
		`level=WARN msg="readiness check failed"`,
	} {
		require.Len(t, regexp.MustCompile(regexp.QuoteMeta(msg)).FindAllString(log, -1), 1,
			"one line for %d refusals within the interval: %s\n%s", n, msg, log)
	}

	st.down.Store(false)
	sc.do(call{method: "GET", path: "/v1/messages/" + id, key: readKey, want: 200})
	sc.do(call{method: "GET", path: "/v1/messages?limit=5", key: readKey, want: 200})
	sc.do(call{method: "GET", path: "/readyz", want: 200})
}
