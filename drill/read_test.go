package drill

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// shortUnread: whatsapp delivers and nobody reads from 1s to 3s, with a 1s
// read timeout; before and after, recipients read 50ms after delivery.
const shortUnread = `
name: short-unread
duration: 4s
drain: 10s
traffic: {rate: 20, recipients: 50, tags: [marketing]}
timeline:
  - {at: 1s, channel: whatsapp, mode: unread, note: nobody reads}
  - {at: 3s, channel: whatsapp, mode: up}
targets: {lost: 0, max_failed: 0, max_duplicates: 0, min_no_read: 1}
gateway:
  dispatch: {poll: 50ms}
  channels:
    whatsapp: {type: sim, kind: whatsapp, latency: 5ms, receipt_delay: 20ms, read_delay: 50ms, probe: {interval: 500ms}}
    sms: {type: sim, kind: sms, latency: 5ms, receipt_delay: 20ms, probe: {interval: 500ms}}
  policies:
    - name: marketing
      match: {tags: [marketing]}
      route: [whatsapp, sms]
      failover_on: [error, no_receipt, undelivered, no_read]
      read_timeout: {whatsapp: 1s}
      ttl: 1m
`

// TestShortUnreadDrill runs read-based failover end to end: the messages
// sent while nobody reads move on to SMS with no_read and are delivered
// there, none counts as a duplicate, and the others end read on WhatsApp.
// (The full-size numbers are drills/unread.yaml's.)
func TestShortUnreadDrill(t *testing.T) {
	rep := runDrill(t, "short-unread.yaml", shortUnread)

	require.Zero(t, rep.Lost)
	require.Zero(t, rep.Unfinished, "a message waiting for its read is not finished")
	require.Zero(t, rep.Failed)
	require.Zero(t, rep.Duplicates)
	rr := rep.Read
	require.NotNil(t, rr, "no read report")
	require.Positive(t, rr.NoRead)
	require.Equal(t, rr.NoRead, rr.NoReadDelivered, "every message moved on with no_read was delivered on SMS")
	require.Equal(t, rr.NoRead, rr.Takeover.N)
	require.Positive(t, rr.ReadInTime)
	require.Equal(t, rr.NoRead, rep.DeliveredBy["sms"])
	require.Zero(t, rr.LateReads)
	found := false
	for _, c := range rep.Checks {
		found = found || c.Name == "min_no_read"
	}
	require.True(t, found, "no min_no_read check")
	_, err := json.Marshal(rep)
	require.NoError(t, err)
}
