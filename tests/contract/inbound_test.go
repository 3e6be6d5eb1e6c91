package contract_test

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/inbound"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

func TestSqliteInboundStore(t *testing.T) {
	contract.TestInboundStore(t, func(t *testing.T) interface {
		inbound.Recorder
		inbound.Reader
	} {
		ctx := context.Background()
		db, err := sqlitedb.Open(ctx, t.TempDir(), sqlitedb.Options{Synchronous: "NORMAL"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := sqlitestore.NewInbound(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestDynamoInboundStore(t *testing.T) {
	contract.TestInboundStore(t, func(t *testing.T) interface {
		inbound.Recorder
		inbound.Reader
	} {
		b := awsfixture.New(t, awsfixture.Options{})
		return dynamo.NewInbound(b.Admin().DynamoDB, b.AttemptsTable)
	})
}
