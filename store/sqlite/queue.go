package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// Claim leases due messages with one UPDATE ... RETURNING, then loads each
// one's current attempt so the dispatcher knows what was in flight.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) ([]*store.Message, error) {
	now, none, err := store.CheckClaim(p, time.Now)
	if none || err != nil {
		return nil, err
	}
	until := now.Add(p.Lease)
	// The writer only takes the leases; the rows are read afterwards
	// through the read pool, in parallel with the writer's next batch. The
	// writer is the gateway's one serial resource, and reading every column
	// of every claimed row inside it cost more than the claim itself.
	v, err := s.do(ctx, func(w *writer) (any, error) {
		rows, err := w.st.claim.Query(p.Owner, until.UnixNano(), now.UnixNano(), p.Limit)
		if err != nil {
			return nil, fmt.Errorf("claim messages: %w", err)
		}
		defer rows.Close()
		prev := map[string]string{}
		for rows.Next() {
			var id, owner string
			if err := rows.Scan(&id, &owner); err != nil {
				return nil, fmt.Errorf("scan claimed message: %w", err)
			}
			prev[id] = owner
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("claim messages: %w", err)
		}
		return prev, nil
	})
	if err != nil {
		return nil, err
	}
	claimed, _ := v.(map[string]string)
	if len(claimed) == 0 {
		return nil, nil
	}
	ms, err := s.loadClaimed(ctx, claimed)
	if err != nil {
		return nil, err
	}
	// RETURNING order is unspecified.
	store.SortClaimed(ms)
	return ms, nil
}

// loadClaimed reads the claimed messages, with their current attempts,
// through the read pool. The claim has committed, so they are there.
func (s *Store) loadClaimed(ctx context.Context, claimed map[string]string) ([]*store.Message, error) {
	ids := make([]any, 0, len(claimed))
	for id := range claimed {
		ids = append(ids, id)
	}
	q := `SELECT ` + msgCols + ` FROM messages WHERE id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
	rows, err := s.read.QueryContext(ctx, q, ids...)
	if err != nil {
		return nil, fmt.Errorf("load claimed messages: %w", err)
	}
	var ms []*store.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan claimed message: %w", err)
		}
		m.Reclaimed = claimed[m.ID] != ""
		ms = append(ms, m)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("load claimed messages: %w", err)
	}
	for _, m := range ms {
		if m.Attempts == 0 {
			continue
		}
		a, err := scanAttempt(s.read.QueryRowContext(ctx, `SELECT `+attCols+` FROM attempts WHERE message_id = ? AND seq = ?`, m.ID, m.Attempts))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load current attempt of %s: %w", m.ID, err)
		}
		m.Current = &a
	}
	return ms, nil
}

// Advance records the dispatcher's transition. The attempts are written in
// every case (they describe provider calls that happened); the message
// fields only when the caller still holds the lease and no receipt has made
// the message final meanwhile (store.DecideAdvance).
func (s *Store) Advance(ctx context.Context, t *store.Transition) error {
	maxSeq, now, err := store.CheckTransition(t, time.Now)
	if err != nil {
		return err
	}
	atts := make([][]any, 0, len(t.Attempts))
	for i := range t.Attempts {
		atts = append(atts, attemptArgs(t.MessageID, &t.Attempts[i]))
	}
	// The fast path: store.DecideAdvance's common case (the caller holds
	// the lease of a message that is not final) in one UPDATE. It only
	// matches a message that is not final, so a final t.Status always
	// applies there (it outranks every status that is not final) and
	// next_at follows from it alone.
	rank := -1 // keep the stored status
	if t.Status != "" {
		rank = t.Status.Rank()
	}
	// ReadWait (?12) also matches a delivered message, and lets the
	// status drop (store.DecideAdvance).
	fast := []any{rank, string(t.Status), t.Channel, t.Step, t.Tries, maxSeq, t.LastError,
		nextAtArg(t.NextAt, t.Status.Final() && !(t.ReadWait && store.AwaitsRead(t.Status, t.NextAt))), now.UnixNano(), t.MessageID, t.Owner,
		t.ReadWait}
	_, err = s.do(ctx, func(w *writer) (any, error) {
		if t.Owner != "" {
			var cb cbState
			err := cb.scan(w.st.advanceOwned.QueryRow(fast...))
			switch {
			case err == nil:
				if err := upsertAttempts(w, t, atts); err != nil {
					return nil, err
				}
				// The status changed in this op: its callback commits with it.
				if err := queueAdvanceCallback(w, t, &cb, now); err != nil {
					return nil, err
				}
				return nil, nil
			case !errors.Is(err, sql.ErrNoRows):
				return nil, fmt.Errorf("update message: %w", err)
			}
		}
		// Not found, not the caller's lease, or final meanwhile: the fast
		// path changed nothing, so the decision cannot be to apply.
		var (
			st     store.AdvanceState
			status string
		)
		err := w.st.advanceState.QueryRow(t.MessageID).Scan(&status, &st.Owner, &st.Attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, &cleanError{store.ErrNotFound}
		}
		if err != nil {
			return nil, fmt.Errorf("load message state: %w", err)
		}
		st.Status = store.Status(status)
		if err := upsertAttempts(w, t, atts); err != nil {
			return nil, err
		}
		d := store.DecideAdvance(st, t, maxSeq)
		if d.Attempts != st.Attempts || d.Owned {
			if _, err := w.st.advanceFinal.Exec(t.MessageID, d.Attempts, t.Owner); err != nil {
				return nil, fmt.Errorf("update message: %w", err)
			}
		}
		if err := d.Err(); err != nil {
			return nil, &keepError{err}
		}
		return nil, nil // owned but final: a receipt raced the dispatcher
	})
	return err
}

func upsertAttempts(w *writer, t *store.Transition, atts [][]any) error {
	for i, args := range atts {
		if _, err := w.st.upsertAttempt.Exec(args...); err != nil {
			return fmt.Errorf("record attempt %d: %w", t.Attempts[i].Seq, err)
		}
	}
	return nil
}

// Release drops owner's leases so another process can claim the messages
// without waiting for the leases to expire.
func (s *Store) Release(ctx context.Context, owner string) error {
	if owner == "" {
		return nil
	}
	_, err := s.do(ctx, func(w *writer) (any, error) {
		if _, err := w.st.releaseLeases.Exec(owner); err != nil {
			return nil, fmt.Errorf("release leases: %w", err)
		}
		return nil, nil
	})
	return err
}
