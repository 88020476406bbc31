package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-gw/switchboard/store"
)

// list1MRows is the size of BenchmarkList1M's table.
const list1MRows = 1_000_000

// list1MStart is when the benchmark's first message was accepted; the
// messages spread over the 30 days after it.
var list1MStart = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

// BenchmarkList1M times one page (51 rows asked, 50 shown) of each dashboard
// search on a table of a million messages. It only runs under -bench (the
// table takes a minute or two to build); the file is kept in the temp dir,
// keyed by the schema, so later runs reuse it:
//
//	go test ./store/sqlite -run '^$' -bench List1M -benchtime 200x
//
// Value frequencies are chosen to include rare ones (a tag on 0.1% of
// messages, the telegram channel on 1%), where a newest-first walk that
// only filters would read most of the table.
func BenchmarkList1M(b *testing.B) {
	s := list1MStore(b)
	ctx := context.Background()
	day := func(d int) time.Time { return list1MStart.Add(time.Duration(d) * 24 * time.Hour) }
	cases := []struct {
		name string
		p    store.ListParams
	}{
		{"all", store.ListParams{}},
		{"to=one recipient", store.ListParams{To: "+15550012345"}},
		{"to=unknown", store.ListParams{To: "+19999999999"}},
		{"to=email", store.ListParams{To: "user12344@example.com"}},
		{"status=failed", store.ListParams{Status: store.StatusFailed}},
		{"status=expired", store.ListParams{Status: store.StatusExpired}},
		{"status=delivered", store.ListParams{Status: store.StatusDelivered}},
		{"status=sent", store.ListParams{Status: store.StatusSent}},
		{"channel=sms", store.ListParams{Channel: "sms"}},
		{"channel=telegram (1%)", store.ListParams{Channel: "telegram"}},
		{"policy=otp", store.ListParams{Policy: "otp"}},
		{"policy=marketing (5%)", store.ListParams{Policy: "marketing"}},
		{"tag=otp", store.ListParams{Tag: "otp"}},
		{"tag=vip (0.1%)", store.ListParams{Tag: "vip"}},
		{"tag=unknown", store.ListParams{Tag: "nope"}},
		{"since+until (one day)", store.ListParams{Since: day(10), Until: day(11)}},
		{"until (20 days ago)", store.ListParams{Until: day(10)}},
		{"to+range", store.ListParams{To: "+15550012345", Since: day(0), Until: day(15)}},
		{"tag+range", store.ListParams{Tag: "vip", Since: day(10), Until: day(20)}},
		{"status=failed+range", store.ListParams{Status: store.StatusFailed, Since: day(10), Until: day(11)}},
		{"channel=telegram+range (1 day)", store.ListParams{Channel: "telegram", Since: day(10), Until: day(11)}},
		{"tag+to", store.ListParams{Tag: "otp", To: "+15550012345"}},
		// The worst case: a filter with no index that matches nothing
		// (the status/channel/policy indexes were left out to keep writes
		// lean: see the schema). A page looks at the newest 20,000
		// messages at most, then answers with a cursor to look further.
		{"worst: channel=unused (first page)", store.ListParams{Channel: "pigeon"}},
		{"worst: channel=unused+range (1 day)", store.ListParams{Channel: "pigeon", Since: day(10), Until: day(11)}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			p := tc.p
			p.Limit = 50
			var n int
			for b.Loop() {
				res, err := s.List(ctx, p)
				if err != nil {
					b.Fatal(err)
				}
				n = len(res.Messages)
			}
			b.ReportMetric(float64(n), "rows")
		})
	}
}

// list1MStore opens (building on first use) the million-message file.
func list1MStore(b *testing.B) *Store {
	b.Helper()
	schema, err := migrationFiles.ReadFile("migrations/0001_init.sql")
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(schema)
	path := filepath.Join(os.TempDir(), "switchboard-list1m-"+hex.EncodeToString(sum[:6])+".db")
	_, statErr := os.Stat(path)
	s, err := Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if statErr == nil {
		var n int
		if err := s.read.QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&n); err == nil && n == list1MRows {
			return s
		}
		b.Fatalf("%s exists but is incomplete: delete it", path)
	}
	start := time.Now()
	if err := fillList1M(b.Context(), s); err != nil {
		_ = s.Close()
		_ = os.Remove(path)
		b.Fatal(err)
	}
	b.Logf("built %s (%d messages) in %s", path, list1MRows, time.Since(start).Round(time.Second))
	return s
}

func fillList1M(ctx context.Context, s *Store) error {
	rnd := rand.New(rand.NewPCG(1, 2))
	conn := s.w.conn
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	stmt, err := conn.PrepareContext(ctx, `INSERT INTO messages (id, policy, route, to_phone, to_whatsapp, to_email, to_telegram,
		body, tags, status, channel, attempts, created_at, updated_at, next_at)
		VALUES (?, ?, '["whatsapp","sms","email"]', ?, ?, ?, ?, 'Your code is 123456', ?, ?, ?, 1, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	span := 30 * 24 * time.Hour
	pick := func(r float64, opts ...any) any { // opts: weight, value, weight, value, ...
		for i := 0; i+1 < len(opts); i += 2 {
			if r -= opts[i].(float64); r < 0 {
				return opts[i+1]
			}
		}
		return opts[len(opts)-1]
	}
	null := func(v string, ok bool) any {
		if ok {
			return v
		}
		return nil
	}
	for i := range list1MRows {
		at := list1MStart.Add(time.Duration(i) * (span / list1MRows))
		u := uuid.Must(uuid.NewV7())
		ms := at.UnixMilli()
		for j := 5; j >= 0; j-- {
			u[j] = byte(ms)
			ms >>= 8
		}
		person := rnd.IntN(200_000)
		phone := fmt.Sprintf("+1555%07d", person)
		policy := pick(rnd.Float64(), 0.60, "otp", 0.35, "default", 0.05, "marketing").(string)
		tags := pick(rnd.Float64(), 0.60, `["otp"]`, 0.30, `["order","shop"]`, 0.001, `["vip"]`, `[]`).(string)
		channel := pick(rnd.Float64(), 0.80, "whatsapp", 0.15, "sms", 0.04, "email", "telegram").(string)
		status := pick(rnd.Float64(), 0.90, "delivered", 0.03, "read", 0.02, "failed", 0.005, "expired", "sent").(string)
		var next any
		if i >= list1MRows-2000 { // the newest are still in flight
			status, next = "sent", at.Add(time.Minute).UnixNano()
		}
		if _, err := stmt.ExecContext(ctx, u.String(), policy, phone, phone,
			null(fmt.Sprintf("user%d@example.com", person), person%2 == 0),
			null(fmt.Sprint(1_000_000+person), channel == "telegram"),
			tags, status, channel, at.UnixNano(), at.UnixNano(), next); err != nil {
			return err
		}
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
