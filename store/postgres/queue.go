package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-gw/switchboard/store"
)

// claimSQL leases due rows in one statement. SKIP LOCKED: rows another
// instance is claiming (or a receipt or Advance is writing) right now are
// passed over rather than waited for; FOR UPDATE re-checks the WHERE on the
// newest row version, so a row claimed meanwhile is never taken twice.
// RETURNING sees the CTE's old lease owner, which says whether the message
// was abandoned (Reclaimed).
var claimSQL = `WITH due AS (
		SELECT id, lease_owner AS prev FROM messages
		WHERE next_at IS NOT NULL AND next_at <= $3 AND status IN ` + notFinal + `
		  AND (lease_owner = '' OR lease_until < $3)
		ORDER BY next_at, id
		LIMIT $4
		FOR UPDATE SKIP LOCKED)
	UPDATE messages AS m SET lease_owner = $1, lease_until = $2
	FROM due WHERE m.id = due.id
	RETURNING ` + msgColsOf("m") + `, due.prev`

const currentAttemptsSQL = `SELECT ` + attCols + ` FROM attempts
	JOIN unnest($1::text[], $2::integer[]) AS cur (cur_id, cur_seq)
	  ON message_id = cur_id AND seq = cur_seq`

// Claim leases due messages, then loads each one's current attempt so the
// dispatcher knows what was in flight.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) ([]*store.Message, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if p.Owner == "" {
		return nil, errors.New("claim: empty owner")
	}
	if p.Limit <= 0 {
		return nil, nil
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	rows, err := s.pool.Query(ctx, claimSQL, p.Owner, now.Add(p.Lease), now, p.Limit)
	if err != nil {
		return nil, s.wrap(err, "claim messages")
	}
	var ms []*store.Message
	for rows.Next() {
		var prev string
		m, err := scanMessage(rows, &prev)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan claimed message: %w", err)
		}
		m.Reclaimed = prev != ""
		ms = append(ms, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "claim messages")
	}
	// RETURNING order is unspecified.
	slices.SortFunc(ms, func(a, b *store.Message) int {
		if c := a.NextAt.Compare(b.NextAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})

	var (
		idx  = map[string]*store.Message{}
		ids  []string
		seqs []int32
	)
	for _, m := range ms {
		if m.Attempts > 0 {
			idx[m.ID] = m
			ids, seqs = append(ids, m.ID), append(seqs, int32(m.Attempts))
		}
	}
	if len(ids) == 0 {
		return ms, nil
	}
	// The leases are taken: a failure from here on leaves them to expire,
	// so it is returned with the messages' leases still held by p.Owner.
	arows, err := s.pool.Query(ctx, currentAttemptsSQL, ids, seqs)
	if err != nil {
		return nil, s.wrap(err, "load current attempts")
	}
	defer arows.Close()
	for arows.Next() {
		a, err := scanAttempt(arows)
		if err != nil {
			return nil, fmt.Errorf("scan current attempt: %w", err)
		}
		if m := idx[a.MessageID]; m != nil {
			m.Current = &a
		}
	}
	if err := arows.Err(); err != nil {
		return nil, s.wrap(err, "load current attempts")
	}
	return ms, nil
}

// msgState is what Advance and RecordReceipt read, under the row lock,
// before deciding.
type msgState struct {
	id          string
	status      store.Status
	owner       string
	attempts    int
	channel     string
	duplicate   bool
	lastErr     string
	callbackURL string
	scope       string
	route       []string
}

const msgStateCols = `id, status, lease_owner, attempts, channel, duplicate, last_error, callback_url, idem_scope, route`

func (st *msgState) dest(extra ...any) []any {
	return append([]any{&st.id, &st.status, &st.owner, &st.attempts, &st.channel, &st.duplicate, &st.lastErr,
		&st.callbackURL, &st.scope, &st.route}, extra...)
}

// Advance records the dispatcher's transition: the attempts in every case
// (they describe provider calls that happened), the message fields only
// when the caller still holds the lease and no receipt has made the message
// final meanwhile. The decision is made in Go on the row read under its
// lock, so nothing changes between the read and the write.
func (s *Store) Advance(ctx context.Context, t *store.Transition) error {
	if err := s.check(); err != nil {
		return err
	}
	if t == nil || t.MessageID == "" {
		return errors.New("advance: no message id")
	}
	if t.Status != "" && !t.Status.Valid() {
		return fmt.Errorf("advance %s: invalid status %q", t.MessageID, t.Status)
	}
	now := t.Now
	if now.IsZero() {
		now = time.Now()
	}
	maxSeq := 0
	for i := range t.Attempts {
		a := &t.Attempts[i]
		if a.Seq < 1 {
			return fmt.Errorf("advance %s: attempt seq %d < 1", t.MessageID, a.Seq)
		}
		if a.Status.Rank() < 0 {
			return fmt.Errorf("advance %s: attempt %d: invalid status %q", t.MessageID, a.Seq, a.Status)
		}
		maxSeq = max(maxSeq, a.Seq)
	}
	owned := false
	st := msgState{id: t.MessageID} // the group commit locks Advances in id order
	err := s.txn2(ctx, &st, func(b *pgx.Batch) {
		b.Queue(`SELECT `+msgStateCols+` FROM messages WHERE id = $1 FOR UPDATE`, t.MessageID)
	}, func(br pgx.BatchResults) error {
		err := br.QueryRow().Scan(st.dest()...)
		if isNoRows(err) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("load message state: %w", err)
		}
		return nil
	}, func(tx querier, b *pgx.Batch) error {
		for i := range t.Attempts {
			b.Queue(upsertAttemptSQL, attemptArgs(t.MessageID, &t.Attempts[i])...)
		}
		// Attempts is kept equal to the highest recorded seq in every branch
		// so that "current = seq == Attempts" holds for receipts and Claim.
		attempts := max(st.attempts, maxSeq)
		owned = t.Owner != "" && st.owner == t.Owner
		switch {
		case owned && !st.status.Final():
			next := st.status
			if t.Status != "" && t.Status.Rank() >= st.status.Rank() {
				next = t.Status
			}
			var nextAt any
			if !t.Status.Final() && !t.NextAt.IsZero() {
				nextAt = t.NextAt
			}
			b.Queue(`UPDATE messages SET status = $2, channel = $3, step = $4, tries = $5, attempts = $6,
				last_error = $7, next_at = $8, updated_at = $9, lease_owner = '', lease_until = NULL
				WHERE id = $1`, t.MessageID, string(next), t.Channel, t.Step, t.Tries, attempts, t.LastError, nextAt, now)
			if next != st.status && st.callbackURL != "" {
				// The attempt that caused the change: the highest one the
				// transition records, else the message's current one.
				seq, channel := 0, ""
				for i := range t.Attempts {
					if a := &t.Attempts[i]; a.Seq >= seq {
						seq, channel = a.Seq, a.Channel
					}
				}
				if seq == 0 && attempts > 0 {
					err := tx.QueryRow(ctx, `SELECT seq, channel FROM attempts WHERE message_id = $1 AND seq = $2`,
						t.MessageID, attempts).Scan(&seq, &channel)
					if err != nil && !isNoRows(err) {
						return fmt.Errorf("load current attempt: %w", err)
					}
				}
				if channel == "" {
					channel = t.Channel
				}
				if err := queueCallback(b, &st, next, channel, seq, st.duplicate, now); err != nil {
					return err
				}
			}
		case owned:
			// Final meanwhile (a receipt raced the dispatcher): only keep
			// the attempt count in step and drop the lease.
			b.Queue(`UPDATE messages SET attempts = $2, lease_owner = '', lease_until = NULL WHERE id = $1`,
				t.MessageID, attempts)
		case attempts != st.attempts:
			b.Queue(`UPDATE messages SET attempts = $2 WHERE id = $1`, t.MessageID, attempts)
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.ErrNotFound
	}
	if err != nil {
		return s.wrap(err, "advance %s", t.MessageID)
	}
	if !owned {
		return store.ErrLeaseLost
	}
	return nil
}

// Release drops owner's leases so another process can claim the messages
// without waiting for the leases to expire.
func (s *Store) Release(ctx context.Context, owner string) error {
	if err := s.check(); err != nil {
		return err
	}
	if owner == "" {
		return nil
	}
	// Only messages not final can be claimed: the rest keep their owner,
	// and the search walks messages_queue (migration 0005), not the table.
	tag, err := s.pool.Exec(ctx, `UPDATE messages SET lease_owner = '', lease_until = NULL
		WHERE lease_owner = $1 AND status IN `+notFinal, owner)
	if err != nil {
		return s.wrap(err, "release leases")
	}
	if tag.RowsAffected() > 0 {
		s.kick()
	}
	return nil
}
