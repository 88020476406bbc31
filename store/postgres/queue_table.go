package postgres

// message_queue (migration 0012) is the due index: a row per message that
// is not final, keyed by when Claim may take it. The trigger
// messages_queue_update keeps it in step with every update of a message;
// Enqueue, the only writer that inserts messages, adds the rows itself, in
// the INSERT's statement (a statement trigger with a transition table cost
// 6% of the database's CPU in the ingest bench).

// queueKeySQL is a message's key in message_queue: next_at, or the end of
// its lease when it is leased past next_at (as the trigger computes it).
const queueKeySQL = `CASE WHEN lease_owner <> '' AND lease_until > next_at THEN lease_until ELSE next_at END`

// withQueueRows wraps insert, an INSERT INTO messages without RETURNING,
// so that the rows it inserts that are not final get their queue rows in
// the same statement. The statement returns the inserted ids (its command
// tag counts them).
func withQueueRows(insert string) string {
	return `WITH ins AS (` + insert + ` RETURNING id, status, next_at, lease_owner, lease_until),
	q AS (INSERT INTO message_queue (id, next_at)
		SELECT id, ` + queueKeySQL + ` FROM ins WHERE status IN ` + notFinal + `)
	SELECT id FROM ins`
}
