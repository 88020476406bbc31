package sqlshared

import (
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// InboundListQuery is ListInbound's query for p and the page's cursor
// (after) and size (limit, one more row is asked for to tell whether a
// next page exists): newest first. mark is the driver's numbered
// placeholder ("$" or "?"); ts is how it stores a time.
func InboundListQuery(cols string, p store.InboundListParams, after string, limit int, mark string, ts func(time.Time) any) (string, []any) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, mark+fmt.Sprint(len(args))))
	}
	if p.Channel != "" {
		add("channel = %s", p.Channel)
	}
	if p.From != "" {
		add("from_addr = %s", p.From)
	}
	if !p.Since.IsZero() {
		add("received_at >= %s", ts(p.Since))
	}
	if after != "" {
		add("id < %s", after)
	}
	q := `SELECT ` + cols + ` FROM inbound`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT %s%d`, mark, len(args))
	return q, args
}

// PurgeInboundSQL deletes the oldest inbound messages with ids below the
// first parameter and no pending callback, at most the second parameter of
// them (p1 and p2 are the driver's placeholders). It walks the primary key
// from the oldest; callbacks_inbound (migration 0014) serves the callback
// check and the cascade.
func PurgeInboundSQL(p1, p2 string) string {
	return `DELETE FROM inbound WHERE id IN (SELECT id FROM inbound AS i
		WHERE id < ` + p1 + `
		  AND NOT EXISTS (SELECT 1 FROM callbacks AS c WHERE c.inbound_id = i.id AND c.status = 'pending')
		ORDER BY id LIMIT ` + p2 + `)`
}

// InboundColumns are the inbound columns ScanInbound reads, in order.
const InboundColumns = `id, channel, kind, from_addr, to_addr, text, provider_id, reply_to_provider_id, reply_to, received_at`

// ScanInbound reads InboundColumns; PT is the driver's time destination.
func ScanInbound[T any, PT Time[T]](sc Scanner) (*store.InboundMessage, error) {
	var (
		m  store.InboundMessage
		at T
	)
	if err := sc.Scan(&m.ID, &m.Channel, &m.Kind, &m.From, &m.To, &m.Text, &m.ProviderID, &m.ReplyToProviderID, &m.ReplyTo, PT(&at)); err != nil {
		return nil, err
	}
	m.ReceivedAt = PT(&at).Time()
	return &m, nil
}
