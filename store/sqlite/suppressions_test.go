package sqlite

import (
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
