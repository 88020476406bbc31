package twilio

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
)

// Timeouts for the provider's HTTP API. The caller's ctx bounds each call;
// maxCallTime caps it when the caller set no shorter deadline.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 30 * time.Second
	idleConnTimeout       = 90 * time.Second
	maxCallTime           = 60 * time.Second
)

// newTransport is the connection pool one channel's calls share.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       idleConnTimeout,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// call is the http.RoundTripper of one API call. twilio-go (v1.31) takes
// no context: client.Client.SendRequest builds every request with
// context.Background(). So each Send or Probe gets its own small
// twilio-go client whose RoundTripper:
//   - replaces the request's context with the caller's ctx, so the ctx's
//     deadline and cancellation bound dialing, writing and reading the
//     answer; the http.Client has no Timeout of its own (its deadline would
//     live in the very request context replaced here);
//   - adds a channels.WriteTracker, so a failure tells "never reached
//     Twilio" (transient) from "sent, answer lost" (ambiguous);
//   - points the request at endpoint (twilio-go hard-codes
//     https://api.twilio.com);
//   - keeps the response's status and headers, which twilio-go's
//     TwilioRestError lacks (Retry-After) or loses (a 5xx with an HTML body).
//
// The shared *http.Transport underneath keeps connections pooled.
type call struct {
	ctx      context.Context
	next     http.RoundTripper
	endpoint *url.URL // nil: leave the URL alone
	wrote    channels.WriteTracker

	mu     sync.Mutex
	status int
	header http.Header
}

func (c *call) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must not modify its request: work on a clone.
	r := req.Clone(c.wrote.Context(c.ctx))
	if c.endpoint != nil {
		r.URL.Scheme = c.endpoint.Scheme
		r.URL.Host = c.endpoint.Host
		r.URL.Path = c.endpoint.Path + r.URL.Path
		r.URL.RawPath = ""
		r.Host = "" // the Host header follows the new URL
	}
	resp, err := c.next.RoundTrip(r)
	if resp != nil {
		c.mu.Lock()
		c.status, c.header = resp.StatusCode, resp.Header.Clone()
		c.mu.Unlock()
	}
	return resp, err
}

// response returns the status and headers of the answer, or 0 and nil if
// none arrived.
func (c *call) response() (int, http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, c.header
}

// noRedirect keeps a redirect from re-sending a POST elsewhere: the 3xx is
// returned as is, as twilio-go's own client does.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
