package dynamo_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/tests/awsfixture"
)

// The contract suite covers paging, filters and cursors over the merged shards; these tests
// cover the layout: one hot webhook's attempts spread over every shard's key, a delivery's
// attempts stay together, and attempts written before the log was sharded are still read.

func TestAHotWebhooksAttemptsSpreadOverItsShards(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	db := b.Admin().DynamoDB
	log := dynamo.NewAttemptLog(db, b.AttemptsTable, 0)

	// Scenario: 640 deliveries to one webhook, two attempts each.
	const deliveries = 640
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var attempts []delivery.Attempt
	for i := range deliveries {
		for n := 1; n <= 2; n++ {
			attempts = append(attempts, delivery.Attempt{
				TenantID: "tenant-a", Kind: delivery.KindWebhook, WebhookID: "wh_hot", DeliveryID: fmt.Sprintf("msg_%04d", i),
				EventType: "task_submitted_event", Number: n, At: at.Add(time.Duration(2*i+n) * time.Millisecond),
				StatusCode: 200, Outcome: delivery.OutcomeSucceeded,
			})
		}
	}
	if err := log.RecordAttempts(ctx, attempts); err != nil {
		t.Fatal(err)
	}

	perKey := map[string]int{}
	deliveryKey := map[string]string{}
	for shard := range dynamo.LogShards {
		pk := "T#tenant-a#WH#wh_hot"
		if shard > 0 {
			pk += fmt.Sprintf("#S%d", shard)
		}
		items := queryPartition(ctx, t, db, b.AttemptsTable, pk)
		perKey[pk] = len(items)
		for _, it := range items {
			id := it["delivery_id"].(*types.AttributeValueMemberS).Value
			if other, ok := deliveryKey[id]; ok && other != pk {
				t.Fatalf("delivery %s has attempts under %s and %s", id, other, pk)
			}
			deliveryKey[id] = pk
		}
	}
	total := 0
	fair := 2 * deliveries / dynamo.LogShards
	for pk, n := range perKey {
		total += n
		if n == 0 || n > 2*fair {
			t.Errorf("%s holds %d attempts; a fair share is %d", pk, n, fair)
		}
	}
	if total != len(attempts) {
		t.Fatalf("the shards hold %d attempts, want %d", total, len(attempts))
	}
	page, err := log.AttemptsOfWebhook(ctx, "tenant-a", "wh_hot", delivery.AttemptQuery{Limit: 3})
	if err != nil || len(page.Items) != 3 || page.Items[0].DeliveryID != "msg_0639" || page.Items[0].Number != 2 {
		t.Fatalf("newest page %+v, %v; want msg_0639's second attempt first", page.Items, err)
	}
}

func TestAttemptsWrittenBeforeShardingAreStillRead(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	db := b.Admin().DynamoDB
	log := dynamo.NewAttemptLog(db, b.AttemptsTable, 0)

	// Scenario: three attempts under the unsharded key, as the log wrote them before, then
	// three new ones; the webhook's log and each delivery read all six in order.
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		when := at.Add(time.Duration(i) * time.Minute)
		id := fmt.Sprintf("old_%d", i)
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(b.AttemptsTable), Item: map[string]types.AttributeValue{
			"pk":           &types.AttributeValueMemberS{Value: "T#tenant-a#WH#wh_1"},
			"sk":           &types.AttributeValueMemberS{Value: when.Format("2006-01-02T15:04:05.000000000Z") + "#" + id + "#001"},
			"delivery_key": &types.AttributeValueMemberS{Value: "T#tenant-a#D#" + id},
			"attempt":      &types.AttributeValueMemberN{Value: "1"},
			"tenant_id":    &types.AttributeValueMemberS{Value: "tenant-a"},
			"webhook_id":   &types.AttributeValueMemberS{Value: "wh_1"},
			"delivery_id":  &types.AttributeValueMemberS{Value: id},
			"event_type":   &types.AttributeValueMemberS{Value: "task_submitted_event"},
			"at":           &types.AttributeValueMemberS{Value: when.Format(time.RFC3339Nano)},
			"status_code":  &types.AttributeValueMemberN{Value: "500"},
			"latency_ms":   &types.AttributeValueMemberN{Value: "3"},
			"outcome":      &types.AttributeValueMemberS{Value: string(delivery.OutcomeDeadLettered)},
			"expires_at":   &types.AttributeValueMemberN{Value: fmt.Sprint(when.Add(30 * 24 * time.Hour).Unix())},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	var fresh []delivery.Attempt
	for i := range 3 {
		fresh = append(fresh, delivery.Attempt{
			TenantID: "tenant-a", Kind: delivery.KindWebhook, WebhookID: "wh_1", DeliveryID: fmt.Sprintf("new_%d", i),
			EventType: "task_submitted_event", Number: 1, At: at.Add(time.Hour + time.Duration(i)*time.Minute),
			StatusCode: 200, Outcome: delivery.OutcomeSucceeded,
		})
	}
	if err := log.RecordAttempts(ctx, fresh); err != nil {
		t.Fatal(err)
	}

	var ids []string
	q := delivery.AttemptQuery{Limit: 4}
	for {
		page, err := log.AttemptsOfWebhook(ctx, "tenant-a", "wh_1", q)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Items {
			ids = append(ids, a.DeliveryID)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if got, want := fmt.Sprint(ids), "[new_2 new_1 new_0 old_2 old_1 old_0]"; got != want {
		t.Fatalf("the webhook's log reads %s, want %s", got, want)
	}
	old, err := log.AttemptsOfDelivery(ctx, "tenant-a", "old_1")
	if err != nil || len(old) != 1 || old[0].Outcome != delivery.OutcomeDeadLettered {
		t.Fatalf("old_1 reads %+v, %v", old, err)
	}
	failed, err := log.AttemptsOfWebhook(ctx, "tenant-a", "wh_1", delivery.AttemptQuery{Outcome: delivery.OutcomeDeadLettered})
	if err != nil || len(failed.Items) != 3 {
		t.Fatalf("dead-lettered attempts %+v, %v; want the three old ones", failed.Items, err)
	}
}

// TestAPageReadsAboutItsOwnSizeAcrossTheShards pages through a hot webhook's log, whole and
// filtered, and counts the items DynamoDB reads for it: each shard is read only as far as the
// page needs, not a page's worth from each of the sixteen.
func TestAPageReadsAboutItsOwnSizeAcrossTheShards(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	var scanned atomic.Int64
	db := dynamodb.New(b.Admin().DynamoDB.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("CountScanned", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				if q, ok := out.Result.(*dynamodb.QueryOutput); ok {
					scanned.Add(int64(q.ScannedCount))
				}
				return out, md, err
			}), middleware.After)
		})
	})
	log := dynamo.NewAttemptLog(db, b.AttemptsTable, 0)

	// Scenario: 1,200 deliveries to one webhook, every tenth dead-lettered.
	const deliveries = 1200
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var attempts []delivery.Attempt
	for i := range deliveries {
		outcome := delivery.OutcomeSucceeded
		if i%10 == 0 {
			outcome = delivery.OutcomeDeadLettered
		}
		attempts = append(attempts, delivery.Attempt{
			TenantID: "tenant-a", Kind: delivery.KindWebhook, WebhookID: "wh_hot", DeliveryID: fmt.Sprintf("msg_%04d", i),
			EventType: "task_submitted_event", Number: 1, At: at.Add(time.Duration(i) * time.Millisecond),
			StatusCode: 200, Outcome: outcome,
		})
	}
	if err := log.RecordAttempts(ctx, attempts); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		outcome delivery.Outcome
		every   int // the attempts it lists: every one, or every tenth
	}{{"whole log", "", 1}, {"dead-lettered only", delivery.OutcomeDeadLettered, 10}} {
		t.Run(tc.name, func(t *testing.T) {
			const limit = 50
			q := delivery.AttemptQuery{Limit: limit, Outcome: tc.outcome}
			var ids []string
			pages := 0
			scanned.Store(0)
			for {
				page, err := log.AttemptsOfWebhook(ctx, "tenant-a", "wh_hot", q)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, a := range page.Items {
					ids = append(ids, a.DeliveryID)
				}
				if page.NextCursor == "" {
					break
				}
				q.Cursor = page.NextCursor
			}
			var want []string
			for i := deliveries - 1; i >= 0; i-- {
				if i%tc.every == 0 {
					want = append(want, fmt.Sprintf("msg_%04d", i))
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(want) {
				t.Fatalf("paged %d attempts, want %d newest first, each once", len(ids), len(want))
			}
			// Reading limit+1 from every shard scanned 560 items a page of the whole log here,
			// and 700 of the filtered one.
			perPage := float64(scanned.Load()) / float64(pages)
			t.Logf("%d pages, %.0f items scanned a page for %d listed", pages, perPage, limit)
			if bound := 3.0 * float64(limit+1) * float64(tc.every); perPage > bound {
				t.Errorf("%.0f items scanned a page, want at most %.0f", perPage, bound)
			}
		})
	}
}

func queryPartition(ctx context.Context, t *testing.T, db *dynamodb.Client, table, pk string) []map[string]types.AttributeValue {
	t.Helper()
	var items []map[string]types.AttributeValue
	p := dynamodb.NewQueryPaginator(db, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, out.Items...)
	}
	return items
}
