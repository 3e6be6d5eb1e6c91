package contract_test

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/lambdafn/digestfn"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

func newSqliteDigestBackend(t *testing.T) contract.DigestBackend {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, t.TempDir(), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	schedules, err := sqlitestore.NewSchedules(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { schedules.Close() })
	activity, err := sqlitestore.NewActivity(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { activity.Close() })
	idem, err := sqlitestore.NewIdempotency(ctx, db, digestfn.ClaimLease)
	if err != nil {
		t.Fatal(err)
	}
	return contract.DigestBackend{Schedules: schedules, Activity: activity, Notifications: store, Idempotency: idem.KeepDoneFor(digestfn.SentMemory)}
}

func newDynamoDigestBackend(t *testing.T) contract.DigestBackend {
	b := awsfixture.New(t, awsfixture.Options{})
	db := b.Admin().DynamoDB
	return contract.DigestBackend{
		Schedules: dynamo.NewSchedules(db, b.WebhooksTable), Activity: dynamo.NewActivity(db, b.ActivityTable),
		Notifications: dynamo.NewWebhookStore(db, b.WebhooksTable), Idempotency: dynamo.NewIdempotency(db, b.AttemptsTable, digestfn.ClaimLease).KeepDoneFor(digestfn.SentMemory),
	}
}

func TestSqliteScheduleStore(t *testing.T) {
	contract.TestScheduleStore(t, func(t *testing.T) digest.ScheduleStore { return newSqliteDigestBackend(t).Schedules })
}

func TestDynamoScheduleStore(t *testing.T) {
	contract.TestScheduleStore(t, func(t *testing.T) digest.ScheduleStore { return newDynamoDigestBackend(t).Schedules })
}

func TestSqliteDispatcher(t *testing.T) { contract.TestDispatcher(t, newSqliteDigestBackend) }

func TestDynamoDispatcher(t *testing.T) { contract.TestDispatcher(t, newDynamoDigestBackend) }
