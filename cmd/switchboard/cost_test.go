package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
)

// TestStatusShowsCost: `switchboard status` shows the message's total
// cost per currency, each attempt's cost and its source, and words a
// budget skip with its sentence.
func TestStatusShowsCost(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	m := &client.Message{
		ID: "m1", Status: "delivered", Channel: "email", IsFallback: true, Policy: "default",
		Route: []string{"whatsapp", "sms", "email"}, CreatedAt: at,
		Cost: []client.Amount{{Currency: "EUR", Amount: "0.0043"}, {Currency: "USD", Amount: "0.0002"}},
		Attempts: []client.Attempt{
			{Seq: 1, Channel: "whatsapp", Status: "sent", FailoverReason: "no_receipt", StartedAt: at,
				Cost: &client.Cost{Amount: "0.0043", Currency: "EUR", Source: "declared", Detail: "whatsapp pricing category=utility"}},
			{Seq: 2, Channel: "sms", Status: "skipped", Error: "spent 50 USD of its 50 USD budget for 2026-12-03", FailoverReason: "budget", StartedAt: at},
			{Seq: 3, Channel: "email", Status: "delivered", StartedAt: at, Cost: &client.Cost{Amount: "0.0002", Currency: "USD", Source: "declared"}},
		},
	}
	var out bytes.Buffer
	printMessage(&out, m)
	require.Contains(t, out.String(), "  cost:    0.0043 EUR + 0.0002 USD\n")
	require.Contains(t, out.String(), "[0.0043 EUR declared]")
	require.Contains(t, out.String(), "[0.0002 USD declared]")
	require.Contains(t, out.String(), "moved on: sms was skipped: it has spent its budget for today (UTC) (spent 50 USD of its 50 USD budget for 2026-12-03) (budget)")
}
