package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-gw/switchboard/store"
)

// recipientRows is how many messages BenchmarkRecipientLimit's table holds
// under the limited policy: a month of an OTP sender (about 420 an hour)
// to 100,000 people, every one with a recipient row, plus an email row for
// half of them: 450,000 recipient rows. (The count reads one recipient's
// rows in the window whatever the table's size; a bigger table only makes
// the benchmark slower to set up.)
const recipientRows = 300_000

// BenchmarkRecipientLimit times the per-recipient limit on a table of
// 300,000 limited messages (450,000 recipient rows): the count a send
// pays (a recipient with messages in the window, and one without), and a
// serial Enqueue with and without a Limit, so the check's share of a send
// shows next to the fsync it waits for anyway. The count reads one
// recipient's rows in the window (TestQueryPlans pins the plan), so it
// does not grow with the table.
func BenchmarkRecipientLimit(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	now := time.Now()
	if err := fillRecipients(ctx, s, now); err != nil {
		b.Fatal(err)
	}
	since := now.Add(-time.Hour)
	for _, tc := range []struct{ name, key string }{
		{"count/busy recipient", "tel:+15550000007"},
		{"count/new recipient", "tel:+19999999999"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				var err error
				if n, err = s.CountRecipient(ctx, "otp", tc.key, since); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "counted")
		})
	}
	for _, tc := range []struct {
		name  string
		limit *store.RecipientLimit
	}{
		{"enqueue/no limit", nil},
		{"enqueue/limit 1000/h", &store.RecipientLimit{Max: 1000, Since: since}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				m := newMsg()
				m.To = store.Recipient{Phone: fmt.Sprintf("+1666%07d", i), Email: fmt.Sprintf("bench%d@example.com", i)}
				m.Limit = tc.limit
				if _, _, err := s.Enqueue(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fillRecipients writes recipientRows limited messages spread over the 30
// days before now, straight through the writer's connection in one
// transaction (about half a minute); message rows carry only what the schema
// requires.
func fillRecipients(ctx context.Context, s *Store, now time.Time) error {
	conn := s.w.conn
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	msg, err := conn.PrepareContext(ctx, `INSERT INTO messages (id, policy, to_phone, status, created_at, updated_at)
		VALUES (?, 'otp', ?, 'delivered', ?, ?)`)
	if err != nil {
		return err
	}
	defer msg.Close()
	rcp, err := conn.PrepareContext(ctx, `INSERT INTO recipient_sends (policy, recipient, message_id) VALUES ('otp', ?, ?)`)
	if err != nil {
		return err
	}
	defer rcp.Close()
	span := 30 * 24 * time.Hour
	start := now.Add(-span)
	for i := range recipientRows {
		at := start.Add(time.Duration(i) * (span / recipientRows))
		u := uuid.Must(uuid.NewV7())
		ms := at.UnixMilli()
		for j := 5; j >= 0; j-- {
			u[j] = byte(ms)
			ms >>= 8
		}
		id := u.String()
		// Person 7 is busy: every 50th message, about 8 in the last hour.
		person := (i * 7919) % 100_000
		if i%50 == 0 {
			person = 7
		}
		phone := fmt.Sprintf("+1555%07d", person)
		if _, err := msg.ExecContext(ctx, id, phone, at.UnixNano(), at.UnixNano()); err != nil {
			return err
		}
		if _, err := rcp.ExecContext(ctx, "tel:"+phone, id); err != nil {
			return err
		}
		if person%2 == 0 {
			if _, err := rcp.ExecContext(ctx, fmt.Sprintf("email:user%d@example.com", person), id); err != nil {
				return err
			}
		}
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
