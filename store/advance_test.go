package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

func TestCheckTransition(t *testing.T) {
	now := func() time.Time { return tNext }
	att := func(seq int, st store.AttemptStatus) store.Attempt {
		return store.Attempt{Seq: seq, Channel: "sms", Status: st}
	}
	for _, tc := range []struct {
		name   string
		t      *store.Transition
		maxSeq int
		at     time.Time
		bad    bool
	}{
		{name: "nil", t: nil, bad: true},
		{name: "no message id", t: &store.Transition{Status: store.StatusSent}, bad: true},
		{name: "unknown status", t: &store.Transition{MessageID: "m", Status: "lost"}, bad: true},
		{name: "seq 0", t: &store.Transition{MessageID: "m", Attempts: []store.Attempt{att(0, store.AttemptSent)}}, bad: true},
		{name: "unknown attempt status", t: &store.Transition{MessageID: "m", Attempts: []store.Attempt{att(1, "maybe")}}, bad: true},
		{name: "no attempts, now defaulted", t: &store.Transition{MessageID: "m"}, at: tNext},
		{
			name: "highest seq, given now",
			t: &store.Transition{MessageID: "m", Status: store.StatusSent, Now: tAt,
				Attempts: []store.Attempt{att(3, store.AttemptFailed), att(5, store.AttemptSent), att(4, store.AttemptSkipped)}},
			maxSeq: 5, at: tAt,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			maxSeq, at, err := store.CheckTransition(tc.t, now)
			if tc.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.maxSeq, maxSeq)
			require.Equal(t, tc.at, at)
		})
	}
}

func TestDecideAdvance(t *testing.T) {
	held := func(st store.Status, attempts int) store.AdvanceState {
		return store.AdvanceState{Status: st, Owner: "me", Attempts: attempts}
	}
	tr := func(owner string, st store.Status, next time.Time) *store.Transition {
		return &store.Transition{MessageID: "m", Owner: owner, Status: st, NextAt: next}
	}
	fromDelivered := func(t *store.Transition) *store.Transition { t.ReadWait = true; return t }
	for _, tc := range []struct {
		name   string
		s      store.AdvanceState
		t      *store.Transition
		maxSeq int
		want   store.AdvanceDecision
		lost   bool
	}{
		{
			name: "from delivered: no_read moves on and the status drops to the next channel's",
			s:    held(store.StatusDelivered, 1), t: fromDelivered(tr("me", store.StatusSent, tNext)), maxSeq: 2,
			want: store.AdvanceDecision{Owned: true, Apply: true, Status: store.StatusSent, NextAt: tNext, Attempts: 2},
		},
		{
			name: "from delivered: still waiting for the read keeps it due",
			s:    held(store.StatusDelivered, 1), t: fromDelivered(tr("me", store.StatusDelivered, tNext)), maxSeq: 0,
			want: store.AdvanceDecision{Owned: true, Apply: true, Status: store.StatusDelivered, NextAt: tNext, Attempts: 1},
		},
		{
			name: "from delivered: read meanwhile wins",
			s:    held(store.StatusRead, 1), t: fromDelivered(tr("me", store.StatusSent, tNext)), maxSeq: 2,
			want: store.AdvanceDecision{Owned: true, Status: store.StatusRead, Attempts: 2},
		},
		{
			name: "delivered without ReadWait is final",
			s:    held(store.StatusDelivered, 1), t: tr("me", store.StatusSent, tNext), maxSeq: 2,
			want: store.AdvanceDecision{Owned: true, Status: store.StatusDelivered, Attempts: 2},
		},
		{
			name: "owned: the status moves forward, due at NextAt",
			s:    held(store.StatusQueued, 0), t: tr("me", store.StatusSending, tNext), maxSeq: 1,
			want: store.AdvanceDecision{Owned: true, Apply: true, Status: store.StatusSending, NextAt: tNext, Attempts: 1},
		},
		{
			name: "owned: a lower status keeps the stored one",
			s:    held(store.StatusSent, 2), t: tr("me", store.StatusSending, tNext), maxSeq: 2,
			want: store.AdvanceDecision{Owned: true, Apply: true, Status: store.StatusSent, NextAt: tNext, Attempts: 2},
		},
		{
			name: "owned: no status keeps the stored one",
			s:    held(store.StatusSending, 1), t: tr("me", "", tNext),
			want: store.AdvanceDecision{Owned: true, Apply: true, Status: store.StatusSending, NextAt: tNext, Attempts: 1},
		},
		{
			name: "owned: a final status is not due",
			s:    held(store.StatusSent, 3), t: tr("me", store.StatusFailed, tNext), maxSeq: 3,
			want: store.AdvanceDecision{Owned: true, Apply: true, Status: store.StatusFailed, Attempts: 3},
		},
		{
			name: "owned: zero NextAt is not due",
			s:    held(store.StatusSending, 1), t: tr("me", store.StatusSent, time.Time{}), maxSeq: 1,
			want: store.AdvanceDecision{Owned: true, Apply: true, Status: store.StatusSent, Attempts: 1},
		},
		{
			name: "owned but final meanwhile: left alone, lease dropped",
			s:    held(store.StatusDelivered, 2), t: tr("me", store.StatusSent, tNext), maxSeq: 3,
			want: store.AdvanceDecision{Owned: true, Status: store.StatusDelivered, Attempts: 3},
		},
		{
			name: "another owner: lease lost, attempts kept in step",
			s:    store.AdvanceState{Status: store.StatusSending, Owner: "them", Attempts: 1}, t: tr("me", store.StatusSent, tNext), maxSeq: 2,
			want: store.AdvanceDecision{Status: store.StatusSending, Attempts: 2}, lost: true,
		},
		{
			name: "released: lease lost",
			s:    store.AdvanceState{Status: store.StatusQueued, Attempts: 4}, t: tr("me", store.StatusSent, tNext), maxSeq: 2,
			want: store.AdvanceDecision{Status: store.StatusQueued, Attempts: 4}, lost: true,
		},
		{
			name: "no owner never holds a lease",
			s:    store.AdvanceState{Status: store.StatusQueued}, t: tr("", store.StatusSent, tNext),
			want: store.AdvanceDecision{Status: store.StatusQueued}, lost: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := store.DecideAdvance(tc.s, tc.t, tc.maxSeq)
			require.Equal(t, tc.want, d)
			if tc.lost {
				require.ErrorIs(t, d.Err(), store.ErrLeaseLost)
			} else {
				require.NoError(t, d.Err())
			}
		})
	}
}

func TestReportingAttempt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		atts    []store.Attempt
		seq     int
		channel string
	}{
		{name: "none"},
		{name: "one", atts: []store.Attempt{{Seq: 2, Channel: "sms"}}, seq: 2, channel: "sms"},
		{
			name: "the highest, whatever the order",
			atts: []store.Attempt{{Seq: 3, Channel: "sms"}, {Seq: 5, Channel: "email"}, {Seq: 4, Channel: "whatsapp"}},
			seq:  5, channel: "email",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq, channel, ok := store.ReportingAttempt(&store.Transition{Attempts: tc.atts})
			require.Equal(t, tc.seq, seq)
			require.Equal(t, tc.channel, channel)
			require.Equal(t, tc.seq > 0, ok)
		})
	}
}
