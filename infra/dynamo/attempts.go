package dynamo

import (
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
//	pk = "T#<tenant>#WH#<webhook>"  sk = "<UTC time, fixed width>#<delivery id>#<attempt>"
//	                                 a webhook's attempts in time order, newest first on demand
//	GSI by_delivery: delivery_key = "T#<tenant>#D#<delivery id>", attempt
//	                                 one delivery with all its attempts
//	expires_at                       DynamoDB TTL, epoch seconds
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

var _ delivery.AttemptLog = (*AttemptLog)(nil)

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
}

func deliveryKey(tenant, deliveryID string) string { return "T#" + tenant + "#D#" + deliveryID }

// batchWriteLimit is DynamoDB's BatchWriteItem maximum.
const batchWriteLimit = 25

// RecordAttempts implements delivery.AttemptLog: one BatchWriteItem per 25 attempts, which is
// what keeps the log at a fraction of a request per delivery.
func (l *AttemptLog) RecordAttempts(ctx context.Context, attempts []delivery.Attempt) error {
	for start := 0; start < len(attempts); start += batchWriteLimit {
		chunk := attempts[start:min(start+batchWriteLimit, len(attempts))]
		writes := make([]types.WriteRequest, 0, len(chunk))
		for _, a := range chunk {
			item, err := attributevalue.MarshalMap(l.toItem(a))
			if err != nil {
				return fmt.Errorf("marshal attempt %d of %s: %w", a.Number, a.DeliveryID, err)
			}
			writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
		request := map[string][]types.WriteRequest{l.table: writes}
		for round := 0; len(request) > 0; round++ {
			if round == maxUnprocessedRounds {
				return fmt.Errorf("record attempts: %d still unprocessed after %d rounds", len(request[l.table]), round)
			}
			if err := backoff(ctx, round); err != nil {
				return err
			}
			out, err := l.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: request})
			if err != nil {
				return fmt.Errorf("record %d attempts: %w", len(chunk), err)
			}
			request = out.UnprocessedItems
		}
	}
	return nil
}

func (l *AttemptLog) toItem(a delivery.Attempt) attemptItem {
	it := attemptItem{
		PK:          "T#" + a.TenantID + "#WH#" + a.WebhookID,
		SK:          a.At.UTC().Format(sortableTime) + "#" + a.DeliveryID + "#" + fmt.Sprintf("%03d", a.Number),
		DeliveryKey: deliveryKey(a.TenantID, a.DeliveryID),
		Attempt:     a.Number, TenantID: a.TenantID, WebhookID: a.WebhookID, DeliveryID: a.DeliveryID,
		EventType: a.EventType, At: a.At.UTC().Format(time.RFC3339Nano), StatusCode: a.StatusCode,
		LatencyMS: a.Latency.Milliseconds(), ErrorClass: string(a.ErrorClass), Snippet: a.ResponseSnippet,
		Outcome: string(a.Outcome), ExpiresAt: a.At.Add(l.retention).Unix(),
	}
	if !a.NextAttemptAt.IsZero() {
		it.NextAttemptAt = a.NextAttemptAt.UTC().Format(time.RFC3339Nano)
	}
	return it
}

// AttemptsOfDelivery returns every recorded attempt of one delivery, in attempt order.
func (l *AttemptLog) AttemptsOfDelivery(ctx context.Context, tenant, deliveryID string) ([]delivery.Attempt, error) {
	p := dynamodb.NewQueryPaginator(l.client, &dynamodb.QueryInput{
		TableName:              &l.table,
		IndexName:              aws.String(DeliveryIndex),
		KeyConditionExpression: aws.String("delivery_key = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":k": &types.AttributeValueMemberS{Value: deliveryKey(tenant, deliveryID)},
		},
	})
	var out []delivery.Attempt
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query attempts of delivery %s: %w", deliveryID, err)
		}
		var items []attemptItem
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return nil, fmt.Errorf("unmarshal attempts of delivery %s: %w", deliveryID, err)
		}
		for _, it := range items {
			out = append(out, fromAttemptItem(it))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

func fromAttemptItem(it attemptItem) delivery.Attempt {
	at, _ := time.Parse(time.RFC3339Nano, it.At)
	next, _ := time.Parse(time.RFC3339Nano, it.NextAttemptAt)
	return delivery.Attempt{
		TenantID: it.TenantID, WebhookID: it.WebhookID, DeliveryID: it.DeliveryID, EventType: it.EventType,
		Number: it.Attempt, At: at, StatusCode: it.StatusCode, Latency: time.Duration(it.LatencyMS) * time.Millisecond,
		ErrorClass: delivery.Class(it.ErrorClass), ResponseSnippet: it.Snippet, Outcome: delivery.Outcome(it.Outcome),
		NextAttemptAt: next,
	}
}
