// Package callbacks delivers status callbacks to business apps: a POST to
// the message's callback_url on each status change, signed with the
// sending API key's callback secret (Switchboard-Signature, the scheme
// client.Sign and client.VerifySignature implement for both sides),
// retried with backoff from the store's durable outbox until it is
// delivered or the horizon passes. An AddressPolicy keeps callbacks off
// the gateway's own network unless the config allows it.
package callbacks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/internal/lograte"
	"github.com/switchboard-gw/switchboard/store"
)

// Secrets returns the signing secrets for an API key name, one v1= each;
// none when no such key is configured (its callbacks are then given up,
// never sent unsigned).
type Secrets func(scope string) []string

// Observer is told about each delivery try's result (metrics).
type Observer interface {
	Callback(result string)
}

// Sender delivers the outbox's due callbacks.
type Sender struct {
	Store   store.CallbackOutbox
	Secrets Secrets
	Owner   string
	// Client sends the POSTs. The default follows no redirects, gives up
	// after Timeout, and connects only to addresses the policy in force
	// allows (SetPolicy). A Client set here is used as it is: it must
	// enforce an address policy of its own.
	Client  *http.Client
	Timeout time.Duration
	Horizon time.Duration
	Workers int
	Poll    time.Duration
	Logger  *slog.Logger
	Obs     Observer
	Now     func() time.Time
	// UserAgent names the gateway in requests.
	UserAgent string
	// FirstRetry is the delay before the first retry (default 1s); each
	// later one doubles it, with jitter, up to 10 minutes. Tests shorten it.
	FirstRetry time.Duration
	// Lease is how long a claimed callback is held (default 2×Timeout +
	// 10s: one POST and recording its result). A process that dies holding
	// one leaves it to the others, or to its restart, after the lease.
	Lease time.Duration

	// PerHost caps the POSTs in flight to one destination (a callback_url's
	// scheme, host and port) from this process; default 2. See hosts.go.
	PerHost int
	// BreakerFailures consecutive failed tries to a destination (no
	// answer, 5xx or 429) open its breaker; default 5. It stays open
	// BreakerOpen (default 30s), twice as long each time it opens again
	// before it closed, up to 10 minutes. Tests shorten it.
	BreakerFailures int
	BreakerOpen     time.Duration

	policy    atomic.Pointer[AddressPolicy]  // see SetPolicy
	transport atomic.Pointer[http.Transport] // the default Client's

	wg       sync.WaitGroup // tries in flight
	wake     chan struct{}  // claim now (Wake); made once, by wakeChan
	wakeInit sync.Once
	// mu guards the destinations' state (hosts.go) and the counts below.
	mu        sync.Mutex
	hosts     map[string]*host
	inflight  int  // tries in flight, at most Workers
	held      int  // claimed callbacks in memory: waiting or in flight
	stopping  bool // Run is returning: start nothing more
	hostsOpen int  // destinations whose breaker is not closed
	pruned    time.Time
	// wakes are when handed-back callbacks fall due (wakeAt), ascending;
	// a timer, stopped by stopWake, wakes Run at the first.
	wakes    []time.Time
	stopWake func() bool
	// afterFunc arms a timer (time.AfterFunc); tests replace it to fire
	// the sender's timers by hand.
	afterFunc func(d time.Duration, f func()) (stop func() bool)

	claimErrs lograte.Limiter // failed claims, logged once per interval
}

// SetPolicy puts p in force for every connection opened from now on (nil:
// public addresses only, the default) and closes idle pooled connections,
// so none opened under an older policy is reused. It may be called before
// Run or while it runs (a reload).
func (s *Sender) SetPolicy(p *AddressPolicy) {
	s.policy.Store(p)
	if t := s.transport.Load(); t != nil {
		t.CloseIdleConnections()
	}
}

const (
	firstRetry = time.Second
	maxRetry   = 10 * time.Minute
)

func (s *Sender) defaults() {
	if s.Timeout <= 0 {
		s.Timeout = 10 * time.Second
	}
	if s.Horizon <= 0 {
		s.Horizon = 24 * time.Hour
	}
	if s.Workers <= 0 {
		s.Workers = 8
	}
	if s.PerHost <= 0 {
		s.PerHost = 2
	}
	if s.BreakerFailures <= 0 {
		s.BreakerFailures = 5
	}
	if s.BreakerOpen <= 0 {
		s.BreakerOpen = 30 * time.Second
	}
	if s.hosts == nil {
		s.hosts = map[string]*host{}
	}
	if s.Poll <= 0 {
		s.Poll = 500 * time.Millisecond
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.FirstRetry <= 0 {
		s.FirstRetry = firstRetry
	}
	if s.Lease <= 0 {
		s.Lease = 2*s.Timeout + 10*time.Second
	}
	if s.afterFunc == nil {
		s.afterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if s.UserAgent == "" {
		s.UserAgent = "Switchboard"
	}
	if s.Client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Connect directly, never through HTTP(S)_PROXY from the
		// environment: the policy must see the address the POST goes to,
		// and a proxy would make that connection on our behalf.
		t.Proxy = nil
		t.MaxIdleConnsPerHost = s.PerHost // the most a destination is sent at once
		t.DialContext = s.dialContext
		s.transport.Store(t)
		s.Client = &http.Client{
			Transport: t,
			Timeout:   s.Timeout,
			// A callback URL that redirects is a misconfiguration; following
			// it would also send signed status data somewhere unexpected,
			// past the policy's check of the URL the app gave.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
}

// dialContext opens the default Client's connections. The policy is
// checked in the dialer's Control function, on the address each socket is
// about to connect to, after DNS: checking the name's addresses first and
// connecting after would let a name resolve to a public address for the
// check and to a private one for the connection (DNS rebinding). When a
// name has several addresses, a refused one is skipped like an unreachable
// one; if none connects, the first address's error is returned.
func (s *Sender) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	policy := s.policy.Load()
	d := &net.Dialer{
		Timeout:   30 * time.Second, // as http.DefaultTransport's
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				// Never expected from the net package; refuse rather
				// than connect somewhere unchecked.
				return fmt.Errorf("check callback address %q: %w", address, err)
			}
			return policy.Allowed(ap.Addr(), host)
		},
	}
	return d.DialContext(ctx, network, addr)
}

// Run delivers callbacks until ctx is done. It claims due callbacks, up to
// twice Workers held in memory at once, and hands each to its destination
// (see hosts.go): a destination takes at most PerHost workers, and one
// whose breaker is open takes none.
func (s *Sender) Run(ctx context.Context) error {
	s.defaults()
	defer func() {
		s.mu.Lock()
		s.stopping = true
		s.mu.Unlock()
		s.wg.Wait()
		s.releaseWaiting()
		s.mu.Lock()
		if s.stopWake != nil {
			s.stopWake()
		}
		s.wakes = nil
		s.mu.Unlock()
	}()
	t := time.NewTicker(s.Poll)
	defer t.Stop()
	// Cuts back the queue of a destination that slowed (see queueCap);
	// the claim loop runs on the poll and on wakes, which a hung receiver
	// does not give.
	trim := time.NewTicker(queueWindow)
	defer trim.Stop()
	// Claim at once: what is due need not wait for the first tick.
	lastEmpty := time.Time{}
	if s.claim(ctx) {
		lastEmpty = time.Now()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-trim.C:
			s.pump()
			continue
		case <-t.C:
		case <-s.wakeChan():
			// Status changes wake this loop whether or not they queued a
			// callback (a receipt's does not say): after a claim that found
			// nothing, wakes claim at most every wakeGap, so a receipt
			// storm without callbacks costs the store little.
			if wait := wakeGap - time.Since(lastEmpty); wait > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
			}
		}
		if s.claim(ctx) {
			lastEmpty = time.Now()
		}
		s.prune(s.Now())
	}
}

// wakeGap: see Run.
const wakeGap = 10 * time.Millisecond

// claimRetry is the longest a failed claim waits to be tried again.
const claimRetry = time.Second

// Wake makes Run claim now rather than at its next poll: new callbacks
// are due. It never blocks; wakes before the claim runs are merged. It may
// be called at any time, before Run too.
func (s *Sender) Wake() {
	select {
	case s.wakeChan() <- struct{}{}:
	default:
	}
}

func (s *Sender) wakeChan() chan struct{} {
	s.wakeInit.Do(func() { s.wake = make(chan struct{}, 1) })
	return s.wake
}

// claim takes due callbacks while there is room for them in memory.
// It reports whether the store had none due (an empty claim), not merely
// no room for them.
func (s *Sender) claim(ctx context.Context) (empty bool) {
	for ctx.Err() == nil {
		s.mu.Lock()
		room := 2*s.Workers - s.held
		s.mu.Unlock()
		if room <= 0 {
			return false
		}
		due, err := s.Store.ClaimCallbacks(ctx, s.Owner, s.Lease, room, s.Now())
		if err != nil {
			if ctx.Err() == nil {
				// Every poll fails while the database is down: one line
				// per interval, with how many claims failed.
				s.claimErrs.Log(s.Logger, slog.LevelError, "claim callbacks", "err", err)
				// What the wake was for is still due: try again soon
				// rather than at the poll, which may be much later.
				if s.Poll > claimRetry {
					s.wakeAt(s.Now().Add(claimRetry))
				}
			}
			return false
		}
		// A full claim may have stopped short of what another
		// destination could take now (a busy one's callbacks, handed back
		// to a later time, can be first in line): claim again.
		s.route(due)
		if len(due) < room {
			return len(due) == 0
		}
	}
	return false
}

// deliver makes one try and records its outcome. It returns what the
// destination's breaker counts: nil when the destination answered (a 4xx
// too, but 429), errExcluded when no POST was made (the address policy or
// a missing key refused it), else the failure.
func (s *Sender) deliver(cb store.Callback) error {
	// Not tied to Run's ctx: a try in flight at shutdown is recorded.
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	err := s.post(ctx, cb)
	s.finish(s.result(cb, err, s.Now()))
	var status *StatusError
	var blocked *BlockedAddressError
	var gone *KeyGoneError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &blocked), errors.As(err, &gone):
		return errExcluded
	case errors.As(err, &status):
		if status.Code >= 500 || status.Code == http.StatusTooManyRequests {
			return err
		}
		return nil
	case errors.As(err, new(*permanentError)):
		return errExcluded // the request could not be built
	}
	return err
}

// result is a try's outcome (err nil: delivered) for the store.
func (s *Sender) result(cb store.Callback, err error, now time.Time) store.CallbackResult {
	res := store.CallbackResult{ID: cb.ID, Owner: s.Owner, Now: now}
	var perm *permanentError
	var gone *KeyGoneError
	var open *BreakerOpenError
	switch {
	case err == nil:
		res.Status = store.CallbackDelivered
	case errors.As(err, &perm) || errors.As(err, &gone) || errors.As(err, &open) || now.Sub(cb.CreatedAt) >= s.Horizon:
		res.Status, res.Error = store.CallbackGaveUp, err.Error()
		s.Logger.Warn("status callback given up", "id", cb.MessageID, "attempts", cb.Attempts+1, "err", err)
	default:
		res.Status, res.Error = store.CallbackPending, err.Error()
		res.NextAt = now.Add(backoff(s.FirstRetry, cb.Attempts+1))
	}
	return res
}

// finish records an outcome.
func (s *Sender) finish(res store.CallbackResult) {
	if s.Obs != nil {
		result := res.Status
		if result == store.CallbackPending {
			result = "failed"
		}
		s.Obs.Callback(result)
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := s.Store.FinishCallback(fctx, res); err != nil {
		s.Logger.Error("record callback result", "callback", res.ID, "err", err)
		// Still leased to us: claimable again once the lease runs out.
		s.wakeAt(s.Now().Add(s.Lease))
		return
	}
	if res.Status == store.CallbackPending {
		// Its retry is due at NextAt: claim then, not at the poll.
		s.wakeAt(res.NextAt)
	}
}

// KeyGoneError: the API key that sent the message is no longer configured
// (a reload removed it), so there is no secret to sign its callback with.
// The callback is given up rather than sent unsigned.
type KeyGoneError struct{ Scope string }

func (e *KeyGoneError) Error() string {
	if e.Scope == store.InboundCallbackScope {
		return "inbound.callback_secret is no longer configured: inbound callbacks cannot be signed and are not sent unsigned"
	}
	return fmt.Sprintf("API key %q that sent the message is no longer configured: its callbacks cannot be signed and are not sent unsigned", e.Scope)
}

// BreakerOpenError: the callback's horizon passed while its destination's
// breaker was open.
type BreakerOpenError struct {
	Destination string
	LastError   string // the destination's last failed try
}

func (e *BreakerOpenError) Error() string {
	msg := "gave up at the horizon: the callback destination " + e.Destination + " is failing (circuit breaker open)"
	if e.LastError != "" {
		msg += "; last error: " + e.LastError
	}
	return msg
}

// StatusError: the callback endpoint answered a status other than 2xx.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	if e.Code == http.StatusGone {
		return "callback endpoint answered 410 Gone"
	}
	return fmt.Sprintf("callback endpoint answered HTTP %d", e.Code)
}

// permanentError: retrying cannot help; the callback is given up.
type permanentError struct{ error }

func (e *permanentError) Unwrap() error { return e.error }

func (s *Sender) post(ctx context.Context, cb store.Callback) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb.URL, bytes.NewReader(cb.Payload))
	if err != nil {
		return &permanentError{fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.UserAgent)
	secrets := s.Secrets(cb.Scope)
	if len(secrets) == 0 {
		// Checked again here: a reload may have removed the key since
		// the callback was claimed.
		return &KeyGoneError{Scope: cb.Scope}
	}
	req.Header.Set(client.SignatureHeader, client.Sign(cb.Payload, s.Now(), secrets...))
	resp, err := s.Client.Do(req)
	if err != nil {
		// The policy refused the address: retrying cannot help, and the
		// refusal is the whole story (not "Post ...: dial tcp ...").
		var blocked *BlockedAddressError
		if errors.As(err, &blocked) {
			return &permanentError{blocked}
		}
		return fmt.Errorf("post callback: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusGone:
		// The receiver says the endpoint is gone for good: stop trying.
		return &permanentError{&StatusError{Code: resp.StatusCode}}
	}
	return &StatusError{Code: resp.StatusCode}
}

// retryDelay is exponential with jitter, from 1 s up to 10 min.
func retryDelay(attempt int) time.Duration { return backoff(firstRetry, attempt) }

// backoff is exponential with jitter, from first up to 10 min.
func backoff(first time.Duration, attempt int) time.Duration {
	d := first
	for i := 1; i < attempt && d < maxRetry; i++ {
		d *= 2
	}
	d = min(d, maxRetry)
	return d/2 + time.Duration(rand.Float64()*float64(d/2))
}
