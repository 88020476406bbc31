package api

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type reasonCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (r *reasonCounts) observe(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[reason]++
}

func newTestGuard(t *testing.T) (*authGuard, *bytes.Buffer, *reasonCounts) {
	t.Helper()
	var buf bytes.Buffer
	counts := &reasonCounts{m: map[string]int{}}
	g := newAuthGuard(slog.New(slog.NewTextHandler(&buf, nil)), counts.observe, nil, t0)
	return g, &buf, counts
}

func TestAuthGuardBlocks(t *testing.T) {
	t.Parallel()
	ip := netip.MustParseAddr("203.0.113.7")
	tests := []struct {
		name    string
		reason  string
		every   time.Duration // between failures
		fails   int
		blocked bool
	}{
		{name: "20 wrong keys within a minute", reason: authInvalid, every: time.Second, fails: 20, blocked: true},
		{name: "19 wrong keys", reason: authInvalid, every: 0, fails: 19},
		{name: "20 wrong keys spread over more than a minute", reason: authInvalid, every: 3200 * time.Millisecond, fails: 20},
		{name: "many missing keys", reason: authMissing, fails: 100},
		{name: "many wrong roles", reason: authForbidden, fails: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, _, counts := newTestGuard(t)
			now := t0
			for range tt.fails {
				_, blocked := g.blocked(ip, now)
				require.False(t, blocked)
				g.failed(ip, now, tt.reason, "/v1/messages")
				now = now.Add(tt.every)
			}
			now = now.Add(-tt.every) // the time of the last failure
			retry, blocked := g.blocked(ip, now)
			require.Equal(t, tt.blocked, blocked)
			require.Equal(t, tt.fails, counts.m[tt.reason])
			if !tt.blocked {
				return
			}
			require.Equal(t, 60, retry)
			require.Equal(t, 1, counts.m[authBlocked])
			_, other := g.blocked(netip.MustParseAddr("203.0.113.8"), now)
			require.False(t, other, "only the failing address is blocked")
			retry, blocked = g.blocked(ip, now.Add(59500*time.Millisecond))
			require.True(t, blocked)
			require.Equal(t, 1, retry, "Retry-After rounds up")
			_, blocked = g.blocked(ip, now.Add(authBlockFor))
			require.False(t, blocked, "a block lasts a minute")
			// The count starts again after the block.
			g.failed(ip, now.Add(authBlockFor), authInvalid, "/v1/messages")
			_, blocked = g.blocked(ip, now.Add(authBlockFor))
			require.False(t, blocked)
		})
	}
}

func TestAuthGuardIPv6Slash64(t *testing.T) {
	t.Parallel()
	g, _, _ := newTestGuard(t)
	for i := range authFailLimit {
		g.failed(netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)), t0, authInvalid, "/")
	}
	_, blocked := g.blocked(netip.MustParseAddr("2001:db8:1:2:ffff::1"), t0)
	require.True(t, blocked, "addresses in one /64 count together")
	_, blocked = g.blocked(netip.MustParseAddr("2001:db8:1:3::1"), t0)
	require.False(t, blocked, "the next /64 is someone else")
	_, blocked = g.blocked(netip.MustParseAddr("::ffff:203.0.113.7"), t0)
	require.False(t, blocked)
}

// TestAuthGuardBounded: an attack from more addresses than the table holds
// costs bounded memory, and idle addresses make room first.
func TestAuthGuardBounded(t *testing.T) {
	t.Parallel()
	g, _, _ := newTestGuard(t)
	g.capacity = 100
	blockedIP := netip.MustParseAddr("198.51.100.1")
	for range authFailLimit {
		g.failed(blockedIP, t0, authInvalid, "/")
	}
	for i := range 1000 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		g.failed(ip, t0.Add(time.Duration(i)*time.Millisecond), authInvalid, "/")
		if i%10 == 0 {
			_, blocked := g.blocked(blockedIP, t0.Add(time.Duration(i)*time.Millisecond))
			require.True(t, blocked, "a blocked address that keeps trying stays in the table")
		}
		require.LessOrEqual(t, g.tracked(), 100)
	}
	// Two minutes on, everything but the blocked address is idle: a new
	// address evicts the idle ones instead of crowding the table.
	g.failed(netip.MustParseAddr("192.0.2.1"), t0.Add(2*time.Minute), authMissing, "/")
	require.Equal(t, 1, g.tracked())
}

func TestAuthGuardLogs(t *testing.T) {
	t.Parallel()
	g, buf, _ := newTestGuard(t)
	ip := netip.MustParseAddr("203.0.113.7")
	const key = "sk-live-0123456789abcdef"
	for i := range 10 {
		g.failed(ip, t0.Add(time.Duration(i)*time.Second), authInvalid, "/v1/messages", "key_prefix", keyPrefix(key))
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 1, "one line per address per minute: %s", buf)
	require.Contains(t, lines[0], "level=WARN")
	require.Contains(t, lines[0], "client=203.0.113.7")
	require.Contains(t, lines[0], "reason=invalid")
	require.Contains(t, lines[0], "key_prefix=sk-l")
	require.NotContains(t, buf.String(), key[:5], "never more than 4 characters of the key")

	// A minute later the next line says how many were not logged.
	g.failed(ip, t0.Add(70*time.Second), authInvalid, "/v1/messages")
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[1], "unlogged_from_client=9")

	// Many addresses at once: the global cap holds, and drops are counted.
	buf.Reset()
	for i := range 500 {
		g.failed(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), t0.Add(80*time.Second), authMissing, "/")
	}
	n := strings.Count(buf.String(), "\n")
	require.LessOrEqual(t, n, authLogBurst)
	g.failed(netip.MustParseAddr("192.0.2.9"), t0.Add(200*time.Second), authMissing, "/")
	require.Contains(t, buf.String(), fmt.Sprintf("dropped_lines=%d", 500-n))
}

func TestKeyPrefix(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                         "",
		"short-key":                "",
		"sk-live-0123456789abcdef": "sk-l",
		"a b\x00c-0123456789":      "a?b?",
	} {
		require.Equal(t, want, keyPrefix(in), "%q", in)
	}
}
