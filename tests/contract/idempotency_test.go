package contract_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/httpapi"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

func TestDynamoIdempotency(t *testing.T) {
	contract.TestIdempotencyStore(t, func(t *testing.T) httpapi.IdempotencyStore {
		b := awsfixture.New(t, awsfixture.Options{})
		return dynamo.NewIdempotency(b.Admin().DynamoDB, b.WebhooksTable, time.Hour)
	})
}

func TestSqliteIdempotency(t *testing.T) {
	contract.TestIdempotencyStore(t, func(t *testing.T) httpapi.IdempotencyStore {
		db, err := sqlitedb.Open(context.Background(), t.TempDir(), sqlitedb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := sqlitestore.NewIdempotency(context.Background(), db, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
