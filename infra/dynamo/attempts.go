package dynamo

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/shared/delivery"
)

// Attempts table (keys mirror template.yaml):
//
//	pk = "T#<tenant>#WH#<webhook>[#S<shard>]"
//	sk = "<UTC time, fixed width>#<delivery id>#<attempt>"
//	                                 a webhook's attempts in time order, newest first on demand,
//	                                 spread over LogShards partition keys by delivery (shards.go)
//	GSI by_delivery: delivery_key = "T#<tenant>#D#<delivery id>", attempt
//	                                 one delivery with all its attempts
//	expires_at                       DynamoDB TTL, epoch seconds
//	payload                          the job's payload (binary), absent when not logged
//
// A webhook's page reads each of its shards backwards with Query (more than one per shard when
// an outcome filter thins it out) and merges them; a delivery's attempts are one Query of
// by_delivery. Nothing scans.
//
// DeliveryIndex is the name of the attempts table's GSI keyed by delivery.
const DeliveryIndex = "by_delivery"

// sortableTime has a fixed width so that string order is time order.
const sortableTime = "2006-01-02T15:04:05.000000000Z"

// DefaultAttemptRetention keeps attempts for 30 days, long enough to debug last month's
// incident and to recover failed deliveries after a long outage.
const DefaultAttemptRetention = 30 * 24 * time.Hour

// AttemptLog records delivery attempts in the attempts table.
type AttemptLog struct {
	client    *dynamodb.Client
	table     string
	retention time.Duration
}

var (
	_ delivery.AttemptLog    = (*AttemptLog)(nil)
	_ delivery.AttemptReader = (*AttemptLog)(nil)
)

// NewAttemptLog returns a log over table whose records expire after retention.
func NewAttemptLog(client *dynamodb.Client, table string, retention time.Duration) *AttemptLog {
	if retention <= 0 {
		retention = DefaultAttemptRetention
	}
	return &AttemptLog{client: client, table: table, retention: retention}
}

type attemptItem struct {
	PK            string `dynamodbav:"pk"`
	SK            string `dynamodbav:"sk"`
	DeliveryKey   string `dynamodbav:"delivery_key"`
	Attempt       int    `dynamodbav:"attempt"`
	TenantID      string `dynamodbav:"tenant_id"`
	Kind          string `dynamodbav:"kind,omitempty"`
	OwnerID       string `dynamodbav:"owner_id,omitempty"`
	WebhookID     string `dynamodbav:"webhook_id"`
	DeliveryID    string `dynamodbav:"delivery_id"`
	EventType     string `dynamodbav:"event_type"`
	At            string `dynamodbav:"at"`
	StatusCode    int    `dynamodbav:"status_code"`
	LatencyMS     int64  `dynamodbav:"latency_ms"`
	ErrorClass    string `dynamodbav:"error_class,omitempty"`
	Snippet       string `dynamodbav:"response_snippet,omitempty"`
	Outcome       string `dynamodbav:"outcome"`
	NextAttemptAt string `dynamodbav:"next_attempt_at,omitempty"`
	ExpiresAt     int64  `dynamodbav:"expires_at"`
	// Payload is a binary attribute, so it reads back byte for byte (a string attribute would
	// have to be valid UTF-8).
	Payload []byte `dynamodbav:"payload,omitempty"`
}

// attemptsPartition is the key under which a webhook's attempts are sharded.
func attemptsPartition(tenant, webhookID string) string { return "T#" + tenant + "#WH#" + webhookID }

func deliveryKey(tenant, deliveryID string) string { return "T#" + tenant + "#D#" + deliveryID }

// sortKey is an attempt's place in its webhook's partition: time order, then delivery, then
// attempt number.
func sortKey(k delivery.AttemptKey) string {
	return k.At.UTC().Format(sortableTime) + "#" + k.DeliveryID + "#" + fmt.Sprintf("%03d", k.Number)
}

// batchWriteLimit is DynamoDB's BatchWriteItem maximum.
const batchWriteLimit = 25

// RecordAttempts implements delivery.AttemptLog: one BatchWriteItem per 25 attempts, which is
// what keeps the log at a fraction of a request per delivery.
func (l *AttemptLog) RecordAttempts(ctx context.Context, attempts []delivery.Attempt) error {
	writes := make([]types.WriteRequest, 0, len(attempts))
	for _, a := range attempts {
		item, err := attributevalue.MarshalMap(l.toItem(a))
		if err != nil {
			return fmt.Errorf("marshal attempt %d of %s: %w", a.Number, a.DeliveryID, err)
		}
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	if err := writeBatches(ctx, l.client, l.table, writes); err != nil {
		return fmt.Errorf("record %d attempts: %w", len(attempts), err)
	}
	return nil
}

func (l *AttemptLog) toItem(a delivery.Attempt) attemptItem {
	it := attemptItem{
		// A delivery's attempts share a shard; its history is read through by_delivery anyway.
		PK:          shardKey(attemptsPartition(a.TenantID, a.WebhookID), shardOf(a.DeliveryID)),
		SK:          sortKey(a.Key()),
		DeliveryKey: deliveryKey(a.TenantID, a.DeliveryID),
		Attempt:     a.Number, TenantID: a.TenantID, Kind: string(a.Kind), OwnerID: a.OwnerID, WebhookID: a.WebhookID,
		DeliveryID: a.DeliveryID,
		EventType:  a.EventType, At: a.At.UTC().Format(time.RFC3339Nano), StatusCode: a.StatusCode,
		LatencyMS: a.Latency.Milliseconds(), ErrorClass: string(a.ErrorClass), Snippet: a.ResponseSnippet,
		Outcome: string(a.Outcome), ExpiresAt: a.At.Add(l.retention).Unix(), Payload: a.Payload,
	}
	if !a.NextAttemptAt.IsZero() {
		it.NextAttemptAt = a.NextAttemptAt.UTC().Format(time.RFC3339Nano)
	}
	return it
}

// AttemptsOfDelivery returns every recorded attempt of one delivery in time order: attempt
// order, each redelivery's attempts (numbered from 1 again) after the earlier ones.
func (l *AttemptLog) AttemptsOfDelivery(ctx context.Context, tenant, deliveryID string) ([]delivery.Attempt, error) {
	items, err := queryAll[attemptItem](ctx, l.client, &dynamodb.QueryInput{
		TableName:              &l.table,
		IndexName:              aws.String(DeliveryIndex),
		KeyConditionExpression: aws.String("delivery_key = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":k": &types.AttributeValueMemberS{Value: deliveryKey(tenant, deliveryID)},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("query attempts of delivery %s: %w", deliveryID, err)
	}
	var out []delivery.Attempt
	for _, it := range items {
		out = append(out, fromAttemptItem(it))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].Number < out[j].Number
	})
	return out, nil
}

func fromAttemptItem(it attemptItem) delivery.Attempt {
	at, _ := time.Parse(time.RFC3339Nano, it.At)
	next, _ := time.Parse(time.RFC3339Nano, it.NextAttemptAt)
	return delivery.Attempt{
		TenantID: it.TenantID, Kind: delivery.Kind(it.Kind), OwnerID: it.OwnerID, WebhookID: it.WebhookID,
		DeliveryID: it.DeliveryID, EventType: it.EventType, Number: it.Attempt, At: at, StatusCode: it.StatusCode, Latency: time.Duration(it.LatencyMS) * time.Millisecond,
		ErrorClass: delivery.Class(it.ErrorClass), ResponseSnippet: it.Snippet, Outcome: delivery.Outcome(it.Outcome),
		NextAttemptAt: next, Payload: it.Payload,
	}
}

// maxQueryItems is the most items one Query of a filtered listing evaluates. DynamoDB applies
// Limit before the filter, so a filtered page grows its reads from the page size, doubling up
// to this: a dense filter costs about one page of reads, a sparse one few round trips (a Query
// returns at most 1 MB anyway, about 600 attempts with their payloads).
const maxQueryItems = 1000

// AttemptsOfWebhook returns one page of a webhook's attempts, newest first, with Query only:
// each shard read backwards from the cursor, Since and the cursor as key conditions and the
// outcome as a filter, and the shards merged (newestAcrossShards reads each only as far as the
// page needs). It reads limit+1 so that a cursor is returned only when more follow.
func (l *AttemptLog) AttemptsOfWebhook(ctx context.Context, tenant, webhookID string, q delivery.AttemptQuery) (delivery.AttemptPage, error) {
	limit, after, err := q.Resolve(tenant, webhookID)
	if err != nil {
		return delivery.AttemptPage{}, fmt.Errorf("list attempts of webhook %s: %w", webhookID, err)
	}
	var since, before string
	if !q.Since.IsZero() {
		// A key starts with its fixed-width time, so every key of an attempt at or after Since
		// sorts at or after Since's own text.
		since = q.Since.UTC().Format(sortableTime)
	}
	if after != nil {
		before = sortKey(*after)
		if since != "" && before < since {
			// Nothing is older than the cursor and as recent as Since.
			return delivery.AttemptPage{}, nil
		}
	}
	want := limit + 1
	merged, err := newestAcrossShards(ctx, attemptsPartition(tenant, webhookID), want, func(ctx context.Context, pk, olderThan string, n int) ([]attemptItem, error) {
		return l.readShard(ctx, pk, since, cmp.Or(olderThan, before), q.Outcome, n)
	}, func(it attemptItem) string { return it.SK })
	if err != nil {
		return delivery.AttemptPage{}, fmt.Errorf("query attempts of webhook %s: %w", webhookID, err)
	}
	items := make([]delivery.Attempt, 0, len(merged))
	for _, it := range merged {
		items = append(items, fromAttemptItem(it))
	}
	if len(items) <= limit {
		return delivery.AttemptPage{Items: items}, nil
	}
	return delivery.AttemptPage{Items: items[:limit], NextCursor: delivery.NextCursor(tenant, webhookID, items[limit-1])}, nil
}

// readShard returns up to want attempts of one shard, newest first: those at or after since
// and before before (each when set) with outcome (when set).
func (l *AttemptLog) readShard(ctx context.Context, pk, since, before string, outcome delivery.Outcome, want int) ([]attemptItem, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &l.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ScanIndexForward:          aws.Bool(false),
	}
	// The cursor is a key condition rather than an ExclusiveStartKey: it names an attempt of
	// one shard only, and DynamoDB defines a start key as one it returned.
	switch {
	case since != "" && before != "":
		// BETWEEN includes the cursor's own attempt; it is dropped below.
		in.KeyConditionExpression = aws.String("pk = :pk AND sk BETWEEN :since AND :before")
	case since != "":
		in.KeyConditionExpression = aws.String("pk = :pk AND sk >= :since")
	case before != "":
		in.KeyConditionExpression = aws.String("pk = :pk AND sk < :before")
	}
	if since != "" {
		in.ExpressionAttributeValues[":since"] = &types.AttributeValueMemberS{Value: since}
	}
	if before != "" {
		in.ExpressionAttributeValues[":before"] = &types.AttributeValueMemberS{Value: before}
	}
	if outcome != "" {
		in.FilterExpression = aws.String("#outcome = :outcome")
		in.ExpressionAttributeNames = map[string]string{"#outcome": "outcome"}
		in.ExpressionAttributeValues[":outcome"] = &types.AttributeValueMemberS{Value: string(outcome)}
	}
	items, err := queryNewest(ctx, l.client, in, want, func(it attemptItem) bool { return it.SK != before })
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", pk, err)
	}
	return items, nil
}
