package drill

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// shortLoud is a 5-second loud outage: whatsapp down from 1s on.
const shortLoud = `
name: short-loud
duration: 5s
drain: 15s
traffic: {rate: 40, recipients: 50, tags: [otp]}
timeline:
  - {at: 1s, channel: whatsapp, mode: down, note: loud}
  - {at: 4s, channel: whatsapp, mode: up}
targets: {lost: 0, max_failed: 0, min_fallback: 1}
gateway:
  dispatch: {poll: 50ms}
  channels:
    whatsapp:
      type: sim
      kind: whatsapp
      latency: 5ms
      receipt_delay: 50ms
      retry: {attempts: 2, backoff: 50ms}
      breaker: {failures: 3, open_for: 10s}
      probe: {interval: 500ms, fail_after: 2}
    sms: {type: sim, kind: sms, latency: 5ms, receipt_delay: 50ms, probe: {interval: 500ms}}
  policies:
    - name: otp
      match: {tags: [otp]}
      route: [whatsapp, sms]
      receipt_timeout: {whatsapp: 2s}
      ttl: 1m
`

// TestShortLoudDrill runs a whole drill end to end and checks the report's
// invariants; the timing targets belong to the drills' own reports.
func TestShortLoudDrill(t *testing.T) {
	rep := runDrill(t, "short-loud.yaml", shortLoud)

	require.Positive(t, rep.Accepted)
	require.Zero(t, rep.Lost, "accepted messages lost")
	require.Zero(t, rep.Unfinished, "accepted messages not final")
	require.Zero(t, rep.UnrecordedSends, "provider accepts without an attempt")
	require.Zero(t, rep.Failed)
	require.Equal(t, rep.Accepted, rep.Delivered+rep.Failed+rep.Expired+rep.SentUnconfirmed)
	require.Positive(t, rep.Fallback, "no fallback deliveries")
	require.Positive(t, rep.DeliveredBy["sms"])
	require.NotNil(t, rep.Outage)
	require.NotNil(t, rep.Outage.BreakerOpenAfter, "the whatsapp breaker never opened")
	require.Positive(t, rep.Outage.Skips["breaker_open"]+rep.Outage.Skips["unhealthy"], "no message skipped the dead channel")
	require.Len(t, rep.Events, 2)
	opened := false
	for _, tr := range rep.Channels["whatsapp"] {
		opened = opened || tr.Breaker == "open"
	}
	require.True(t, opened)
	require.True(t, rep.Pass, "checks: %+v", rep.Missed())
	_, err := json.Marshal(rep)
	require.NoError(t, err)
}

// runDrill parses and runs a scenario (bounded to a minute) and logs its
// report.
func runDrill(t *testing.T, name, scenario string) *Report {
	t.Helper()
	sc, err := Parse(name, []byte(scenario))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, sc, Options{})
	require.NoError(t, err)
	var out strings.Builder
	rep.Print(&out)
	t.Log("\n" + out.String())
	return rep
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]func(string) string{
		"unknown key":  func(s string) string { return s + "bogus: 1\n" },
		"unknown mode": func(s string) string { return strings.Replace(s, "mode: down", "mode: sideways", 1) },
		"unknown channel": func(s string) string {
			return strings.Replace(s, "channel: whatsapp, mode: down", "channel: pigeon, mode: down", 1)
		},
		"event after the end": func(s string) string { return strings.Replace(s, "at: 4s", "at: 9s", 1) },
		"lost not zero":       func(s string) string { return strings.Replace(s, "lost: 0", "lost: 3", 1) },
		"bad gateway config": func(s string) string {
			return strings.Replace(s, "route: [whatsapp, sms]", "route: [whatsapp, fax]", 1)
		},
		"no rate": func(s string) string { return strings.Replace(s, "rate: 40", "rate: 0", 1) },
		"silent target on an event": func(s string) string {
			return strings.Replace(s, "mode: down, note: loud}", "mode: down, note: loud, targets: {detected_within: 1s}}", 1)
		},
		"fast fallback ratio over 1": func(s string) string {
			return strings.Replace(s, "lost: 0,", "lost: 0, min_fast_fallback_ratio: 95,", 1)
		},
	} {
		_, err := Parse(name+".yaml", []byte(edit(shortLoud)))
		require.Error(t, err, name)
	}
}

// shortSilent is a silent outage (blackhole) from the start, with a short
// receipt deadline so detection comes within the test's time: the window
// (10s, the shortest allowed) holds no confirmed send from before the
// outage, so the first min_sends deadlines to pass (2s) make it silent.
const shortSilent = `
name: short-silent
duration: 8s
drain: 15s
traffic: {rate: 40, recipients: 50, tags: [otp]}
timeline:
  - {at: 0s, channel: whatsapp, mode: blackhole, note: silent}
  - {at: 5s, channel: whatsapp, mode: up}
targets: {lost: 0, max_failed: 0, detected_within: 4s, min_fast_fallback_ratio: 0.5, recover_within: 3s}
gateway:
  dispatch: {poll: 50ms}
  channels:
    whatsapp:
      type: sim
      kind: whatsapp
      latency: 5ms
      receipt_delay: 50ms
      receipts: {window: 10s, min_sends: 5, canary_ratio: 0.2, recover_after: 2}
    sms: {type: sim, kind: sms, latency: 5ms, receipt_delay: 50ms}
  policies:
    - name: otp
      match: {tags: [otp]}
      route: [whatsapp, sms]
      receipt_timeout: {whatsapp: 2s}
      ttl: 1m
`

// TestShortSilentDrill runs a silent outage end to end and checks that the
// report measures detection, fast fallback and recovery (the full-size
// numbers are drills/silent.yaml's).
func TestShortSilentDrill(t *testing.T) {
	rep := runDrill(t, "short-silent.yaml", shortSilent)

	require.Zero(t, rep.Lost)
	require.Zero(t, rep.Unfinished)
	s := rep.Silent
	require.NotNil(t, s, "no silent report")
	require.NotNil(t, s.DetectedAfter, "whatsapp never went silent")
	require.GreaterOrEqual(t, *s.DetectedAfter, 1.9, "silent before any deadline passed")
	require.Positive(t, s.ReceiptWaits, "nothing waited out the deadline before detection")
	require.Positive(t, s.SilentPosted)
	require.NotNil(t, s.FastFallbackRatio)
	require.NotNil(t, s.UpAt)
	require.NotNil(t, s.HealthyAfter, "whatsapp never left silent")
	require.NotNil(t, s.ReturnAfter, "traffic never returned to whatsapp")
	require.Positive(t, s.Canaries)
	silent := false
	for _, tr := range rep.Channels["whatsapp"] {
		silent = silent || tr.Silent
	}
	require.True(t, silent)
	names := map[string]bool{}
	for _, c := range rep.Checks {
		names[strings.SplitN(c.Name, " ", 2)[0]] = true
	}
	for _, n := range []string{"detected_within", "min_fast_fallback_ratio", "recover_within"} {
		require.True(t, names[n], "no %s check", n)
	}
	_, err := json.Marshal(rep)
	require.NoError(t, err)
}

// TestScenariosParse loads every scenario in drills/ (running them is
// `make drill`).
func TestScenariosParse(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../drills/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		_, err := Load(f)
		require.NoError(t, err, f)
	}
}
