package reason_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/reason"
)

// TestContract pins each reason's stored, API and metric values: they are
// written in both stores' attempts and read by API clients and dashboards,
// so a rename is a breaking change, not a refactor.
func TestContract(t *testing.T) {
	t.Parallel()
	tests := []struct {
		r        reason.Reason
		value    string
		kind     reason.Kind
		trigger  config.Trigger
		waiting  reason.Reason
		failover string // the failovers_total trigger label; "" none
	}{
		{reason.OK, "ok", reason.KindOK, "", reason.OK, ""},
		{reason.Error, "error", reason.KindTrigger, config.TriggerError, reason.Error, "error"},
		{reason.BreakerOpen, "breaker_open", reason.KindTrigger, config.TriggerBreakerOpen, reason.WaitBreaker, "breaker_open"},
		{reason.Unhealthy, "unhealthy", reason.KindTrigger, config.TriggerUnhealthy, reason.WaitUnhealthy, "unhealthy"},
		{reason.Disabled, "disabled", reason.KindTrigger, config.TriggerUnhealthy, reason.WaitDisabled, "disabled"},
		{reason.NoReceipt, "no_receipt", reason.KindTrigger, config.TriggerNoReceipt, reason.NoReceipt, "no_receipt"},
		{reason.Undelivered, "undelivered", reason.KindTrigger, config.TriggerUndelivered, reason.Undelivered, "undelivered"},
		{reason.Silent, "silent", reason.KindTrigger, config.TriggerSilent, reason.Silent, "silent"},
		{reason.NoRead, "no_read", reason.KindTrigger, config.TriggerNoRead, reason.NoRead, "no_read"},
		{reason.Canary, "canary", reason.KindCanary, config.TriggerSilent, reason.Canary, "silent"},
		{reason.NoAddress, "no_address", reason.KindSkip, "", reason.NoAddress, ""},
		{reason.UnknownChannel, "unknown_channel", reason.KindSkip, "", reason.UnknownChannel, ""},
		{reason.WaitUnhealthy, "wait_unhealthy", reason.KindWait, config.TriggerUnhealthy, reason.WaitUnhealthy, ""},
		{reason.WaitDisabled, "wait_disabled", reason.KindWait, config.TriggerUnhealthy, reason.WaitDisabled, ""},
		{reason.WaitBreaker, "wait_breaker", reason.KindWait, config.TriggerBreakerOpen, reason.WaitBreaker, ""},
		{reason.WaitRateLimited, "wait_rate_limited", reason.KindWait, "", reason.WaitRateLimited, ""},
	}
	require.Len(t, tests, len(reason.All()), "every reason is pinned here")
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			require.Equal(t, tt.value, tt.r.String())
			require.Equal(t, tt.r, reason.Parse(tt.value))
			require.True(t, tt.r.Known())
			require.Equal(t, tt.kind, tt.r.Kind())
			require.Equal(t, tt.trigger, tt.r.Trigger())
			require.Equal(t, tt.waiting, tt.r.Waiting())
			require.Equal(t, tt.kind == reason.KindTrigger, tt.r.Failover())
			require.Equal(t, tt.kind == reason.KindWait, tt.r.Wait())
			label, ok := tt.r.FailoverLabel()
			require.Equal(t, tt.failover, label)
			require.Equal(t, tt.failover != "", ok)
			require.Equal(t, "skipped_"+tt.value, tt.r.SkippedOutcome())
			if tt.trigger != "" && tt.trigger != config.TriggerNoRead { // no_read is opt-in, not a default
				require.Contains(t, config.AllTriggers, tt.trigger, "a reason's trigger is a failover_on value")
			}
		})
	}
}

// TestSentences: every reason has its own sentence, naming the channel
// and, where the reason has one, the detail.
func TestSentences(t *testing.T) {
	t.Parallel()
	seen := map[string]reason.Reason{}
	for _, r := range reason.All() {
		s := r.Sentence(reason.Facts{Channel: "WhatsApp", Error: "boom", ErrorClass: "permanent", Skipped: true})
		require.True(t, strings.HasPrefix(s, "WhatsApp"), "%s: %q", r, s)
		require.NotContains(t, s, "was left", "%s has its own words", r)
		require.False(t, strings.HasSuffix(s, "."), "%s: callers go on after the sentence", r)
		if prev, dup := seen[s]; dup {
			t.Fatalf("%s and %s share the sentence %q", r, prev, s)
		}
		seen[s] = r
	}

	tests := []struct {
		name string
		r    reason.Reason
		f    reason.Facts
		want string
	}{
		{"no receipt with its deadline", reason.NoReceipt, reason.Facts{Channel: "WhatsApp", Within: 30 * time.Second},
			"WhatsApp accepted the message but did not confirm delivery within 30s"},
		{"no read with its deadline", reason.NoRead, reason.Facts{Channel: "WhatsApp", Within: 10 * time.Minute},
			"WhatsApp delivered the message but the recipient did not read it within 10m0s"},
		{"silent, skipped", reason.Silent, reason.Facts{Channel: "WhatsApp", Skipped: true},
			"WhatsApp was skipped: it has stopped confirming deliveries (a silent outage)"},
		{"silent, sent", reason.Silent, reason.Facts{Channel: "WhatsApp", Error: "p90 41s"},
			"WhatsApp accepted the message, but it has stopped confirming deliveries (a silent outage), so we did not wait for its deadline (p90 41s)"},
		{"disabled drops the ops prefix", reason.Disabled, reason.Facts{Channel: "SMS", Error: "disabled by ops: carrier outage"},
			"SMS was skipped: ops had switched it off (carrier outage)"},
		{"error, transient", reason.Error, reason.Facts{Channel: "SMS", ErrorClass: "transient", Error: "503"},
			"SMS kept failing with temporary errors until its retries ran out (last: 503)"},
		{"error, no class", reason.Error, reason.Facts{Channel: "SMS"}, "SMS failed: no details"},
		{"a reason this version does not know", reason.Parse("opted_out"), reason.Facts{Channel: "SMS"}, "SMS was left (opted_out)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.r.Sentence(tt.f))
		})
	}
}

// TestUnknownReasonSurvives: a reason written by a newer instance sharing
// the store is kept as it is, and counts as nothing this version acts on.
func TestUnknownReasonSurvives(t *testing.T) {
	t.Parallel()
	r := reason.Parse("budget")
	require.Equal(t, "budget", r.String())
	require.False(t, r.Known())
	require.Equal(t, reason.KindNone, r.Kind())
	require.False(t, r.Failover())
	require.False(t, r.Wait())
	_, ok := r.FailoverLabel()
	require.False(t, ok)
	require.Equal(t, "skipped_budget", r.SkippedOutcome())
	require.False(t, slices.Contains(reason.All(), r))
}
