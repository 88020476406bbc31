package sqlite

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A batch's inserts run after its other ops, in message id order; the
// other ops keep the order they were submitted in.
func TestOrderInserts(t *testing.T) {
	names := map[*op]string{}
	mk := func(name, insertID string) *op {
		o := &op{insertID: insertID}
		names[o] = name
		return o
	}
	batch := []*op{mk("insert c", "0193-c"), mk("advance 1", ""), mk("insert a", "0193-a"),
		mk("receipt", ""), mk("insert b", "0193-b"), mk("advance 2", "")}
	orderInserts(batch)
	var got []string
	for _, o := range batch {
		got = append(got, names[o])
	}
	require.Equal(t, []string{"advance 1", "receipt", "advance 2", "insert a", "insert b", "insert c"}, got)
}
