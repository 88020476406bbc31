package store

import (
	"errors"
	"time"
)

// Suppression is one opt-out: the person at Address left the channels of
// one kind ("sms", "whatsapp", "email", "telegram": a channels.Kind), so no
// message goes to that address on a channel of that kind until the entry is
// removed. Address is normalised the way the message's To fields are
// (E.164 for sms and whatsapp).
type Suppression struct {
	Address   string
	Kind      string
	Reason    string // what triggered it: the keyword, the provider error code, an admin's note
	Source    SuppressionSource
	CreatedAt time.Time
}

// SuppressionSource says where an opt-out came from.
type SuppressionSource string

const (
	// SourceInbound: the person sent STOP (or a synonym) to the channel.
	SourceInbound SuppressionSource = "inbound"
	// SourceProvider: a provider refused a send because the person opted
	// out or blocked the sender (Twilio 21610, Telegram's 403 "bot was
	// blocked by the user").
	SourceProvider SuppressionSource = "provider"
	// SourceAPI: added through POST /v1/suppressions.
	SourceAPI SuppressionSource = "api"
)

// Normalized is sp as the drivers store it: the address normalised
// (SuppressionAddress) and a zero CreatedAt made now. Address, Kind and
// Source are required.
func (sp Suppression) Normalized() (Suppression, error) {
	sp.Address = SuppressionAddress(sp.Kind, sp.Address)
	if sp.Address == "" || sp.Kind == "" || sp.Source == "" {
		return sp, errors.New("suppress: address, kind and source are required")
	}
	if sp.CreatedAt.IsZero() {
		sp.CreatedAt = time.Now()
	}
	return sp, nil
}
