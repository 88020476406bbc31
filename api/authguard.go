package api

import (
	"container/list"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-gw/switchboard/internal/clientaddr"
)

// The failed-authentication throttle. A client address that presents
// authFailLimit wrong keys within authFailWindow is refused (429
// too_many_auth_failures) on every authenticated route and on the
// dashboard sign-in for authBlockFor, even with a correct key: a guesser
// that found a key must not learn it from the answer.
const (
	authFailLimit  = 20
	authFailWindow = time.Minute
	authBlockFor   = time.Minute
	// authMaxClients bounds the table of client addresses (about 400
	// bytes each). Past it, the least recently seen address is forgotten,
	// so an attack from many addresses costs bounded memory.
	authMaxClients = 10000
	// authLogEvery: at most one failure line per client address per
	// interval; the next line says how many were not logged.
	authLogEvery = time.Minute
	// authLogRate and authLogBurst cap failure lines from all addresses
	// together (an attack from many addresses); dropped lines are counted
	// in the next line that is written.
	authLogRate  = 1.0 // per second
	authLogBurst = 20
)

// Reasons for switchboard_auth_failures_total (metrics.AuthFailureReasons).
const (
	authMissing   = "missing"
	authInvalid   = "invalid"
	authForbidden = "forbidden"
	authBlocked   = "blocked"
)

// authGuard tracks failed authentications per client address. Only wrong
// keys (authInvalid) count toward a block: a request with no key or a
// valid key of the wrong role guesses nothing. All failures are counted
// (metric) and logged, rate-limited. State is per instance.
type authGuard struct {
	log      *slog.Logger
	observe  func(reason string) // metrics; nil: none
	trust    atomic.Pointer[clientaddr.Trust]
	capacity int

	mu      sync.Mutex
	clients map[netip.Addr]*list.Element // of *authClient, by clientKey
	lru     list.List                    // front: most recently seen
	logs    *tokenBucket                 // failure lines, all addresses together
	dropped int                          // lines the global cap dropped since the last line
}

type authClient struct {
	key netip.Addr
	// fails holds the times (unix nanoseconds) of the last authFailLimit
	// wrong keys, a ring starting at next.
	fails        [authFailLimit]int64
	next, n      int
	blockedUntil time.Time
	seen         time.Time // last failure or refused request
	lastLog      time.Time
	unlogged     int
}

func newAuthGuard(log *slog.Logger, observe func(string), trust clientaddr.Trust, now time.Time) *authGuard {
	g := &authGuard{log: log, observe: observe, capacity: authMaxClients,
		clients: map[netip.Addr]*list.Element{}, logs: newTokenBucket(authLogRate, authLogBurst, now)}
	g.setTrust(trust)
	return g
}

func (g *authGuard) setTrust(t clientaddr.Trust) { g.trust.Store(&t) }

// clientIP is the request's client address, believing X-Forwarded-For only
// from server.trusted_proxies.
func (g *authGuard) clientIP(r *http.Request) netip.Addr { return g.trust.Load().IP(r) }

// clientKey is what the table is keyed by: an IPv4 address, or the /64 of
// an IPv6 one, since one host or subscriber usually holds a whole /64.
func clientKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// blocked reports whether ip is blocked now and, if so, the Retry-After in
// seconds. A refused request counts as reason "blocked".
func (g *authGuard) blocked(ip netip.Addr, now time.Time) (retry int, blocked bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	el := g.clients[clientKey(ip)]
	if el == nil {
		return 0, false
	}
	c := el.Value.(*authClient)
	if !c.blockedUntil.After(now) {
		return 0, false
	}
	// Still trying: keep it at the front, so a flood of other addresses
	// evicts it last.
	c.seen = now
	g.lru.MoveToFront(el)
	g.count(authBlocked)
	return retryAfter(c.blockedUntil.Sub(now)), true
}

// failed records one failed authentication from ip. attrs describe it for
// the log (never the key itself: see keyPrefix).
func (g *authGuard) failed(ip netip.Addr, now time.Time, reason, path string, attrs ...any) {
	g.count(reason)
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.client(ip, now)
	c.seen = now
	blockedNow := false
	if reason == authInvalid {
		at := now.UnixNano()
		c.fails[c.next] = at
		c.next = (c.next + 1) % authFailLimit
		c.n = min(c.n+1, authFailLimit)
		// The ring is full and its oldest entry (at next) is recent:
		// authFailLimit failures within the window.
		if c.n == authFailLimit && at-c.fails[c.next] < int64(authFailWindow) {
			c.blockedUntil = now.Add(authBlockFor)
			c.n, c.next = 0, 0 // a new count after the block
			blockedNow = true
		}
	}
	if blockedNow {
		if g.logLine(now) {
			g.log.Warn("client blocked after repeated authentication failures",
				"client", ip.String(), "failures", authFailLimit, "within", authFailWindow.String(),
				"blocked_for", authBlockFor.String(), "dropped_lines", g.takeDropped())
		}
		return
	}
	if !c.lastLog.IsZero() && now.Sub(c.lastLog) < authLogEvery {
		c.unlogged++
		return
	}
	if !g.logLine(now) {
		c.unlogged++
		return
	}
	c.lastLog = now
	args := append([]any{"client", ip.String(), "reason", reason, "path", path}, attrs...)
	args = append(args, "unlogged_from_client", c.unlogged, "dropped_lines", g.takeDropped())
	c.unlogged = 0
	g.log.Warn("authentication failed", args...)
}

// logLine takes a line from the global log budget (g.mu held).
func (g *authGuard) logLine(now time.Time) bool {
	if took, _ := g.logs.take(now, 1); took == 1 {
		return true
	}
	g.dropped++
	return false
}

func (g *authGuard) takeDropped() int {
	d := g.dropped
	g.dropped = 0
	return d
}

func (g *authGuard) count(reason string) {
	if g.observe != nil {
		g.observe(reason)
	}
}

// client returns ip's record, creating it (g.mu held). Making room first
// drops records idle for a window and not blocked from the back of the
// LRU list, then, at capacity, the least recently seen record.
func (g *authGuard) client(ip netip.Addr, now time.Time) *authClient {
	key := clientKey(ip)
	if el := g.clients[key]; el != nil {
		g.lru.MoveToFront(el)
		return el.Value.(*authClient)
	}
	for el := g.lru.Back(); el != nil; el = g.lru.Back() {
		c := el.Value.(*authClient)
		stale := now.Sub(c.seen) >= authFailWindow && !c.blockedUntil.After(now)
		if !stale && g.lru.Len() < g.capacity {
			break
		}
		g.lru.Remove(el)
		delete(g.clients, c.key)
	}
	c := &authClient{key: key}
	g.clients[key] = g.lru.PushFront(c)
	return c
}

// tracked is how many client addresses the table holds (tests).
func (g *authGuard) tracked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.clients)
}

// keyPrefix is what a log line may show of a presented key: its first 4
// characters, and only of a key long enough that they are not most of it.
// Anything but letters, digits, "-" and "_" shows as "?".
func keyPrefix(presented string) string {
	if len(presented) < 12 {
		return ""
	}
	b := []byte(presented[:4])
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '?'
		}
	}
	return string(b)
}
