package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-gw/switchboard/store"
)

// claimSQL leases due rows in one statement. The candidates are the first
// rows of message_queue's due range (migration 0012: keyed by when a
// message may be claimed, so rows leased to a live dispatcher are not in
// it); each is checked on its message row, the truth. SKIP LOCKED, on the
// queue rows and on the messages: rows another instance is claiming (or a
// receipt or Advance is writing) right now are passed over rather than
// waited for, so Claim never waits for a lock; FOR UPDATE re-checks the
// WHERE on the newest row version, so a row claimed meanwhile is never
// taken twice. RETURNING sees the CTE's old lease owner, which says
// whether the message was abandoned (Reclaimed).
//
// A delivered message waiting for its read receipt (store.AwaitsRead) has
// a queue row keyed by its read deadline (migration 0013), so Claim takes
// it then like any due message.
//
// The message rows are looked up by id from the candidates' array: a join
// lets the planner hash the whole messages table when it believes the
// lease filter selective.
var claimSQL = `WITH cand AS (
		SELECT id FROM message_queue WHERE next_at <= $3
		ORDER BY next_at, id
		LIMIT $4
		FOR UPDATE SKIP LOCKED),
	due AS (
		SELECT id, lease_owner AS prev FROM messages
		WHERE id = ANY(ARRAY(SELECT id FROM cand))
		  AND next_at <= $3 AND status IN ` + claimable + `
		  AND (lease_owner = '' OR lease_until < $3)
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
	now, none, err := store.CheckClaim(p, time.Now)
	if none || err != nil {
		return nil, err
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
	store.SortClaimed(ms)

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

// advanceSet is what an applied Advance sets on its message, its eight
// values numbered from $first.
func advanceSet(first int) string {
	return fmt.Sprintf(`status = $%d, channel = $%d, step = $%d, tries = $%d, attempts = $%d,
		last_error = $%d, next_at = $%d, updated_at = $%d, lease_owner = '', lease_until = NULL`,
		first, first+1, first+2, first+3, first+4, first+5, first+6, first+7)
}

// advanceWithAttemptSQL upserts an Advance's one attempt ($1-$17, as
// upsertAttemptSQL) and applies the Advance to its message ($18-$25) in
// one statement. Every statement pays the executor's start-up and the
// plan cache's revalidation on the server, and one message's Advance had
// two; the two writes touch different tables, so running them as one
// statement (a data-modifying WITH) changes nothing but that cost.
var advanceWithAttemptSQL = `WITH attempt AS (` + upsertAttemptSQL + `)
	UPDATE messages SET ` + advanceSet(18) + ` WHERE id = $1`

// Advance records the dispatcher's transition: the state is read under
// the message's row lock, store.DecideAdvance decides, and the attempts and
// the decision are written before the lock is released.
func (s *Store) Advance(ctx context.Context, t *store.Transition) error {
	if err := s.check(); err != nil {
		return err
	}
	maxSeq, now, err := store.CheckTransition(t, time.Now)
	if err != nil {
		return err
	}
	var (
		st = msgState{id: t.MessageID} // the group commit locks Advances in id order
		d  store.AdvanceDecision
	)
	done := s.inflight.add(t)
	defer done()
	err = s.txn2(ctx, &st, func(b *pgx.Batch, _ bool) {
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
		d = store.DecideAdvance(store.AdvanceState{Status: st.status, Owner: st.owner, Attempts: st.attempts}, t, maxSeq)
		// The common Advance (one attempt, no cost) writes its attempt and
		// its message in one statement (advanceWithAttemptSQL).
		one := d.Apply && len(t.Attempts) == 1 && t.Attempts[0].Cost.IsZero() && len(t.Spend) == 0
		if !one {
			for i := range t.Attempts {
				queueAttempt(b, t.MessageID, &t.Attempts[i])
			}
			queueSpend(b, t.Spend)
		}
		switch {
		case d.Apply:
			set := []any{string(d.Status), t.Channel, t.Step, t.Tries, d.Attempts, t.LastError, ts(d.NextAt), now}
			if one {
				b.Queue(advanceWithAttemptSQL, append(attemptArgs(t.MessageID, &t.Attempts[0]), set...)...)
			} else {
				b.Queue(`UPDATE messages SET `+advanceSet(2)+` WHERE id = $1`, append([]any{t.MessageID}, set...)...)
			}
			if d.Status != st.status {
				return s.queueAdvanceCallback(ctx, tx, b, t, &st, d, now)
			}
		case d.Owned:
			// Final meanwhile (a receipt raced the dispatcher): only keep
			// the attempt count in step and drop the lease.
			b.Queue(`UPDATE messages SET attempts = $2, lease_owner = '', lease_until = NULL WHERE id = $1`,
				t.MessageID, d.Attempts)
		case d.Attempts != st.attempts:
			b.Queue(`UPDATE messages SET attempts = $2 WHERE id = $1`, t.MessageID, d.Attempts)
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.ErrNotFound
	}
	if err != nil {
		return s.wrap(err, "advance %s", t.MessageID)
	}
	return d.Err()
}

// queueAdvanceCallback queues the callback of an Advance that changed the
// message's status, reported by store.ReportingAttempt or else the
// message's current attempt.
func (s *Store) queueAdvanceCallback(ctx context.Context, tx querier, b *pgx.Batch, t *store.Transition,
	st *msgState, d store.AdvanceDecision, now time.Time) error {
	if st.callbackURL == "" {
		return nil
	}
	seq, channel, ok := store.ReportingAttempt(t)
	if !ok && d.Attempts > 0 {
		err := tx.QueryRow(ctx, `SELECT seq, channel FROM attempts WHERE message_id = $1 AND seq = $2`,
			t.MessageID, d.Attempts).Scan(&seq, &channel)
		if err != nil && !isNoRows(err) {
			return fmt.Errorf("load current attempt: %w", err)
		}
	}
	if channel == "" {
		channel = t.Channel
	}
	return queueCallback(b, st, d.Status, channel, seq, st.duplicate, now)
}

var releaseSQL = `UPDATE messages SET lease_owner = '', lease_until = NULL
	WHERE id = ANY(ARRAY(SELECT id FROM message_queue)) AND lease_owner = $1 AND status IN ` + claimable

// Release drops owner's leases so another process can claim the messages
// without waiting for the leases to expire.
func (s *Store) Release(ctx context.Context, owner string) error {
	if err := s.check(); err != nil {
		return err
	}
	if owner == "" {
		return nil
	}
	// Only messages not final (or waiting for a read) can be claimed: the
	// rest keep their owner, and the search walks message_queue (migrations
	// 0012, 0013), not the table.
	tag, err := s.pool.Exec(ctx, releaseSQL, owner)
	if err != nil {
		return s.wrap(err, "release leases")
	}
	if tag.RowsAffected() > 0 {
		s.kick()
	}
	return nil
}
