package whatsappcloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
)

// DefaultRetryAfter is the wait asked of routing for a rate-limit error
// without a Retry-After header. Graph answers its throttling codes (4,
// 80007, 130429) with HTTP 400 and no Retry-After; Meta's advice is "try
// again later". Cloud API throughput is metered per second and the WABA
// and app limits per rolling hour, so a minute lets a burst drain without
// parking the channel for long; routing fails over meanwhile.
const DefaultRetryAfter = 60 * time.Second

// graphError is Graph's error body:
// {"error":{"message","type","code","error_subcode","error_data":{"details"},"fbtrace_id"}}.
type graphError struct {
	Message   string `json:"message"`
	Type      string `json:"type"`
	Code      int    `json:"code"`
	Subcode   int    `json:"error_subcode"`
	FBTraceID string `json:"fbtrace_id"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

// codeClass maps Graph and Cloud API error codes to classes. Sources:
// Meta's "Error codes" page for the WhatsApp Business Platform
// (developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes)
// and Graph API error handling. Codes 200-299 are handled in classOf.
var codeClass = map[int]channels.Class{
	// Authorization: the channel itself is broken; another message will
	// not fare better.
	0:   channels.Misconfigured, // AuthException: token expired or invalidated
	3:   channels.Misconfigured, // API method: capability or permission issue
	10:  channels.Misconfigured, // permission denied or revoked
	190: channels.Misconfigured, // access token has expired
	// Throttling: the provider asked us to slow down.
	4:      channels.RateLimited, // API too many calls (app rate limit)
	17:     channels.RateLimited, // user request limit reached
	32:     channels.RateLimited, // page-level throttling
	613:    channels.RateLimited, // calls exceeded the rate limit
	80007:  channels.RateLimited, // WABA rate limit issues
	130429: channels.RateLimited, // Cloud API message throughput reached
	131048: channels.RateLimited, // spam rate limit hit (quality-based limits)
	131056: channels.RateLimited, // (business, consumer) pair rate limit hit
	// Provider trouble: worth retrying.
	1:      channels.Transient, // API unknown: invalid request or possible server error
	2:      channels.Transient, // API service: downtime or overload
	131000: channels.Transient, // something went wrong
	131016: channels.Transient, // service unavailable
	131057: channels.Transient, // account in maintenance mode (throughput upgrade)
	// Account-level blocks: no message will go out on this number.
	33:     channels.Misconfigured, // parameter value is not valid: business phone number deleted
	368:    channels.Misconfigured, // temporarily blocked for policy violations
	131005: channels.Misconfigured, // access denied
	131031: channels.Misconfigured, // business account locked
	131037: channels.Misconfigured, // display name needs approval
	131042: channels.Misconfigured, // business eligibility payment issue
	131045: channels.Misconfigured, // incorrect certificate (number not registered)
	// The channel's template (its template: option) is wrong or unusable:
	// every message would fail the same way, so these count against the
	// breaker and the route moves on at once.
	132000: channels.Misconfigured, // number of parameters does not match the template's
	132001: channels.Misconfigured, // template does not exist (name or language)
	132015: channels.Misconfigured, // template is paused (low quality)
	132016: channels.Misconfigured, // template is disabled
	// This message to this recipient will never go through this channel.
	100:    channels.Permanent, // invalid parameter
	131008: channels.Permanent, // required parameter is missing
	131009: channels.Permanent, // parameter value is not valid
	131021: channels.Permanent, // recipient cannot be sender
	131026: channels.Permanent, // message undeliverable (not on WhatsApp, old app, ToS)
	131030: channels.Permanent, // recipient not in allowed list (test numbers)
	131047: channels.Permanent, // re-engagement: more than 24h since the user's last message
	131049: channels.Permanent, // Meta chose not to deliver (ecosystem engagement)
	131050: channels.Permanent, // user stopped marketing messages
	131051: channels.Permanent, // unsupported message type
	130472: channels.Permanent, // user's number is part of an experiment
	130497: channels.Permanent, // business restricted from messaging users in this country
	135000: channels.Permanent, // generic user error
}

// classOf classifies a failed Graph call by its error code, falling back
// to the HTTP status (429, 401/403, 5xx mean the same everywhere) when the
// code is absent or unknown. Graph answers most errors, rate limits
// included, with HTTP 400, so the code decides whenever there is one.
func classOf(status int, ge *graphError) channels.Class {
	if ge != nil {
		if c, ok := codeClass[ge.Code]; ok {
			return c
		}
		if ge.Code >= 200 && ge.Code <= 299 {
			return channels.Misconfigured // API permission not granted or revoked
		}
	}
	if c := channels.HTTPClass(status); c != "" {
		return c
	}
	return channels.Transient // a 1xx/3xx where a result was expected: the provider misbehaved
}

// apiError reads a non-2xx Graph response into a classified error. op
// names the call ("send", "probe"); token is redacted from any text the
// provider echoes back.
func apiError(op string, resp *http.Response, body []byte, token string, now time.Time) error {
	var env struct {
		Error *graphError `json:"error"`
	}
	ge := (*graphError)(nil)
	if json.Unmarshal(body, &env) == nil && env.Error != nil && (env.Error.Code != 0 || env.Error.Message != "") {
		ge = env.Error
	}
	class := classOf(resp.StatusCode, ge)

	var b strings.Builder
	fmt.Fprintf(&b, "whatsapp-cloud: %s: HTTP %d", op, resp.StatusCode)
	ce := &channels.Error{Class: class}
	if ge != nil {
		ce.Code = strconv.Itoa(ge.Code)
		if ge.Message != "" {
			b.WriteString(": " + clip(ge.Message))
		}
		if d := ge.ErrorData.Details; d != "" && d != ge.Message {
			b.WriteString(": " + clip(d))
		}
		if ge.FBTraceID != "" {
			b.WriteString(" [fbtrace_id " + clip(ge.FBTraceID) + "]")
		}
	} else if t := http.StatusText(resp.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	ce.Err = errors.New(redact(b.String(), token))
	if class == channels.RateLimited {
		ce.RetryAfter = channels.ParseRetryAfter(resp.Header.Get("Retry-After"), now)
		if ce.RetryAfter <= 0 {
			ce.RetryAfter = DefaultRetryAfter
		}
	}
	return ce
}

// clip bounds provider text stored on attempts.
func clip(s string) string {
	const limit = 300
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > limit {
		return string(r[:limit]) + "…"
	}
	return s
}

// redact removes the token from text that came from the provider: should
// Graph ever echo a (malformed) token in an error, it must not reach the
// attempt log.
func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "<redacted>")
}
