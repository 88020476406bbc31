package routing

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/money"
	"github.com/switchboard-gw/switchboard/store"
)

// TestReceiptCost: what a receipt's price records. Twilio's amount is a
// reported cost; WhatsApp Cloud's category is priced from the declared
// cost (per category, else per message); billable false is a reported
// zero; a category with no declared cost records nothing.
func TestReceiptCost(t *testing.T) {
	t.Parallel()
	wa := &config.Cost{PerMessage: 5000, PerCategory: map[string]money.Micros{"marketing": 25000, "utility": 4000}, Currency: "EUR"}
	tests := []struct {
		name string
		p    *channels.Price
		c    *config.Cost
		want store.Cost
	}{
		{"no price", nil, wa, store.Cost{}},
		{"twilio amount", &channels.Price{HasAmount: true, Micros: 7500, Currency: "USD", Detail: "d"}, nil,
			store.Cost{Micros: 7500, Currency: "USD", Source: store.CostReported, Detail: "d"}},
		{"whatsapp utility", &channels.Price{Category: "utility", Detail: "d"}, wa,
			store.Cost{Micros: 4000, Currency: "EUR", Source: store.CostDeclared, Detail: "d"}},
		{"whatsapp category not listed", &channels.Price{Category: "authentication", Detail: "d"}, wa,
			store.Cost{Micros: 5000, Currency: "EUR", Source: store.CostDeclared, Detail: "d"}},
		{"whatsapp free", &channels.Price{Free: true, Category: "service", Detail: "d"}, wa,
			store.Cost{Currency: "EUR", Source: store.CostReported, Detail: "d"}},
		{"whatsapp without a declared cost", &channels.Price{Category: "utility"}, nil, store.Cost{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, receiptCost(tt.p, tt.c))
		})
	}
}
