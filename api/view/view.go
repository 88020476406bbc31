// Package view holds the JSON API's views of messages and channels. It is
// its own package so that the support dashboard (api/ui), which package
// api mounts, renders the very values the API answers with; package api
// names them under their old names (api.MessageView, ...).
package view

import (
	"time"

	"github.com/switchboard-gw/switchboard/money"
	"github.com/switchboard-gw/switchboard/store"
)

// MessageView is a message as the API shows it.
type MessageView struct {
	ID            string            `json:"id"`
	Status        string            `json:"status"`
	Policy        string            `json:"policy"`
	Route         []string          `json:"route"`
	Channel       string            `json:"channel,omitempty"`
	IsFallback    bool              `json:"is_fallback"`
	Duplicate     bool              `json:"duplicate"`
	To            store.Recipient   `json:"to"`
	Body          string            `json:"body,omitempty"`
	Subject       string            `json:"subject,omitempty"`
	HTML          string            `json:"html,omitempty"`
	Tags          []string          `json:"tags,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	CallbackURL   string            `json:"callback_url,omitempty"`
	LastError     string            `json:"last_error,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	ExpiresAt     time.Time         `json:"expires_at"`
	NextAttemptAt *time.Time        `json:"next_attempt_at,omitempty"`
	// WaitReason says why a scheduled message waits: send_at or
	// quiet_hours (a reason.Reason of KindWait).
	WaitReason string        `json:"wait_reason,omitempty"`
	Attempts   []AttemptView `json:"attempts,omitempty"`
	// Cost is what the message cost so far, one total per currency, from
	// its attempts' costs (cost.go); absent when none has one.
	Cost []money.Amount `json:"cost,omitempty"`
	// Callbacks are the status callbacks queued for the message, oldest
	// first (GET /v1/messages/{id} only, when it has a callback_url).
	Callbacks []CallbackView `json:"callbacks,omitempty"`
}

// CallbackView is one status callback as the API shows it: the message
// status it reports and how its delivery to the callback_url went.
type CallbackView struct {
	Status        string     `json:"status"`   // the message status reported (the payload's)
	Delivery      string     `json:"delivery"` // pending, delivered or gave_up
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"` // while pending
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"` // delivered or given up
}

// AttemptView is one attempt as the API shows it.
type AttemptView struct {
	Seq         int        `json:"seq"`
	Channel     string     `json:"channel"`
	Status      string     `json:"status"`
	ProviderID  string     `json:"provider_id,omitempty"`
	ErrorClass  string     `json:"error_class,omitempty"`
	Error       string     `json:"error,omitempty"`
	Info        string     `json:"info,omitempty"`
	Sender      string     `json:"sender,omitempty"` // the sender the channel used (number, sender ID, service, phone number id)
	Reason      string     `json:"failover_reason,omitempty"`
	Ambiguous   bool       `json:"ambiguous,omitempty"`
	Late        bool       `json:"late,omitempty"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	ReadAt      *time.Time `json:"read_at,omitempty"`
	Cost        *CostView  `json:"cost,omitempty"`
}

// ChannelView is one channel in GET /v1/channels.
type ChannelView struct {
	Name           string     `json:"name"`
	Type           string     `json:"type"`
	Kind           string     `json:"kind"`
	State          string     `json:"state"`
	Breaker        string     `json:"breaker"`
	LastProbe      *ProbeView `json:"last_probe,omitempty"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	// DisabledBy is the API key name that disabled the channel, and
	// DisabledAt when; both absent when the channel is not disabled (and
	// DisabledBy when the override's author is not known).
	DisabledBy string     `json:"disabled_by,omitempty"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	SimMode    string     `json:"sim_mode,omitempty"`
	// SilentSince is when the receipt breaker found the channel silent
	// (accepting messages, delivering none); absent when it is not.
	SilentSince *time.Time `json:"silent_since,omitempty"`
	// Receipts is the receipt breaker's window; absent for a channel no
	// policy waits on for receipts (it never goes silent).
	Receipts *ReceiptsView `json:"receipts,omitempty"`
	// Spend is today's spend and the budget; absent for a channel with no
	// cost, no budget and nothing spent today.
	Spend *SpendView `json:"spend,omitempty"`
}

// ReceiptsView is a channel's receipt breaker: the sends in its sliding
// window that expected a delivered receipt, and how many got one in time.
type ReceiptsView struct {
	WindowSeconds float64 `json:"window_seconds"`
	Sends         int     `json:"sends"`     // judged in the window: confirmed or deadline passed
	Confirmed     int     `json:"confirmed"` // delivered receipt within the deadline
	// Ratio is confirmed/sends; absent when no send was judged.
	Ratio    *float64 `json:"ratio,omitempty"`
	Receipts int      `json:"receipts"` // delivered receipts in the window
	Late     int      `json:"late"`     // of which after their deadline
	// P90MS is the receipt latency p90; absent with no receipts.
	P90MS   *float64 `json:"p90_ms,omitempty"`
	Pending int      `json:"pending"` // sends waiting for their receipt
	// CanariesConfirmed counts, while silent, canaries confirmed in a row;
	// RecoverAfter of them make the channel healthy again.
	CanariesConfirmed int        `json:"canaries_confirmed"`
	RecoverAfter      int        `json:"recover_after"`
	RecoveredAt       *time.Time `json:"recovered_at,omitempty"`
}

// ProbeView is a channel's last health probe.
type ProbeView struct {
	At        time.Time `json:"at"`
	OK        bool      `json:"ok"`
	Error     string    `json:"error,omitempty"`
	LatencyMS float64   `json:"latency_ms"`
}
