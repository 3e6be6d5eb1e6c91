package contract_test

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

func TestSqliteMailLineStore(t *testing.T) {
	contract.TestMailLineStore(t, func(t *testing.T) mailbatch.Store {
		ctx := context.Background()
		db, err := sqlitedb.Open(ctx, t.TempDir(), sqlitedb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := sqlitestore.NewMailLines(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestDynamoMailLineStore(t *testing.T) {
	contract.TestMailLineStore(t, func(t *testing.T) mailbatch.Store {
		b := awsfixture.New(t, awsfixture.Options{})
		return dynamo.NewMailLines(b.Admin().DynamoDB, b.MailTable)
	})
}
