// Package sqlitedb opens the one SQLite database the single-machine runtime keeps its state
// in: configuration, delivery log and queues side by side, so one transaction can cover them
// and one file is all there is to back up. It uses modernc.org/sqlite, a pure-Go SQLite, so
// Herald builds and runs without cgo.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" driver
)

// FileName is the database file inside the data directory.
const FileName = "herald.db"

// Options tune durability.
type Options struct {
	// Synchronous is SQLite's synchronous pragma in WAL mode: "FULL" (the default) syncs
	// every commit but WriteUnsynced's, which the next synced one covers, so an accepted
	// event survives a power cut; "NORMAL" syncs at checkpoints only, which still survives a
	// killed process but may lose the last commits to a power cut.
	Synchronous string
}

const maxConns = 16

// ErrCorrupt means the database failed SQLite's integrity check.
var ErrCorrupt = errors.New("database is corrupt")

// Open opens (creating if needed) the database in dir, checks that it is intact and writable,
// and returns it. A corrupt file or a full disk is an error here, at start, not a loss later.
func Open(ctx context.Context, dir string, opts Options) (*sql.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	sync := strings.ToUpper(opts.Synchronous)
	switch sync {
	case "":
		sync = "FULL"
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("synchronous must be FULL or NORMAL, not %q", opts.Synchronous)
	}
	path := filepath.Join(dir, FileName)
	// The file holds signing secrets and payloads: only its owner may read it. SQLite gives
	// its -wal and -shm files the database file's permissions, so creating it 0600 covers all
	// three; a file an earlier version left readable by others is tightened.
	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	// busy_timeout: writers wait for each other instead of failing with SQLITE_BUSY; 5 s is far
	// above any transaction Herald runs. foreign_keys and WAL are per connection, so they go in
	// the DSN, which the driver applies to every connection it opens.
	// The path goes into a URI: '#' and '?' would end it early (t.TempDir() names contain '#'),
	// so they and '%' are escaped.
	escaped := strings.NewReplacer("%", "%25", "#", "%23", "?", "%3F").Replace(path)
	// journal_size_limit: after a checkpoint the WAL file is cut back to 64 MiB instead of
	// keeping the size of its largest burst forever.
	dsn := fmt.Sprintf("file:%s?_pragma=journal_mode(WAL)&_pragma=synchronous(%s)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)&_pragma=journal_size_limit(67108864)&_txlock=immediate", escaped, sync)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// database/sql keeps 2 idle connections by default: with a dozen pollers and request
	// handlers, connections were opened and closed continuously, each open re-running the
	// pragmas and re-preparing statements (15 % of CPU at 500 events/s). SQLite serialises
	// writers anyway; 16 connections let readers run beside the one writer.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := check(ctx, db, path); err != nil {
		db.Close()
		return nil, err
	}
	if err := incrementalVacuum(ctx, db, path); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return classify(fmt.Sprintf("open %s", path), err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("make %s readable by its owner only: %w", path, err)
		}
	}
	return nil
}

// incrementalVacuum makes the file one that Reclaim can shrink: SQLite keeps the pages of
// deleted rows for reuse and never gives them back unless auto_vacuum is INCREMENTAL, which
// a file only takes when it is created or rebuilt. A new file gets it before its first table;
// an older one is rebuilt once, at this start.
func incrementalVacuum(ctx context.Context, db *sql.DB, path string) error {
	const incremental = 2
	var mode int
	if err := db.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return classify(fmt.Sprintf("read auto_vacuum of %s", path), err)
	}
	if mode == incremental {
		return nil
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return classify(fmt.Sprintf("open %s", path), err)
	}
	defer conn.Close()
	for _, stmt := range []string{"PRAGMA auto_vacuum = INCREMENTAL", "VACUUM"} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return classify(fmt.Sprintf("%s on %s", stmt, path), err)
		}
	}
	return nil
}

// reclaimPages bounds one Reclaim: 4096 pages of 4 KiB is 16 MiB given back per call, short
// enough not to hold the write lock for long.
const reclaimPages = 4096

// Reclaim gives free pages back to the file system and cuts the WAL file back, after deletes
// (expired attempts, messages, keys) have freed them: with it the file stays the size of what
// is kept, not of the largest backlog it ever held. Callers run it periodically.
func Reclaim(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", reclaimPages)); err != nil {
		return fmt.Errorf("reclaim free pages: %w", err)
	}
	// TRUNCATE resets the WAL to zero bytes when no reader holds it; a busy result is not an
	// error, the next call tries again.
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("checkpoint the write-ahead log: %w", err)
	}
	return nil
}

func check(ctx context.Context, db *sql.DB, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var result string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&result); err != nil {
		return classify(fmt.Sprintf("check %s", path), err)
	}
	if result != "ok" {
		return fmt.Errorf("check %s: %s: %w; restore it from a backup or move it aside to start empty", path, result, ErrCorrupt)
	}
	// A write at start surfaces a full disk or a read-only file now, before any event is
	// accepted; SQLite reports either as an error, never as a silent drop.
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS herald_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT`); err != nil {
		return classify(fmt.Sprintf("write to %s", path), err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO herald_meta (key, value) VALUES ('last_start', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return classify(fmt.Sprintf("write to %s", path), err)
	}
	return nil
}

// Primary SQLite result codes (https://sqlite.org/rescode.html).
const (
	sqliteIOErr   = 10
	sqliteCorrupt = 11
	sqliteFull    = 13
	sqliteNotADB  = 26
)

// ErrStorage means the database file cannot be read or written: a full disk, an I/O error or
// missing permissions.
var ErrStorage = errors.New("cannot read or write the database (disk full, I/O error or permissions?)")

func classify(what string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteCorrupt, sqliteNotADB:
			return fmt.Errorf("%s: %w: %w; restore it from a backup or move it aside to start empty", what, ErrCorrupt, err)
		case sqliteIOErr, sqliteFull:
			return fmt.Errorf("%s: %w: %w", what, ErrStorage, err)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Migrate runs each statement of schema (separated by ";\n") in one transaction. Statements
// must be idempotent (CREATE ... IF NOT EXISTS) since every start runs them.
func Migrate(ctx context.Context, db *sql.DB, name, schema string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	defer tx.Rollback()
	for _, stmt := range strings.Split(schema, ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate %s: %w\n%s", name, err, stmt)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	return nil
}

// AddMissingColumns adds to table each column (a column definition, "name TYPE ...") that it
// lacks: a table created by an earlier Herald gains the columns added since, with their
// defaults, so an existing data directory keeps working. CREATE TABLE IF NOT EXISTS leaves
// such a table as it was; ALTER TABLE ADD COLUMN cannot say IF NOT EXISTS, hence the check.
func AddMissingColumns(ctx context.Context, db *sql.DB, table string, columns ...string) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return fmt.Errorf("read the columns of %s: %w", table, err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("read the columns of %s: %w", table, err)
		}
		have[name] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("read the columns of %s: %w", table, err)
	}
	if len(have) == 0 {
		return fmt.Errorf("add columns to %s: no such table", table)
	}
	for _, def := range columns {
		name, _, _ := strings.Cut(strings.TrimSpace(def), " ")
		if have[name] {
			continue
		}
		if _, err := db.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN `+def); err != nil {
			return fmt.Errorf("add column %s to %s: %w", name, table, err)
		}
	}
	return nil
}

// QueryPlan returns the detail lines of SQLite's plan for query (EXPLAIN QUERY PLAN), so that
// a test can hold a query to the index it was written for.
func QueryPlan(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return nil, fmt.Errorf("explain %q: %w", query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, fmt.Errorf("explain %q: %w", query, err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("explain %q: %w", query, err)
	}
	return plan, nil
}
