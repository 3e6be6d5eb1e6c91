package contract_test

import (
	"context"
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
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, t.TempDir(), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSqliteWebhookStore(t *testing.T) {
	contract.TestWebhookStore(t, func(t *testing.T) contract.WebhookStore { return newSqliteStore(t) })
}

func TestSqliteAttemptLog(t *testing.T) {
	contract.TestAttemptLog(t, func(t *testing.T) contract.AttemptLog { return newSqliteStore(t) })
}
