package sqlitedb_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"

	"github.com/heraldhq/herald/infra/sqlitedb"
)

// BenchmarkWrite compares, with each durability setting and 1 to 32 concurrent writers, a
// writer's own transaction (BeginTx and Commit: one sync each with FULL) with sqlitedb.Write,
// which commits the writers waiting at the same moment together. Each write inserts one
// row into a table with an index, about the size of a queue message. It reports writes/s.
func BenchmarkWrite(b *testing.B) {
	for _, sync := range []string{"NORMAL", "FULL"} {
		for _, writers := range []int{1, 8, 32} {
			for _, grouped := range []bool{false, true} {
				name := fmt.Sprintf("synchronous=%s/writers=%d/own-transaction", sync, writers)
				if grouped {
					name = fmt.Sprintf("synchronous=%s/writers=%d/group-commit", sync, writers)
				}
				b.Run(name, func(b *testing.B) { benchWrite(b, sync, writers, grouped) })
			}
		}
	}
}

func benchWrite(b *testing.B, synchronous string, writers int, grouped bool) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, b.TempDir(), sqlitedb.Options{Synchronous: synchronous})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := sqlitedb.Migrate(ctx, db, "bench", "CREATE TABLE IF NOT EXISTS m (seq INTEGER PRIMARY KEY, q TEXT, body BLOB, at INTEGER);\nCREATE INDEX IF NOT EXISTS m_by_at ON m (q, at)"); err != nil {
		b.Fatal(err)
	}
	insert := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO m (q, body, at) VALUES ('q', randomblob(300), random())")
		return err
	}
	var next sync.Mutex
	n := 0
	take := func() bool {
		next.Lock()
		defer next.Unlock()
		n++
		return n <= b.N
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for take() {
				var err error
				if grouped {
					err = sqlitedb.Write(ctx, db, insert)
				} else {
					err = ownTransaction(ctx, db, insert)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

func ownTransaction(ctx context.Context, db *sql.DB, fn func(context.Context, *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}
