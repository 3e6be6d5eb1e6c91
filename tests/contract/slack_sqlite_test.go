package contract_test

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/tests/contract"
)

var _ contract.SlackChannelStore = (*sqlitestore.SlackChannels)(nil)

func TestSqliteSlackChannelStore(t *testing.T) {
	contract.TestSlackChannelStore(t, func(t *testing.T) contract.SlackChannelStore {
		ctx := context.Background()
		db, err := sqlitedb.Open(ctx, t.TempDir(), sqlitedb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := sqlitestore.NewSlackChannels(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
