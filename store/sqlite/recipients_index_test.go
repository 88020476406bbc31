package sqlite

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// A WhatsApp number equal to the phone number is only in the phone index
// (0012_whatsapp_index.sql): a search by that number, or by either number
// of a message whose two differ, still finds every message that has it.
func TestListByRecipientWithSharedWhatsAppNumber(t *testing.T) {
	s := openTemp(t)
	enqueue := func(to store.Recipient) string {
		m := newMsg()
		m.To = to
		stored, _, err := s.Enqueue(t.Context(), m)
		require.NoError(t, err)
		return stored.ID
	}
	same := enqueue(store.Recipient{Phone: "+1111", WhatsApp: "+1111"})
	waDiffers := enqueue(store.Recipient{Phone: "+2222", WhatsApp: "+1111"})
	phoneOnly := enqueue(store.Recipient{Phone: "+1111", Email: "a@example.com"})
	waOnly := enqueue(store.Recipient{WhatsApp: "+1111"})
	other := enqueue(store.Recipient{Phone: "+2222", WhatsApp: "+2222"})

	for _, tc := range []struct {
		to   string
		want []string
	}{
		{"+1111", []string{waOnly, phoneOnly, waDiffers, same}},
		{"+2222", []string{other, waDiffers}},
		{"a@example.com", []string{phoneOnly}},
		{"+3333", nil},
	} {
		res, err := s.List(t.Context(), store.ListParams{To: tc.to})
		require.NoError(t, err)
		var got []string
		for _, m := range res.Messages {
			got = append(got, m.ID)
		}
		require.Equal(t, tc.want, got, "to %s", tc.to)
	}
}
