package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/infra/idempotency"
)

// Idempotency keeps the API's Idempotency-Key records in the configuration table, under
// pk "T#<tenant>", sk "IDEM#<sha256 of the key>": shared by every Lambda instance, so a retry
// that lands on another instance still replays the first response. Records carry expires_at
// and are treated as absent once it passes, whether or not TTL has removed them yet.
type Idempotency struct {
	client *dynamodb.Client
	table  string
	ttl    time.Duration
	// doneTTL, when set, is how long a finished record lasts, apart from a claim's ttl.
	doneTTL time.Duration
	now     func() time.Time
}

// Idempotency implements the API's IdempotencyStore; the API function's wiring checks it. The
// assertion is not here: this package is linked into functions that serve no API.

// NewIdempotency returns the store over table, remembering keys for ttl.
func NewIdempotency(client *dynamodb.Client, table string, ttl time.Duration) *Idempotency {
	return &Idempotency{client: client, table: table, ttl: ttl, now: time.Now}
}

func idempotencyKey(tenant, key string) map[string]types.AttributeValue {
	sum := sha256.Sum256([]byte(key))
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: tenantKey(tenant)},
		"sk": &types.AttributeValueMemberS{Value: "IDEM#" + hex.EncodeToString(sum[:])},
	}
}

// Begin implements the API's IdempotencyStore with one conditional PutItem: the first request
// claims the key; any other reads what the first stored.
func (s *Idempotency) Begin(ctx context.Context, tenant, key, fingerprint string) (idempotency.StoredResponse, bool, error) {
	now := s.now()
	item := idempotencyKey(tenant, key)
	item["fingerprint"] = &types.AttributeValueMemberS{Value: fingerprint}
	item["expires_at"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(s.ttl).Unix(), 10)}
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.table,
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR expires_at < :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)}},
	})
	if err == nil {
		return idempotency.StoredResponse{}, true, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return idempotency.StoredResponse{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: idempotencyKey(tenant, key), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return idempotency.StoredResponse{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	return storedFrom(out.Item), false, nil
}

func storedFrom(item map[string]types.AttributeValue) idempotency.StoredResponse {
	var r idempotency.StoredResponse
	if v, ok := item["fingerprint"].(*types.AttributeValueMemberS); ok {
		r.Fingerprint = v.Value
	}
	if v, ok := item["status"].(*types.AttributeValueMemberN); ok {
		r.Status, _ = strconv.Atoi(v.Value)
		r.Done = true
	}
	if v, ok := item["header"].(*types.AttributeValueMemberS); ok {
		_ = json.Unmarshal([]byte(v.Value), &r.Header)
	}
	if v, ok := item["body"].(*types.AttributeValueMemberB); ok {
		r.Body = v.Value
	}
	return r
}

// Finish implements the API's IdempotencyStore.
func (s *Idempotency) Finish(ctx context.Context, tenant, key string, resp idempotency.StoredResponse) error {
	header, err := json.Marshal(resp.Header)
	if err != nil {
		return fmt.Errorf("encode stored response headers: %w", err)
	}
	item := idempotencyKey(tenant, key)
	item["fingerprint"] = &types.AttributeValueMemberS{Value: resp.Fingerprint}
	item["status"] = &types.AttributeValueMemberN{Value: strconv.Itoa(resp.Status)}
	item["header"] = &types.AttributeValueMemberS{Value: string(header)}
	// A nil binary value is no value at all to DynamoDB, which refuses the whole item: a
	// claim's record (a Slack post, a digest email) has no body.
	if len(resp.Body) > 0 {
		item["body"] = &types.AttributeValueMemberB{Value: resp.Body}
	}
	item["expires_at"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(s.now().Add(s.finishedTTL()).Unix(), 10)}
	if _, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item}); err != nil {
		return fmt.Errorf("store idempotent response: %w", err)
	}
	return nil
}

// Abandon implements the API's IdempotencyStore.
func (s *Idempotency) Abandon(ctx context.Context, tenant, key string) error {
	if _, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: idempotencyKey(tenant, key)}); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// KeepDoneFor returns the store with finished records kept for d, while a claim not finished
// (its holder crashed) still lapses after the store's ttl: a short lease, a long memory.
func (s *Idempotency) KeepDoneFor(d time.Duration) *Idempotency {
	c := *s
	c.doneTTL = d
	return &c
}

func (s *Idempotency) finishedTTL() time.Duration {
	if s.doneTTL > 0 {
		return s.doneTTL
	}
	return s.ttl
}
