package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/shared/delivery"
)

// RateLimiter is delivery.RateLimiter on items in the attempts table (pk
// T#<tenant>#RL#<webhook>[#S<shard>], sk RL): tat, the end of the slots handed out, in Unix
// nanoseconds, and expires_at, so that TTL removes the item of a webhook that stopped sending.
//
// DynamoDB cannot compute max(tat, now) in one update, so a reservation is one of two
// conditional updates: "add to a tat still in the future" when the webhook is busy, "start
// at now" when it is idle. The last outcome per item picks which to try first, so a
// steady stream costs one request per batch and a webhook's first batch after a pause two.
//
// A limit over shardRate a second is split over several items, each pacing its share, and a
// reservation takes a random one: one item at 5,000 a second would take a write per batch of
// a few jobs, over a partition's 1,000 a second. Each item hands out at most its share plus
// one batch in any second, so k items stay within k batches of the limit (2 % at 5,000/s);
// a limit of shardRate or less keeps one item and exact slots.
type RateLimiter struct {
	client *dynamodb.Client
	table  string

	mu   sync.Mutex
	busy map[rateLimitItem]bool
}

type rateLimitItem struct {
	ref   delivery.EndpointRef
	shard int
}

var _ delivery.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter keeps slots in table, the attempts table.
func NewRateLimiter(client *dynamodb.Client, table string) *RateLimiter {
	return &RateLimiter{client: client, table: table, busy: map[rateLimitItem]bool{}}
}

// shardRate is the most slots a second one rate-limit item hands out.
const shardRate = 500

// maxRateLimitShards bounds the items of one webhook: 16 pace 8,000 slots a second at
// shardRate each, and the highest limit, 10,000, at 625 each.
const maxRateLimitShards = 16

// rateLimitShards is how many items pace a limit whose slots are interval apart.
func rateLimitShards(interval time.Duration) int {
	if interval <= 0 {
		return 1
	}
	perSecond := float64(time.Second) / float64(interval)
	return min(maxRateLimitShards, max(1, int(math.Ceil(perSecond/shardRate))))
}

// rateLimitKey is the key of one item of ref's slots. Shard 0 has no suffix: the key a
// webhook's single item had before limits were split.
func rateLimitKey(ref delivery.EndpointRef, shard int) map[string]types.AttributeValue {
	return itemKey(shardKey("T#"+ref.TenantID+"#RL#"+ref.WebhookID, shard), "RL")
}

// rateLimitIdle is how long an idle webhook's item is kept after its last slot.
const rateLimitIdle = 24 * time.Hour

// maxRateLimitTries bounds the switching between the two updates under contention.
const maxRateLimitTries = 6

// Reserve implements delivery.RateLimiter.
func (l *RateLimiter) Reserve(ctx context.Context, ref delivery.EndpointRef, n int, interval time.Duration, now time.Time) (time.Time, error) {
	shards := rateLimitShards(interval)
	item := rateLimitItem{ref: ref, shard: rand.IntN(shards)}
	// The item paces its share of the limit: slots shards times interval apart. The caller
	// spaces its n jobs interval apart from the first, inside the span taken.
	span := time.Duration(n*shards) * interval
	key := rateLimitKey(ref, item.shard)
	l.mu.Lock()
	busy := l.busy[item]
	l.mu.Unlock()
	num := func(v int64) types.AttributeValue {
		return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	for range maxRateLimitTries {
		in := &dynamodb.UpdateItemInput{TableName: &l.table, Key: key, ReturnValues: types.ReturnValueUpdatedNew}
		if busy {
			in.UpdateExpression = aws.String("SET tat = tat + :span, expires_at = :exp")
			in.ConditionExpression = aws.String("tat > :now")
			in.ExpressionAttributeValues = map[string]types.AttributeValue{
				":span": num(int64(span)), ":now": num(now.UnixNano()),
				// Kept a day past the furthest slot it could now hold.
				":exp": num(now.Add(rateLimitIdle).Add(delivery.MaxVisibility).Unix()),
			}
		} else {
			in.UpdateExpression = aws.String("SET tat = :end, expires_at = :exp")
			in.ConditionExpression = aws.String("attribute_not_exists(tat) OR tat <= :now")
			in.ExpressionAttributeValues = map[string]types.AttributeValue{
				":end": num(now.Add(span).UnixNano()), ":now": num(now.UnixNano()),
				":exp": num(now.Add(span).Add(rateLimitIdle).Unix()),
			}
		}
		out, err := l.client.UpdateItem(ctx, in)
		var ccf *types.ConditionalCheckFailedException
		switch {
		case errors.As(err, &ccf):
			busy = !busy
			continue
		case err != nil:
			return time.Time{}, fmt.Errorf("reserve %d slots of webhook %s: %w", n, ref.WebhookID, err)
		}
		l.mu.Lock()
		l.busy[item] = true
		if len(l.busy) > 10_000 {
			clear(l.busy) // a hint only: forgetting it costs one extra request per webhook
		}
		l.mu.Unlock()
		if !busy {
			return now, nil
		}
		tat, ok := out.Attributes["tat"].(*types.AttributeValueMemberN)
		if !ok {
			return time.Time{}, fmt.Errorf("reserve slots of webhook %s: no tat in the answer", ref.WebhookID)
		}
		end, err := strconv.ParseInt(tat.Value, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("reserve slots of webhook %s: tat %q: %w", ref.WebhookID, tat.Value, err)
		}
		return time.Unix(0, end).Add(-span), nil
	}
	return time.Time{}, fmt.Errorf("reserve %d slots of webhook %s: still contended after %d tries", n, ref.WebhookID, maxRateLimitTries)
}
