// Package callbacks delivers status callbacks to business apps: a POST to
// the message's callback_url on each status change, signed with the
// sending API key's callback secret, retried with backoff from the store's
// durable outbox until it is delivered or the horizon passes.
package callbacks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the callback's signature:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">". The timestamp is
// signed so a captured callback cannot be replayed later.
const SignatureHeader = "Switchboard-Signature"

// Sign returns the SignatureHeader value for body at t.
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors from Verify.
var (
	ErrNoSignature  = errors.New("no valid Switchboard-Signature")
	ErrStale        = errors.New("signature timestamp outside the tolerance")
	ErrBadSignature = errors.New("signature does not match")
)

// Verify checks a SignatureHeader value, in constant time, and that its
// timestamp is within tolerance of now. Several v1= values are accepted
// (one per secret during a rotation).
func Verify(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrNoSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s ago", ErrStale, d.Round(time.Second))
	}
	want := []byte(mac(secret, ts, body))
	ok := 0
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) { // constant time
			ok = 1
		}
	}
	if ok == 0 {
		return ErrBadSignature
	}
	return nil
}
