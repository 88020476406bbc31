package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

var (
	tAt   = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	tNext = tAt.Add(time.Hour)
)

func TestCheckReceipt(t *testing.T) {
	now := func() time.Time { return tNext }
	for _, tc := range []struct {
		name    string
		p       store.ReceiptParams
		at      time.Time
		invalid bool
		notFind bool
	}{
		{name: "at given", p: store.ReceiptParams{Channel: "sms", ProviderID: "p1", Status: store.AttemptDelivered, At: tAt}, at: tAt},
		{name: "at defaults to now", p: store.ReceiptParams{Channel: "sms", ProviderID: "p1", Status: store.AttemptSent}, at: tNext},
		{name: "skipped is no receipt", p: store.ReceiptParams{Channel: "sms", ProviderID: "p1", Status: store.AttemptSkipped}, invalid: true},
		{name: "failed is no receipt", p: store.ReceiptParams{Channel: "sms", ProviderID: "p1", Status: store.AttemptFailed}, invalid: true},
		{name: "unknown status", p: store.ReceiptParams{Channel: "sms", ProviderID: "p1", Status: "bogus"}, invalid: true},
		{name: "no provider id", p: store.ReceiptParams{Channel: "sms", Status: store.AttemptRead}, notFind: true},
		{name: "no channel", p: store.ReceiptParams{ProviderID: "p1", Status: store.AttemptUndelivered}, notFind: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, err := store.CheckReceipt(tc.p, now)
			switch {
			case tc.invalid:
				require.Error(t, err)
				require.False(t, errors.Is(err, store.ErrNotFound))
			case tc.notFind:
				require.ErrorIs(t, err, store.ErrNotFound)
			default:
				require.NoError(t, err)
				require.Equal(t, tc.at, at)
			}
		})
	}
}

func TestDecideReceipt(t *testing.T) {
	// sending: the current attempt (seq 2 of 2) on email, sent, due at tNext.
	sending := store.ReceiptState{MessageID: "m", Seq: 2, AttemptStatus: store.AttemptSent,
		Status: store.StatusSent, Channel: "email", Attempts: 2, LastError: "", NextAt: tNext}
	with := func(f func(*store.ReceiptState)) store.ReceiptState {
		s := sending
		f(&s)
		return s
	}
	rcpt := func(st store.AttemptStatus, ch string) store.ReceiptParams {
		return store.ReceiptParams{Channel: ch, ProviderID: "p", Status: st, Error: "", At: tAt}
	}
	undelivered := func(failover bool, msg string) store.ReceiptParams {
		p := rcpt(store.AttemptUndelivered, "email")
		p.FailoverOnUndelivered, p.Error = failover, msg
		return p
	}
	readWait := func(p store.ReceiptParams) store.ReceiptParams {
		p.ReadTimeouts = map[string]time.Duration{"marketing": 10 * time.Minute}
		return p
	}
	// unchanged is the decision that writes nothing but reports s.
	unchanged := func(s store.ReceiptState, late bool) store.ReceiptDecision {
		return store.ReceiptDecision{
			Result: store.ReceiptResult{MessageID: s.MessageID, Seq: s.Seq, Late: late, Status: s.Status, Duplicate: s.Duplicate},
			Status: s.Status, Channel: s.Channel, Duplicate: s.Duplicate, LastError: s.LastError, NextAt: s.NextAt,
		}
	}
	for _, tc := range []struct {
		name string
		s    store.ReceiptState
		p    store.ReceiptParams
		want store.ReceiptDecision
	}{
		{
			name: "delivered on the current attempt",
			s:    sending, p: rcpt(store.AttemptDelivered, "email"),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 2, Status: store.StatusDelivered, Changed: true},
				DeliveredAt: tAt, MessageChanged: true, StatusChanged: true,
				Status: store.StatusDelivered, Channel: "email",
			},
		},
		{
			name: "read straight after sent",
			s:    sending, p: rcpt(store.AttemptRead, "email"),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 2, Status: store.StatusRead, Changed: true},
				DeliveredAt: tAt, ReadAt: tAt, MessageChanged: true, StatusChanged: true,
				Status: store.StatusRead, Channel: "email",
			},
		},
		{
			name: "sent after sent is repeated",
			s:    sending, p: rcpt(store.AttemptSent, "email"),
			want: unchanged(sending, false),
		},
		{
			name: "delivered after read is stale",
			s: with(func(s *store.ReceiptState) {
				s.AttemptStatus, s.Status, s.NextAt = store.AttemptRead, store.StatusRead, time.Time{}
			}),
			p: rcpt(store.AttemptDelivered, "email"),
			want: unchanged(with(func(s *store.ReceiptState) {
				s.AttemptStatus, s.Status, s.NextAt = store.AttemptRead, store.StatusRead, time.Time{}
			}), false),
		},
		{
			name: "read after delivered raises the status",
			s: with(func(s *store.ReceiptState) {
				s.AttemptStatus, s.Status, s.NextAt = store.AttemptDelivered, store.StatusDelivered, time.Time{}
			}),
			p: rcpt(store.AttemptRead, "email"),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 2, Status: store.StatusRead, Changed: true},
				DeliveredAt: tAt, ReadAt: tAt, MessageChanged: true, StatusChanged: true,
				Status: store.StatusRead, Channel: "email",
			},
		},
		{
			name: "delivered on an earlier channel after another delivered: duplicate, late",
			s: with(func(s *store.ReceiptState) {
				s.Seq, s.Status, s.NextAt = 1, store.StatusDelivered, time.Time{}
			}),
			p: rcpt(store.AttemptDelivered, "sms"),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 1, Late: true, Status: store.StatusDelivered, Duplicate: true, Changed: true},
				DeliveredAt: tAt, MessageChanged: true, DuplicateSet: true,
				Status: store.StatusDelivered, Channel: "email", Duplicate: true,
			},
		},
		{
			name: "read on another channel of a delivered message: duplicate and read",
			s: with(func(s *store.ReceiptState) {
				s.Seq, s.Status, s.NextAt = 1, store.StatusDelivered, time.Time{}
			}),
			p: rcpt(store.AttemptRead, "sms"),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 1, Late: true, Status: store.StatusRead, Duplicate: true, Changed: true},
				DeliveredAt: tAt, ReadAt: tAt, MessageChanged: true, StatusChanged: true, DuplicateSet: true,
				Status: store.StatusRead, Channel: "email", Duplicate: true,
			},
		},
		{
			name: "a second duplicate sets nothing new",
			s: with(func(s *store.ReceiptState) {
				s.Seq, s.Status, s.Duplicate, s.NextAt = 1, store.StatusDelivered, true, time.Time{}
			}),
			p: rcpt(store.AttemptDelivered, "sms"),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 1, Late: true, Status: store.StatusDelivered, Duplicate: true, Changed: true},
				DeliveredAt: tAt, Status: store.StatusDelivered, Channel: "email", Duplicate: true,
			},
		},
		{
			name: "late delivery of a failed message beats failed",
			s: with(func(s *store.ReceiptState) {
				s.Seq, s.Status, s.Channel, s.LastError, s.NextAt = 1, store.StatusFailed, "email", "boom", time.Time{}
			}),
			p: rcpt(store.AttemptDelivered, "sms"),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 1, Late: true, Status: store.StatusDelivered, Changed: true},
				DeliveredAt: tAt, MessageChanged: true, StatusChanged: true,
				Status: store.StatusDelivered, Channel: "sms", LastError: "boom",
			},
		},
		{
			name: "delivered on an earlier attempt while the route waits on a later one",
			s:    with(func(s *store.ReceiptState) { s.Seq = 1 }),
			p:    rcpt(store.AttemptDelivered, "sms"),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 1, Late: true, Status: store.StatusDelivered, Changed: true},
				DeliveredAt: tAt, MessageChanged: true, StatusChanged: true,
				Status: store.StatusDelivered, Channel: "sms",
			},
		},
		{
			name: "undelivered without failover fails the message",
			s:    sending, p: undelivered(false, "unreachable"),
			want: store.ReceiptDecision{
				Result:       store.ReceiptResult{MessageID: "m", Seq: 2, Status: store.StatusFailed, Changed: true},
				AttemptError: "unreachable", MessageChanged: true, StatusChanged: true,
				Status: store.StatusFailed, Channel: "email", LastError: "unreachable",
			},
		},
		{
			name: "undelivered with failover makes it due now",
			s:    sending, p: undelivered(true, ""),
			want: store.ReceiptDecision{
				Result:         store.ReceiptResult{MessageID: "m", Seq: 2, Status: store.StatusSent, Changed: true},
				MessageChanged: true, DueNow: true,
				Status: store.StatusSent, Channel: "email", LastError: "undelivered", NextAt: tAt,
			},
		},
		{
			name: "undelivered on an earlier attempt only marks the attempt",
			s:    with(func(s *store.ReceiptState) { s.Seq = 1 }),
			p:    undelivered(true, "gone"),
			want: func() store.ReceiptDecision {
				d := unchanged(with(func(s *store.ReceiptState) { s.Seq = 1 }), true)
				d.Result.Changed, d.AttemptError = true, "gone"
				return d
			}(),
		},
		{
			name: "undelivered on a final message only marks the attempt",
			s: with(func(s *store.ReceiptState) {
				s.Status, s.NextAt = store.StatusExpired, time.Time{}
			}),
			p: undelivered(false, "gone"),
			want: func() store.ReceiptDecision {
				d := unchanged(with(func(s *store.ReceiptState) {
					s.Status, s.NextAt = store.StatusExpired, time.Time{}
				}), false)
				d.Result.Changed, d.AttemptError = true, "gone"
				return d
			}(),
		},
		{
			name: "undelivered after delivered is stale",
			s: with(func(s *store.ReceiptState) {
				s.AttemptStatus, s.Status, s.NextAt = store.AttemptDelivered, store.StatusDelivered, time.Time{}
			}),
			p: undelivered(true, "late"),
			want: unchanged(with(func(s *store.ReceiptState) {
				s.AttemptStatus, s.Status, s.NextAt = store.AttemptDelivered, store.StatusDelivered, time.Time{}
			}), false),
		},
		{
			name: "delivered with a read timeout: delivered, due at the read deadline",
			s:    with(func(s *store.ReceiptState) { s.Policy = "marketing" }),
			p:    readWait(rcpt(store.AttemptDelivered, "email")),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 2, Status: store.StatusDelivered, Changed: true},
				DeliveredAt: tAt, MessageChanged: true, StatusChanged: true,
				Status: store.StatusDelivered, Channel: "email", NextAt: tAt.Add(10 * time.Minute),
			},
		},
		{
			name: "a read timeout of another policy changes nothing",
			s:    with(func(s *store.ReceiptState) { s.Policy = "otp" }),
			p:    readWait(rcpt(store.AttemptDelivered, "email")),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 2, Status: store.StatusDelivered, Changed: true},
				DeliveredAt: tAt, MessageChanged: true, StatusChanged: true,
				Status: store.StatusDelivered, Channel: "email",
			},
		},
		{
			name: "read in time: read, no longer due",
			s: with(func(s *store.ReceiptState) {
				s.Policy, s.AttemptStatus, s.Status, s.NextAt = "marketing", store.AttemptDelivered, store.StatusDelivered, tNext
			}),
			p: readWait(rcpt(store.AttemptRead, "email")),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 2, Status: store.StatusRead, Changed: true},
				DeliveredAt: tAt, ReadAt: tAt, MessageChanged: true, StatusChanged: true,
				Status: store.StatusRead, Channel: "email",
			},
		},
		{
			// no_read moved the route on to sms, which delivered: the
			// first channel's read is late, and the message a duplicate.
			name: "read on the first channel after no_read moved on: duplicate",
			s: with(func(s *store.ReceiptState) {
				s.Policy, s.Seq, s.AttemptStatus, s.Status, s.Channel, s.NextAt = "marketing", 1, store.AttemptDelivered, store.StatusDelivered, "sms", time.Time{}
			}),
			p: readWait(rcpt(store.AttemptRead, "email")),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 1, Late: true, Status: store.StatusRead, Duplicate: true, Changed: true},
				DeliveredAt: tAt, ReadAt: tAt, MessageChanged: true, StatusChanged: true, DuplicateSet: true,
				Status: store.StatusRead, Channel: "sms", Duplicate: true,
			},
		},
		{
			name: "a late delivery with a read timeout waits for no read: the route moved on",
			s: with(func(s *store.ReceiptState) {
				s.Policy, s.Seq = "marketing", 1
			}),
			p: readWait(rcpt(store.AttemptDelivered, "sms")),
			want: store.ReceiptDecision{
				Result:      store.ReceiptResult{MessageID: "m", Seq: 1, Late: true, Status: store.StatusDelivered, Changed: true},
				DeliveredAt: tAt, MessageChanged: true, StatusChanged: true,
				Status: store.StatusDelivered, Channel: "sms",
			},
		},
		{
			name: "sent after a failed attempt marks it sent and nothing else",
			s:    with(func(s *store.ReceiptState) { s.AttemptStatus = store.AttemptFailed }),
			p:    rcpt(store.AttemptSent, "email"),
			want: func() store.ReceiptDecision {
				d := unchanged(sending, false)
				d.Result.Changed = true
				return d
			}(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, store.DecideReceipt(tc.s, tc.p, tAt))
		})
	}
}
