package contract_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/tests/contract"
)

var (
	_ contract.WebhookStore = (*sqlitestore.Store)(nil)
	_ contract.AttemptLog   = (*sqlitestore.Store)(nil)
)

// newSqliteStore opens a fresh database file per subtest, the way the single-machine runtime
// opens its own, so the contract runs against the real embedded store and not a fake.
func newSqliteStore(t *testing.T) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.New(context.Background(), newSqliteDB(t), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newSqliteDB opens a fresh database file, closed at the end of the test.
func newSqliteDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), t.TempDir(), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSqliteWebhookStore(t *testing.T) {
	contract.TestWebhookStore(t, func(t *testing.T) contract.WebhookStore { return newSqliteStore(t) })
}

func TestSqliteAttemptLog(t *testing.T) {
	contract.TestAttemptLog(t, func(t *testing.T) contract.AttemptLog { return newSqliteStore(t) })
}
