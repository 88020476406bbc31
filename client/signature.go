package client

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

// SignatureHeader is the header of a status callback that carries its
// signature: "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">", with
// one v1= per active secret while a secret is being rotated.
const SignatureHeader = "Switchboard-Signature"

// DefaultSignatureTolerance is how far a callback's timestamp may be from
// the receiver's clock when VerifySignature is given no tolerance.
const DefaultSignatureTolerance = 5 * time.Minute

var (
	// ErrBadSignature: the header is missing or malformed, or no v1=
	// signature matches the body with the secret.
	ErrBadSignature = errors.New("switchboard: bad callback signature")
	// ErrStaleSignature: the signature is valid but its timestamp is
	// outside the tolerance (a replayed or badly delayed callback).
	ErrStaleSignature = errors.New("switchboard: callback signature timestamp out of tolerance")
)

// Sign returns a Switchboard-Signature header value for body at time t,
// with one v1= signature per secret. Receivers use VerifySignature; Sign is
// for senders and tests.
func Sign(body []byte, t time.Time, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// VerifySignature checks a status callback: header is its
// Switchboard-Signature, body the raw request body (before any JSON
// decoding), secret your callback secret. It accepts the callback when any
// v1= value matches (so a sender mid-rotation, signing with the old and the
// new secret, is accepted by receivers holding either), comparing in
// constant time, and when the timestamp is within tolerance of now (zero:
// DefaultSignatureTolerance), which stops an old callback being replayed.
// It returns nil, ErrBadSignature or ErrStaleSignature (wrapped with
// detail).
func VerifySignature(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if secret == "" {
		return fmt.Errorf("%w: no secret to verify with", ErrBadSignature)
	}
	if tolerance <= 0 {
		tolerance = DefaultSignatureTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: malformed header", ErrBadSignature)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: more than one t=", ErrBadSignature)
			}
			ts = v
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
				sigs = append(sigs, sig)
			}
		default:
			// Other schemes (v0, future versions) are ignored, as the
			// header format allows.
		}
	}
	if ts == "" {
		return fmt.Errorf("%w: no t= timestamp", ErrBadSignature)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || unix <= 0 {
		return fmt.Errorf("%w: bad t= timestamp", ErrBadSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1= signature", ErrBadSignature)
	}
	want := mac(secret, ts, body)
	match := 0
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			match = 1
		}
	}
	if match == 0 {
		return fmt.Errorf("%w: no v1= signature matches", ErrBadSignature)
	}
	// Checked after the MAC, so an attacker cannot probe the clock check
	// with unsigned headers, and the signed t cannot have been forged.
	if age := now.Sub(time.Unix(unix, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now (tolerance %s)", ErrStaleSignature, time.Unix(unix, 0).UTC().Format(time.RFC3339), age.Round(time.Second), tolerance)
	}
	return nil
}
