package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// The status callback outbox (store.CallbackOutbox).
//
// Advance and RecordReceipt queue a callback row in the same op (so the
// same transaction) as the status change it reports: a change is never
// committed without its callback, and a failed op queues none. A message
// gets one callback per status it reaches after queued (sending, sent,
// delivered, read, failed, expired), and one more when it becomes a
// duplicate; never one for queued (the 202 said so), and never two for the
// same status. Only messages with a callback_url get any.
//
// Callbacks of one message are delivered in order: ClaimCallbacks takes a
// callback only when no older callback of its message is still pending
// (waiting, leased or backing off), so N+1 waits until N is delivered or
// given up.

// cbStateCols are the message columns a status change reads back to decide
// on its callback (Advance's RETURNING; receiptStateSQL reads the same).
const cbStateCols = `status, channel, attempts, duplicate, callback_url, callback_status, idem_scope, route`

// cbState is a message's state after a change, as far as callbacks care.
type cbState struct {
	status    store.Status
	channel   string
	attempts  int
	duplicate bool
	url       string
	reported  string // callback_status: the status the outbox last got a row for
	scope     string
	route     string // JSON
}

func (c *cbState) scan(sc scanner) error {
	var status string
	err := sc.Scan(&status, &c.channel, &c.attempts, &c.duplicate, &c.url, &c.reported, &c.scope, &c.route)
	c.status = store.Status(status)
	return err
}

const cbCols = sqlshared.CallbackColumns

var insertCallbackSQL = `INSERT INTO callbacks (message_id, url, scope, payload, status, created_at, next_at)
			VALUES (?1, ?2, ?3, ?4, '` + store.CallbackPending + `', ?5, ?5)`

// claimCallbacksSQL leases the oldest due pending callbacks, skipping any
// whose message has an older callback still pending: per-message order.
var claimCallbacksSQL = `UPDATE callbacks SET lease_owner = ?1, lease_until = ?2
			WHERE id IN (
				SELECT c.id FROM callbacks AS c INDEXED BY callbacks_due
				WHERE c.status = '` + store.CallbackPending + `' AND c.next_at <= ?3
				  AND (c.lease_owner = '' OR c.lease_until < ?3)
				  AND NOT EXISTS (SELECT 1 FROM callbacks AS o INDEXED BY callbacks_message
					WHERE o.message_id = c.message_id AND o.id < c.id AND o.status = '` + store.CallbackPending + `')
				ORDER BY c.next_at, c.id LIMIT ?4)
			RETURNING ` + cbCols

// finishCallbackSQL records a try; only the lease holder may (holding means
// lease_owner = owner, even after lease_until passed, as for messages).
var finishCallbackSQL = `UPDATE callbacks SET status = ?2, attempts = attempts + 1,
			last_error = CASE WHEN ?3 <> '' THEN ?3 ELSE last_error END,
			next_at = ?4, finished_at = ?5, lease_owner = '', lease_until = NULL
			WHERE id = ?1 AND status = '` + store.CallbackPending + `' AND lease_owner = ?6`

// queueCallback inserts the callback reporting a message's new state st, if
// the message has a callback_url and the change is one that is reported:
// a status past queued not reported yet, or the duplicate flag being set.
// channel and seq are the attempt that caused the change, at its time.
func queueCallback(w *writer, id string, st *cbState, channel string, seq int, dupSet bool, at time.Time) error {
	if st.url == "" || st.status == store.StatusQueued || st.status == "" {
		return nil
	}
	newStatus := string(st.status) != st.reported
	if !newStatus && !dupSet {
		return nil
	}
	var route []string
	if err := unmarshalJSON(st.route, &route); err != nil {
		return fmt.Errorf("decode route of %s: %w", id, err)
	}
	payload, err := json.Marshal(store.CallbackPayload{
		ID: id, Status: st.status, Channel: channel, Attempt: seq,
		IsFallback: store.IsFallback(channel, route),
		Duplicate:  st.duplicate,
		Timestamp:  at.UTC(),
	})
	if err != nil {
		return fmt.Errorf("encode callback of %s: %w", id, err)
	}
	if _, err := w.st.insertCallback.Exec(id, st.url, st.scope, string(payload), at.UnixNano()); err != nil {
		return fmt.Errorf("queue callback of %s: %w", id, err)
	}
	if newStatus {
		if _, err := w.st.callbackStatus.Exec(id, string(st.status)); err != nil {
			return fmt.Errorf("queue callback of %s: %w", id, err)
		}
	}
	return nil
}

// queueAdvanceCallback is queueCallback for an Advance that changed the
// message's fields: the attempt that caused the change is
// store.ReportingAttempt, else the message's current one.
func queueAdvanceCallback(w *writer, t *store.Transition, st *cbState, now time.Time) error {
	if st.url == "" || string(st.status) == st.reported || st.status == store.StatusQueued {
		return nil // the common case: decided without reading anything
	}
	seq, channel, ok := store.ReportingAttempt(t)
	if !ok && st.attempts > 0 {
		a, err := scanAttempt(w.st.currentAttempt.QueryRow(t.MessageID, st.attempts))
		switch {
		case err == nil:
			seq, channel = a.Seq, a.Channel
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("load current attempt of %s: %w", t.MessageID, err)
		}
	}
	if channel == "" {
		channel = st.channel
	}
	return queueCallback(w, t.MessageID, st, channel, seq, false, now)
}

// ClaimCallbacks leases up to limit due pending callbacks, oldest due first,
// at most one per message (its oldest pending one).
func (s *Store) ClaimCallbacks(ctx context.Context, owner string, lease time.Duration, limit int, now time.Time) ([]store.Callback, error) {
	now, none, err := store.CheckCallbackClaim(owner, limit, now, time.Now)
	if none || err != nil {
		return nil, err
	}
	v, err := s.do(ctx, func(w *writer) (any, error) {
		rows, err := w.st.claimCallbacks.Query(owner, now.Add(lease).UnixNano(), now.UnixNano(), limit)
		if err != nil {
			return nil, fmt.Errorf("claim callbacks: %w", err)
		}
		defer rows.Close()
		cbs, err := sqlshared.Collect(rows, scanCallback)
		if err != nil {
			return nil, fmt.Errorf("claim callbacks: %w", err)
		}
		return cbs, nil
	})
	if err != nil {
		return nil, err
	}
	cbs, _ := v.([]store.Callback)
	// RETURNING order is unspecified.
	store.SortCallbacks(cbs)
	return cbs, nil
}

// FinishCallback records a try's outcome and drops the lease. Only the
// lease holder's result counts: a caller whose lease another owner took
// over gets store.ErrLeaseLost and nothing changes; an unknown id gets
// store.ErrNotFound.
func (s *Store) FinishCallback(ctx context.Context, r store.CallbackResult) error {
	if r.Owner == "" {
		return errors.New("finish callback: empty owner")
	}
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	var next, finished any
	switch r.Status {
	case store.CallbackPending:
		next = now.UnixNano()
		if !r.NextAt.IsZero() {
			next = r.NextAt.UnixNano()
		}
	case store.CallbackDelivered, store.CallbackGaveUp:
		finished = now.UnixNano()
	default:
		return fmt.Errorf("finish callback %d: invalid status %q", r.ID, r.Status)
	}
	_, err := s.do(ctx, func(w *writer) (any, error) {
		res, err := w.st.finishCallback.Exec(r.ID, r.Status, r.Error, next, finished, r.Owner)
		if err != nil {
			return nil, fmt.Errorf("finish callback %d: %w", r.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("finish callback %d: %w", r.ID, err)
		} else if n == 1 {
			return nil, nil
		}
		var one int
		err = w.conn.QueryRowContext(context.Background(), `SELECT 1 FROM callbacks WHERE id = ?`, r.ID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, &cleanError{store.ErrNotFound}
		}
		if err != nil {
			return nil, fmt.Errorf("finish callback %d: %w", r.ID, err)
		}
		return nil, &cleanError{store.ErrLeaseLost}
	})
	return err
}

// deferCallbackSQL hands one claimed callback back untried, due at ?1.
var deferCallbackSQL = `UPDATE callbacks SET next_at = ?1, lease_owner = '', lease_until = NULL
			WHERE id = ?2 AND status = '` + store.CallbackPending + `' AND lease_owner = ?3`

// DeferCallbacks hands claimed callbacks back untried, due again at next:
// one op, so one commit for the lot.
func (s *Store) DeferCallbacks(ctx context.Context, owner string, ids []int64, next time.Time) error {
	if owner == "" {
		return errors.New("defer callbacks: empty owner")
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := s.do(ctx, func(w *writer) (any, error) {
		for _, id := range ids {
			if _, err := w.st.deferCallback.Exec(next.UnixNano(), id, owner); err != nil {
				return nil, fmt.Errorf("defer callback %d: %w", id, err)
			}
		}
		return nil, nil
	})
	return err
}

// Callbacks lists a message's callbacks, oldest first (none: nil).
func (s *Store) Callbacks(ctx context.Context, messageID string) ([]store.Callback, error) {
	if s.isClosed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+cbCols+` FROM callbacks WHERE message_id = ? ORDER BY id`, messageID)
	if err != nil {
		return nil, fmt.Errorf("list callbacks: %w", err)
	}
	defer rows.Close()
	out, err := sqlshared.Collect(rows, scanCallback)
	if err != nil {
		return nil, fmt.Errorf("list callbacks: %w", err)
	}
	return out, nil
}
