package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// TestSuppressionFilterSurvivesReopen: SuppressionsFor answers from the
// in-memory filter, so a reopened store must load it from the table, or
// every opt-out would be forgotten at a restart.
func TestSuppressionFilterSurvivesReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sb.db")
	s, err := Open(ctx, path)
	require.NoError(t, err)
	require.True(t, s.suppressed.Empty())
	require.NoError(t, s.Suppress(ctx, store.Suppression{Address: "+15550100001", Kind: "sms", Reason: "STOP", Source: store.SourceInbound}))
	require.NoError(t, s.Close())

	s, err = Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	got, err := s.SuppressionsFor(ctx, store.Recipient{Phone: "+15550100001"})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "STOP", got[0].Reason)

	removed, err := s.Unsuppress(ctx, "+15550100001", "sms")
	require.NoError(t, err)
	require.True(t, removed)
	require.True(t, s.suppressed.Empty(), "the last entry of the last address leaves the filter empty: lookups read nothing")
}

// BenchmarkSuppressionsFor is the dispatcher's per-message opt-out lookup:
// "empty" (no entry at all: one atomic load), "others_listed" (10,000
// entries, none of them the recipient's: a probe of the in-memory filter,
// no read) and "recipient_listed" (a read of the recipient's entries).
func BenchmarkSuppressionsFor(b *testing.B) {
	ctx := b.Context()
	to := store.Recipient{Phone: "+15559999999", WhatsApp: "+15559999999", Email: "ana@example.com"}
	for _, tc := range []struct {
		name   string
		others int
		listed bool
	}{{"empty", 0, false}, {"others_listed", 10000, false}, {"recipient_listed", 10000, true}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := Open(ctx, filepath.Join(b.TempDir(), "sb.db"))
			require.NoError(b, err)
			b.Cleanup(func() { _ = s.Close() })
			if tc.others > 0 {
				// One op: the filter is set as Suppress would.
				_, err := s.do(ctx, func(w *writer) (any, error) {
					for i := range tc.others {
						if _, err := w.conn.ExecContext(ctx, `INSERT INTO suppressions (address, kind, reason, source, created_at) VALUES (?, 'sms', '', 'api', 0)`,
							fmt.Sprintf("+1555%07d", i)); err != nil {
							return nil, err
						}
					}
					return nil, nil
				})
				require.NoError(b, err)
				require.NoError(b, s.loadSuppressionFilter(ctx))
			}
			if tc.listed {
				require.NoError(b, s.Suppress(ctx, store.Suppression{Address: to.Phone, Kind: "sms", Source: store.SourceAPI}))
			}
			b.ReportAllocs()
			for b.Loop() {
				got, err := s.SuppressionsFor(ctx, to)
				if err != nil || (len(got) == 1) != tc.listed {
					b.Fatalf("%v %v", got, err)
				}
			}
		})
	}
}
