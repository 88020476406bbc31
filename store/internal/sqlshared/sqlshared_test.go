package sqlshared

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSQL(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{NotFinal, "('queued', 'sending', 'sent')"},
		{StatusRank("m.status"), "(CASE m.status WHEN 'queued' THEN 0 WHEN 'sending' THEN 1 WHEN 'sent' THEN 2" +
			" WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 WHEN 'failed' THEN 5 WHEN 'expired' THEN 5 WHEN 'canceled' THEN 5 ELSE -1 END)"},
		{AttemptRank("status"), "(CASE status WHEN 'skipped' THEN 0 WHEN 'failed' THEN 0 WHEN 'sent' THEN 1" +
			" WHEN 'undelivered' THEN 2 WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 ELSE -1 END)"},
	} {
		require.Equal(t, tc.want, tc.got)
	}
}

func TestMessageColumnsOf(t *testing.T) {
	got := MessageColumnsOf("m")
	require.True(t, strings.HasPrefix(got, "m.id, m.idem_scope, m.idem_key, "), got)
	require.True(t, strings.HasSuffix(got, ", m.lease_owner, m.lease_until, m.html"), got)
	require.Equal(t, strings.Count(MessageColumns, ","), strings.Count(got, ","))
	require.NotContains(t, got, "\n")
	require.Len(t, MessageColumnNames, 29)
	require.Equal(t, "html", MessageColumnNames[28])
}
