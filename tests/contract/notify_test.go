package contract_test

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

func TestSqliteMailLineStore(t *testing.T) {
	contract.TestMailLineStore(t, func(t *testing.T) mailbatch.Store { return newSqliteMailLines(t) })
}

func TestDynamoMailLineStore(t *testing.T) {
	contract.TestMailLineStore(t, newDynamoMailLines)
}

func newSqliteMailLines(t *testing.T) *sqlitestore.MailLines {
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
}

func newDynamoMailLines(t *testing.T) mailbatch.Store {
	b := awsfixture.New(t, awsfixture.Options{})
	return dynamo.NewMailLines(b.Admin().DynamoDB, b.MailTable)
}

func TestSqliteMailer(t *testing.T) {
	contract.TestMailer(t, func(t *testing.T) mailbatch.Store { return newSqliteMailLines(t) })
}

func TestDynamoMailer(t *testing.T) {
	contract.TestMailer(t, newDynamoMailLines)
}

func TestSqliteActivityStore(t *testing.T) {
	contract.TestActivityStore(t, func(t *testing.T) digest.ActivityStore {
		ctx := context.Background()
		db, err := sqlitedb.Open(ctx, t.TempDir(), sqlitedb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := sqlitestore.NewActivity(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestDynamoActivityStore(t *testing.T) {
	contract.TestActivityStore(t, func(t *testing.T) digest.ActivityStore {
		b := awsfixture.New(t, awsfixture.Options{})
		return dynamo.NewActivity(b.Admin().DynamoDB, b.ActivityTable)
	})
}
