package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
)

// TestStatusSaysWhyTheRouteMovedOn: `switchboard status` words each
// failover with the reason's support sentence (the dashboard's words) and
// keeps the reason's name for scripts and searches.
func TestStatusSaysWhyTheRouteMovedOn(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	m := &client.Message{
		ID: "m1", Status: "delivered", Channel: "email", IsFallback: true, Policy: "otp",
		Route: []string{"whatsapp", "sms", "email"}, CreatedAt: at,
		Attempts: []client.Attempt{
			{Seq: 1, Channel: "whatsapp", Status: "failed", ErrorClass: "permanent", Error: "sim: recipient rejected (permanent)", FailoverReason: "error", StartedAt: at},
			{Seq: 2, Channel: "sms", Status: "skipped", Error: "the circuit breaker is open after repeated failures", FailoverReason: "breaker_open", StartedAt: at},
			{Seq: 3, Channel: "email", Status: "delivered", StartedAt: at},
		},
	}
	var out bytes.Buffer
	printMessage(&out, m)
	require.Contains(t, out.String(), "moved on: whatsapp rejected the message: sim: recipient rejected (error)")
	require.Contains(t, out.String(), "moved on: sms was skipped: its circuit breaker was open after repeated failures (breaker_open)")
}

// TestStatusShowsSchedule: a scheduled message shows its due time and why
// it waits; a canceled one its status.
func TestStatusShowsSchedule(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	due := at.Add(11 * time.Hour)
	var out bytes.Buffer
	printMessage(&out, &client.Message{ID: "m1", Status: "scheduled", Policy: "news", Route: []string{"sms"}, CreatedAt: at,
		NextAttemptAt: &due, WaitReason: "quiet_hours"})
	require.Contains(t, out.String(), "status:  scheduled")
	require.Contains(t, out.String(), "due:     "+due.Local().Format(time.RFC3339))
	require.Contains(t, out.String(), "quiet hours end in the recipient's time zone; quiet_hours)")
	out.Reset()
	printMessage(&out, &client.Message{ID: "m2", Status: "canceled", Policy: "news", Route: []string{"sms"}, CreatedAt: at})
	require.Contains(t, out.String(), "status:  canceled")
	require.NotContains(t, out.String(), "due:")
}

// TestStatusShowsSender: each attempt's sender is on its line.
func TestStatusShowsSender(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	m := &client.Message{
		ID: "m1", Status: "sent", Channel: "sms", IsFallback: true, Policy: "otp",
		Route: []string{"whatsapp", "sms"}, CreatedAt: at,
		Attempts: []client.Attempt{
			{Seq: 1, Channel: "whatsapp", Status: "failed", ErrorClass: "misconfigured",
				Error: `whatsapp-cloud: send: no sender for BR: phone_number_ids has neither BR nor "default" (misconfigured)`, FailoverReason: "error", StartedAt: at},
			{Seq: 2, Channel: "sms", Status: "sent", Sender: "SWBOARD", StartedAt: at},
		},
	}
	var out bytes.Buffer
	printMessage(&out, m)
	lines := strings.Split(out.String(), "\n")
	var smsLine string
	for _, l := range lines {
		if strings.Contains(l, " sms ") {
			smsLine = l
		}
	}
	require.Contains(t, smsLine, "(sender SWBOARD)")
	require.Contains(t, out.String(), "no sender for BR")
	require.Equal(t, 1, strings.Count(out.String(), "(sender "), "the whatsapp attempt chose no sender")
}
