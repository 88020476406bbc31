package twilio_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/internal/testpeers"
	"github.com/switchboard-gw/switchboard/money"
)

// Twilio's spec answers a create with price null (it is filled in after
// the message is sent): the send reports no price, and the attempt keeps
// the channel's declared estimate. The segments still come back for it.
func TestPrismCreateHasNoPriceYet(t *testing.T) {
	t.Parallel()
	prism := testpeers.Prism(t)
	ch := newChannel(t, channels.SMS, prism)
	res, err := ch.Send(context.Background(), &channels.Message{ID: "m1", To: "+15551234567", Body: "Your code is 123456"})
	require.NoError(t, err)
	require.Nil(t, res.Price)
	require.Equal(t, 1, res.Segments)
}

// A create answer that does carry a price (a message Twilio priced at
// once) reports it: the charge, positive, in its unit.
func TestSendReadsPriceWhenPresent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       *channels.Price
	}{
		{"priced", `{"sid":"SM0123456789abcdef0123456789abcdef","status":"sent","num_segments":"2","price":"-0.01580","price_unit":"USD"}`,
			&channels.Price{HasAmount: true, Micros: 15800, Currency: "USD", Detail: "twilio price -0.01580 USD"}},
		{"null price", `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","price":null,"price_unit":"USD"}`, nil},
		{"garbled price is left out, not a failed send", `{"sid":"SM0123456789abcdef0123456789abcdef","status":"sent","price":"n/a","price_unit":"USD"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, answer(http.StatusCreated, tt.body))
			ch := newChannel(t, channels.SMS, f.URL)
			res, err := ch.Send(context.Background(), &channels.Message{ID: "m1", To: "+15551234567", Body: "hi"})
			require.NoError(t, err)
			require.Equal(t, tt.want, res.Price)
		})
	}
}

// A signed status callback that carries Price and PriceUnit reports the
// price on its receipt; one without (Twilio's documented parameters)
// reports none; a bad one is dropped, the receipt kept.
func TestWebhookPrice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		form []string
		want *channels.Price
	}{
		{"price and unit", []string{"Price", "-0.0075", "PriceUnit", "usd"},
			&channels.Price{HasAmount: true, Micros: money.Micros(7500), Currency: "USD", Detail: "twilio price -0.0075 USD"}},
		{"no price", nil, nil},
		{"unknown currency", []string{"Price", "-0.0075", "PriceUnit", "ZZZ"}, nil},
		{"too precise", []string{"Price", "-0.00000075", "PriceUnit", "USD"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch := newChannel(t, channels.SMS, "")
			form := callback("delivered", tt.form...)
			_, receipts, err := ch.Webhook(context.Background(), webhookRequest(callbackURL, form, sign(testToken, callbackURL, form)))
			require.NoError(t, err)
			require.Len(t, receipts, 1)
			require.Equal(t, channels.ReceiptDelivered, receipts[0].Status)
			require.Equal(t, tt.want, receipts[0].Price)
		})
	}
}
