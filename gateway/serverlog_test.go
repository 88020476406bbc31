package gateway

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/syncbuf"
)

// A client that drops the connection before the TLS handshake (a port
// scanner, a load balancer's TCP check) is logged at DEBUG, not WARN;
// what else net/http reports stays at WARN.
func TestServerErrorLogQuietsFailedHandshakes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		level slog.Level
		want  string // the handshake line's level in the log, "" for none
	}{
		{name: "info log", level: slog.LevelInfo, want: ""},
		{name: "debug log", level: slog.LevelDebug, want: "level=DEBUG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out syncbuf.Buffer
			h := slog.NewTextHandler(&out, &slog.HandlerOptions{Level: tc.level})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
			srv.Config.ErrorLog = serverErrorLog(h)
			// net/http closes a connection whose handshake failed after
			// logging it: three closes mean three lines were handled.
			closed := make(chan struct{}, 8)
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateClosed {
					closed <- struct{}{}
				}
			}
			srv.StartTLS()
			defer srv.Close()

			// Three connections that say nothing and hang up.
			for range 3 {
				c, err := net.Dial("tcp", srv.Listener.Addr().String())
				require.NoError(t, err)
				_, err = c.Write([]byte("not a TLS client hello\r\n\r\n"))
				require.NoError(t, err)
				_ = c.Close()
			}
			// And a real request: the server is fine.
			res, err := srv.Client().Get(srv.URL)
			require.NoError(t, err)
			_ = res.Body.Close()

			for range 3 {
				select {
				case <-closed:
				case <-time.After(10 * time.Second):
					t.Fatal("the server did not close the three connections")
				}
			}
			logged := out.String()
			require.NotContains(t, logged, "level=WARN")
			if tc.want == "" {
				require.NotContains(t, logged, tlsHandshakePrefix)
				return
			}
			require.Equal(t, 3, strings.Count(logged, tlsHandshakePrefix), logged)
			for _, line := range strings.Split(strings.TrimSpace(logged), "\n") {
				require.Contains(t, line, tc.want, line)
			}
		})
	}
}

// Other server errors keep their WARN.
func TestServerErrorLogKeepsOtherErrors(t *testing.T) {
	t.Parallel()
	var out syncbuf.Buffer
	l := serverErrorLog(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	l.Printf("http: Accept error: too many open files; retrying in 5ms")
	l.Printf("http: TLS handshake error from 192.0.2.1:4242: EOF")
	logged := out.String()
	require.Contains(t, logged, `level=WARN msg="http: Accept error: too many open files; retrying in 5ms"`)
	require.NotContains(t, logged, "TLS handshake")
}
