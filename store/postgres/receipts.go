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
	SELECT a.seq, m.next_at, m.policy, ` + msgColsOfState("m") + `
	FROM a JOIN messages AS m ON m.id = a.message_id
	FOR UPDATE OF m`

// receiptStateSkipSQL is receiptStateSQL for a receipt in a group commit
// (txn_batch.go): a message another transaction holds is skipped, not
// waited for, and the receipt runs alone after the batch. A batch takes
// its receipts' locks in arrival order, not id order, so waiting for one
// while holding others could deadlock with a lease renewal or another
// instance's batch, which lock in id order.
var receiptStateSkipSQL = receiptStateSQL + ` SKIP LOCKED`

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

// receiptAttemptUpdateSQL writes a receipt's decision on its attempt.
const receiptAttemptUpdateSQL = `UPDATE attempts SET status = $1, error = CASE WHEN $2 <> '' THEN $2 ELSE error END,
	delivered_at = COALESCE(delivered_at, $3), late = late OR $4, read_at = COALESCE(read_at, $7)
	WHERE message_id = $5 AND seq = $6`

// receiptBothSQL is receiptAttemptUpdateSQL and the decision on the
// message ($8-$13) in one statement, as advanceWithAttemptSQL does for an
// Advance: one executor start-up instead of two for the receipt that
// changes its message (a delivery, the common one).
const receiptBothSQL = `WITH attempt AS (` + receiptAttemptUpdateSQL + `)
	UPDATE messages SET status = $8, channel = $9, duplicate = $10, last_error = $11,
		next_at = $12, updated_at = $13 WHERE id = $5`

// RecordReceipt applies a provider's delivery report: the state is read
// under the message's row lock, store.DecideReceipt decides, and the
// decision is written before the lock is released.
func (s *Store) RecordReceipt(ctx context.Context, p store.ReceiptParams) (store.ReceiptResult, error) {
	if err := s.check(); err != nil {
		return store.ReceiptResult{}, err
	}
	at, err := store.CheckReceipt(p, time.Now)
	if err != nil {
		return store.ReceiptResult{}, err
	}
	var (
		d                store.ReceiptDecision
		st               msgState
		seq              int
		nextAt           pgtype.Timestamptz
		policy           string
		attID, attStatus string
		attSeq           int
		attFound         bool
	)
	// The attempt may be on its way into the store in this process.
	if err := s.inflight.wait(ctx, p.Channel, p.ProviderID); err != nil {
		return store.ReceiptResult{}, err
	}
	skip := false
	err = s.txn2(ctx, &st, func(b *pgx.Batch, inBatch bool) {
		skip = inBatch
		if inBatch {
			b.Queue(receiptStateSkipSQL, p.Channel, p.ProviderID)
		} else {
			b.Queue(receiptStateSQL, p.Channel, p.ProviderID)
		}
		b.Queue(receiptAttemptSQL, p.Channel, p.ProviderID)
	}, func(br pgx.BatchResults) error {
		err := br.QueryRow().Scan(append([]any{&seq, &nextAt, &policy}, st.dest()...)...)
		missed := isNoRows(err)
		if err != nil && !missed {
			return fmt.Errorf("find attempt: %w", err)
		}
		err2 := br.QueryRow().Scan(&attID, &attSeq, &attStatus)
		if err2 != nil && !isNoRows(err2) {
			return fmt.Errorf("read attempt: %w", err2)
		}
		attFound = err2 == nil
		switch {
		case missed && attFound && skip:
			// Skipped (in a batch): another transaction holds the message.
			return errLocked
		case missed:
			return store.ErrNotFound
		}
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
		d = store.DecideReceipt(store.ReceiptState{
			MessageID: st.id, Seq: seq, AttemptStatus: store.AttemptStatus(attStatus),
			Status: st.status, Channel: st.channel, Policy: policy, Attempts: st.attempts, Duplicate: st.duplicate,
			LastError: st.lastErr, NextAt: fromTS(nextAt),
		}, p, at)
		if !p.Cost.IsZero() {
			spend, err := receiptCost(ctx, tx, b, st.id, seq, p.Channel, p.Cost)
			if err != nil {
				return err
			}
			d.Result.Spend = spend
		}
		if !d.Result.Changed {
			return nil
		}
		att := []any{string(p.Status), d.AttemptError, ts(d.DeliveredAt), d.Result.Late, st.id, seq, ts(d.ReadAt)}
		if d.MessageChanged {
			b.Queue(receiptBothSQL, append(att, string(d.Status), d.Channel, d.Duplicate, d.LastError, ts(d.NextAt), time.Now())...)
		} else {
			b.Queue(receiptAttemptUpdateSQL, att...)
		}
		if d.StatusChanged || d.DuplicateSet {
			// Reported by the receipt's attempt.
			return queueCallback(b, &st, d.Status, p.Channel, seq, d.Duplicate, at)
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.ReceiptResult{}, store.ErrNotFound
	}
	if err != nil {
		return store.ReceiptResult{}, s.wrap(err, "record receipt")
	}
	if d.DueNow {
		s.kick()
	}
	return d.Result, nil
}
