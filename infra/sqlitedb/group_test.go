package sqlitedb_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
)

func openWithTable(t *testing.T, synchronous string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, t.TempDir(), sqlitedb.Options{Synchronous: synchronous})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := sqlitedb.Migrate(ctx, db, "test", "CREATE TABLE IF NOT EXISTS t (x INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	return db
}

func insert(xs ...int) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, x := range xs {
			if _, err := tx.ExecContext(ctx, "INSERT INTO t (x) VALUES (?)", x); err != nil {
				return err
			}
		}
		return nil
	}
}

func rows(t *testing.T, db *sql.DB) map[int]bool {
	t.Helper()
	rs, err := db.Query("SELECT x FROM t")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	got := map[int]bool{}
	for rs.Next() {
		var x int
		if err := rs.Scan(&x); err != nil {
			t.Fatal(err)
		}
		got[x] = true
	}
	return got
}

// Scenario: while a first writer holds the leader, three more queue up and are committed as
// one group; the one whose work fails gets its error and leaves nothing, even the row it
// wrote before failing, and the others' rows are committed.
func TestWriteFailureUndoesOnlyItsOwnWrites(t *testing.T) {
	t.Parallel()
	for _, synced := range []bool{true, false} {
		db := openWithTable(t, "FULL")
		write := sqlitedb.Write
		if !synced {
			write = sqlitedb.WriteUnsynced
		}
		ctx := context.Background()
		release := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := write(ctx, db, func(ctx context.Context, tx *sql.Tx) error {
				<-release
				return insert(1)(ctx, tx)
			}); err != nil {
				t.Error(err)
			}
		})
		time.Sleep(20 * time.Millisecond) // the first is the leader's, the others queue
		boom := errors.New("boom")
		errs := make([]error, 3)
		for i, fn := range []func(context.Context, *sql.Tx) error{
			insert(2),
			func(ctx context.Context, tx *sql.Tx) error {
				if err := insert(3)(ctx, tx); err != nil {
					return err
				}
				return boom
			},
			insert(4),
		} {
			wg.Go(func() { errs[i] = write(ctx, db, fn) })
		}
		time.Sleep(20 * time.Millisecond)
		close(release)
		wg.Wait()
		if errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] != nil {
			t.Fatalf("synced %v: errors %v, want nil, boom, nil", synced, errs)
		}
		if got, want := rows(t, db), map[int]bool{1: true, 2: true, 4: true}; len(got) != len(want) || !got[1] || !got[2] || !got[4] {
			t.Fatalf("synced %v: rows %v, want %v", synced, got, want)
		}
	}
}

// A duplicate key is an SQLite error inside one writer's work: the group goes on.
func TestWriteConstraintErrorIsTheWritersOwn(t *testing.T) {
	t.Parallel()
	db := openWithTable(t, "NORMAL")
	ctx := context.Background()
	if err := sqlitedb.Write(ctx, db, insert(1)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		x := 10 + i
		if i == 3 {
			x = 1 // taken
		}
		wg.Go(func() { errs[i] = sqlitedb.Write(ctx, db, insert(x)) })
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 3) {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if got := rows(t, db); len(got) != 8 {
		t.Fatalf("%d rows, want 8: %v", len(got), got)
	}
}

// A writer whose context ends while it waits behind another is not run at all.
func TestWriteCancelledWhileQueuedDoesNotRun(t *testing.T) {
	t.Parallel()
	db := openWithTable(t, "NORMAL")
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- sqlitedb.Write(context.Background(), db, func(ctx context.Context, tx *sql.Tx) error {
			<-release
			return insert(1)(ctx, tx)
		})
	}()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	ran := false
	err := sqlitedb.Write(ctx, db, func(ctx context.Context, tx *sql.Tx) error {
		ran = true
		return insert(2)(ctx, tx)
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Fatalf("error %v, ran %v; want the deadline and not run", err, ran)
	}
	if got := rows(t, db); len(got) != 1 || !got[1] {
		t.Fatalf("rows %v, want only 1", got)
	}
}

// WriteUnsynced relaxes the leader's connection to NORMAL for its group; every connection
// that goes back to the pool syncs again, or other writers' commits would silently not.
func TestWriteUnsyncedLeavesEveryConnectionAtFull(t *testing.T) {
	t.Parallel()
	db := openWithTable(t, "FULL")
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			write := sqlitedb.Write
			if i%3 != 0 {
				write = sqlitedb.WriteUnsynced
			}
			if err := write(ctx, db, insert(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Hold every connection of the pool at once, so that each is looked at.
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 16 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var level int
		if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
			t.Fatal(err)
		}
		if level != 2 {
			t.Fatalf("a pooled connection has synchronous=%d, want 2 (FULL)", level)
		}
	}
}

// A writer's panic, on the leader's goroutine, is that writer's error: its rows are undone,
// the others' committed, and the process goes on.
func TestWritePanicIsTheWritersOwnError(t *testing.T) {
	t.Parallel()
	db := openWithTable(t, "NORMAL")
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		fn := insert(20 + i)
		if i == 2 {
			fn = func(ctx context.Context, tx *sql.Tx) error {
				if err := insert(99)(ctx, tx); err != nil {
					return err
				}
				panic("broken writer")
			}
		}
		wg.Go(func() { errs[i] = sqlitedb.Write(ctx, db, fn) })
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 2) {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if got := rows(t, db); len(got) != 5 || got[99] {
		t.Fatalf("rows %v: want the five others', not the panicking writer's", got)
	}
	if err := sqlitedb.Write(ctx, db, insert(100)); err != nil {
		t.Fatalf("a write after the panic: %v", err)
	}
}
