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
	// every commit, so an accepted event survives a power cut; "NORMAL" syncs at checkpoints
	// only, which still survives a killed process but may lose the last commits to a power
	// cut.
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
	// busy_timeout: writers wait for each other instead of failing with SQLITE_BUSY; 5 s is far
	// above any transaction Herald runs. foreign_keys and WAL are per connection, so they go in
	// the DSN, which the driver applies to every connection it opens.
	// The path goes into a URI: '#' and '?' would end it early (t.TempDir() names contain '#'),
	// so they and '%' are escaped.
	escaped := strings.NewReplacer("%", "%25", "#", "%23", "?", "%3F").Replace(path)
	dsn := fmt.Sprintf("file:%s?_pragma=journal_mode(WAL)&_pragma=synchronous(%s)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)&_txlock=immediate", escaped, sync)
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
	return db, nil
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
