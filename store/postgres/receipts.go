package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/switchboard-gw/switchboard/store"
)

// receiptStateSQL finds the attempt by the provider's id and locks its
// message. The attempt's status is read after the lock, by the next
// statement (receiptAttemptSQL, in the same round trip): every attempt
// write happens under its message's lock, and a row read in the same
// statement as the lock could be older than the lock.
var receiptStateSQL = `WITH a AS (
		SELECT message_id, seq FROM attempts
		WHERE channel = $1 AND provider_id = $2 AND provider_id <> ''
		ORDER BY message_id DESC, seq DESC LIMIT 1)
	SELECT a.seq, m.next_at, ` + msgColsOfState("m") + `
	FROM a JOIN messages AS m ON m.id = a.message_id
	FOR UPDATE OF m`

// receiptAttemptSQL reads the attempt receiptStateSQL found, as of after
// its lock (READ COMMITTED: a new snapshot per statement).
const receiptAttemptSQL = `SELECT message_id, seq, status FROM attempts
	WHERE channel = $1 AND provider_id = $2 AND provider_id <> ''
	ORDER BY message_id DESC, seq DESC LIMIT 1`

func msgColsOfState(alias string) string {
	return alias + ".id, " + alias + ".status, " + alias + ".lease_owner, " + alias + ".attempts, " +
		alias + ".channel, " + alias + ".duplicate, " + alias + ".last_error, " + alias + ".callback_url, " +
		alias + ".idem_scope, " + alias + ".route"
}

// RecordReceipt applies a provider's delivery report, deciding in Go on
// state read under the message's row lock (the rules are store/sqlite's).
func (s *Store) RecordReceipt(ctx context.Context, p store.ReceiptParams) (store.ReceiptResult, error) {
	if err := s.check(); err != nil {
		return store.ReceiptResult{}, err
	}
	switch p.Status {
	case store.AttemptSent, store.AttemptDelivered, store.AttemptRead, store.AttemptUndelivered:
	default:
		return store.ReceiptResult{}, fmt.Errorf("record receipt: invalid status %q", p.Status)
	}
	if p.Channel == "" || p.ProviderID == "" {
		return store.ReceiptResult{}, store.ErrNotFound
	}
	at := p.At
	if at.IsZero() {
		at = time.Now()
	}
	var (
		res    store.ReceiptResult
		nowDue bool
	)
	var (
		st               msgState
		seq              int
		nextAt           pgtype.Timestamptz
		attID, attStatus string
		attSeq           int
		attFound         bool
	)
	err := s.txn2(ctx, &st, func(b *pgx.Batch) {
		b.Queue(receiptStateSQL, p.Channel, p.ProviderID)
		b.Queue(receiptAttemptSQL, p.Channel, p.ProviderID)
	}, func(br pgx.BatchResults) error {
		err := br.QueryRow().Scan(append([]any{&seq, &nextAt}, st.dest()...)...)
		if isNoRows(err) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("find attempt: %w", err)
		}
		err = br.QueryRow().Scan(&attID, &attSeq, &attStatus)
		if err != nil && !isNoRows(err) {
			return fmt.Errorf("read attempt: %w", err)
		}
		attFound = err == nil
		return nil
	}, func(tx querier, b *pgx.Batch) error {
		if !attFound || attID != st.id || attSeq != seq {
			// Another attempt with this provider id came in between the
			// two reads (providers reuse no ids, so hardly ever): read the
			// locked one's status by its key.
			if err := tx.QueryRow(ctx, `SELECT status FROM attempts WHERE message_id = $1 AND seq = $2`, st.id, seq).Scan(&attStatus); err != nil {
				return fmt.Errorf("read attempt: %w", err)
			}
		}
		att := store.AttemptStatus(attStatus)
		cur := st.status
		current := seq == st.attempts
		res = store.ReceiptResult{
			MessageID: st.id,
			Seq:       seq,
			Late:      !current || (cur.Final() && st.channel != p.Channel),
			Status:    cur,
			Duplicate: st.duplicate,
		}
		if p.Status.Rank() <= att.Rank() {
			return nil // stale or repeated: providers resend and reorder callbacks
		}
		res.Changed = true

		var deliveredAt any
		if p.Status == store.AttemptDelivered || p.Status == store.AttemptRead {
			deliveredAt = at
		}
		var attErr string
		if p.Status == store.AttemptUndelivered {
			attErr = p.Error
		}
		b.Queue(`UPDATE attempts SET status = $1, error = CASE WHEN $2 <> '' THEN $2 ELSE error END,
			delivered_at = COALESCE(delivered_at, $3), late = late OR $4
			WHERE message_id = $5 AND seq = $6`, string(p.Status), attErr, deliveredAt, res.Late, st.id, seq)

		prevNext := fromTS(nextAt)
		next, nextCh, nextDup, nextErr, nextNext := cur, st.channel, st.duplicate, st.lastErr, prevNext
		switch p.Status {
		case store.AttemptDelivered, store.AttemptRead:
			want := store.StatusDelivered
			if p.Status == store.AttemptRead {
				want = store.StatusRead
			}
			if cur == store.StatusDelivered || cur == store.StatusRead {
				// Already delivered: a second channel means the customer got
				// it twice; read still beats delivered.
				if st.channel != p.Channel {
					nextDup = true
				}
				if want.Rank() > cur.Rank() {
					next = want
				}
			} else {
				// Not delivered yet, failed or expired: the customer got it,
				// and a truthful late delivery beats "failed". The lease is
				// left alone; the dispatcher's Advance finds the message final.
				next, nextCh, nextNext = want, p.Channel, time.Time{}
			}
		case store.AttemptUndelivered:
			if current && !cur.Final() {
				nextErr = p.Error
				if nextErr == "" {
					nextErr = "undelivered"
				}
				if p.FailoverOnUndelivered {
					nextNext = at // due now: the dispatcher moves down the route
					nowDue = true
				} else {
					next, nextNext = store.StatusFailed, time.Time{}
				}
			}
		}
		if next != cur || nextCh != st.channel || nextDup != st.duplicate || nextErr != st.lastErr || !nextNext.Equal(prevNext) {
			b.Queue(`UPDATE messages SET status = $1, channel = $2, duplicate = $3, last_error = $4,
				next_at = $5, updated_at = $6 WHERE id = $7`,
				string(next), nextCh, nextDup, nextErr, ts(nextNext), time.Now(), st.id)
		}
		if next != cur || nextDup != st.duplicate {
			// Reported by the receipt's attempt.
			if err := queueCallback(b, &st, next, p.Channel, seq, nextDup, at); err != nil {
				return err
			}
		}
		res.Status, res.Duplicate = next, nextDup
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.ReceiptResult{}, store.ErrNotFound
	}
	if err != nil {
		return store.ReceiptResult{}, s.wrap(err, "record receipt")
	}
	if nowDue {
		s.kick()
	}
	return res, nil
}
