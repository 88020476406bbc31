package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// -pg-stats: the cluster runs with pg_stat_statements loaded, and after the
// load the bench prints the statements that took the database's time
// (execution only: parse, commit waits and client round trips are not in
// it), so a run says where PostgreSQL's share of a message goes.

const pgStatsSetting = "shared_preload_libraries=pg_stat_statements"

func pgStatsReset(ctx context.Context, dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, "SELECT pg_stat_statements_reset()")
	return err
}

func pgStatsPrint(ctx context.Context, dsn string, accepted int, w io.Writer) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var deadlocks, commits int64
	if err := db.QueryRowContext(ctx, `SELECT deadlocks, xact_commit FROM pg_stat_database
		WHERE datname = current_database()`).Scan(&deadlocks, &commits); err != nil {
		return err
	}
	fmt.Fprintf(w, "\npostgres: %d commits, %d deadlocks (whole run)\n", commits, deadlocks)
	// HOT updates write no index entry: how many of each table's updates
	// were HOT says whether its indexes cover the columns its writes change.
	trows, err := db.QueryContext(ctx, `SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del
		FROM pg_stat_user_tables WHERE n_tup_upd + n_tup_ins > 0 ORDER BY relname`)
	if err != nil {
		return err
	}
	for trows.Next() {
		var (
			rel                string
			ins, upd, hot, del int64
		)
		if err := trows.Scan(&rel, &ins, &upd, &hot, &del); err != nil {
			trows.Close()
			return err
		}
		fmt.Fprintf(w, "  %-16s %9d inserts %9d updates (%d HOT) %9d deletes\n", rel, ins, upd, hot, del)
	}
	trows.Close()
	if err := trows.Err(); err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, `SELECT calls, rows, total_exec_time, query FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT 15`)
	if err != nil {
		return err
	}
	defer rows.Close()
	fmt.Fprintf(w, "pg_stat_statements (execution time, whole run; %d accepted):\n", accepted)
	fmt.Fprintf(w, "%10s %10s %10s %9s  %s\n", "calls", "rows", "total ms", "us/msg", "query")
	for rows.Next() {
		var (
			calls, nrows int64
			total        float64
			q            string
		)
		if err := rows.Scan(&calls, &nrows, &total, &q); err != nil {
			return err
		}
		q = strings.Join(strings.Fields(q), " ")
		if len(q) > 90 {
			q = q[:90] + "..."
		}
		perMsg := 0.0
		if accepted > 0 {
			perMsg = total * 1000 / float64(accepted)
		}
		fmt.Fprintf(w, "%10d %10d %10.0f %9.1f  %s\n", calls, nrows, total, perMsg, q)
	}
	return rows.Err()
}

// pgBackendCPU sums the CPU time (user + system) the cluster's processes
// used so far: the backends serving the gateways' connections and the
// background processes (WAL writer, checkpointer), found in
// pg_stat_activity and read from /proc. Linux only; zero elsewhere.
// Backends that already exited are not counted, so it is read while the
// gateways still hold their connections.
func pgBackendCPU(ctx context.Context, dsn string) (time.Duration, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var total time.Duration
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return 0, err
		}
		total += procCPU(pid)
	}
	return total, rows.Err()
}

// procCPU reads a process's utime + stime from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}
