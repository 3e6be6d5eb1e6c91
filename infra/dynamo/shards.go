package dynamo

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Write sharding: a partition key takes at most 1,000 write units a second, so a log that one
// hot webhook or tenant writes to thousands of times a second (attempts, inbound events) is
// spread over several keys, and read back by querying each and merging. Sort keys start with
// a fixed-width time, so string order is time order across shards too.

// LogShards is how many partition keys such a log is spread over: sixteen take 16,000 writes
// a second, three times a webhook's attempts at 5,000 deliveries a second. A page costs one
// Query per shard, in parallel; pages are read by people and by recover, a thousand times less
// often than the log is written.
const LogShards = 16

// shardKey is the partition key of one shard of the log under base. Shard 0 is base itself:
// the key every item had before the log was sharded, so those items are still read.
func shardKey(base string, shard int) string {
	if shard == 0 {
		return base
	}
	return base + "#S" + strconv.Itoa(shard)
}

// shardOf spreads ids evenly over the shards, always putting one id in the same one.
func shardOf(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % LogShards)
}

// newestAcrossShards returns the newest want items of the log under base, newest first: each
// shard's newest want (read by query from its key, in parallel) hold the log's newest want.
func newestAcrossShards[T any](ctx context.Context, base string, want int, query func(ctx context.Context, pk string) ([]T, error), sortKey func(T) string) ([]T, error) {
	shards := make([][]T, LogShards)
	errs := make([]error, LogShards)
	var wg sync.WaitGroup
	for shard := range LogShards {
		wg.Go(func() { shards[shard], errs[shard] = query(ctx, shardKey(base, shard)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	merged := slices.Concat(shards...)
	slices.SortFunc(merged, func(a, b T) int { return strings.Compare(sortKey(b), sortKey(a)) })
	return merged[:min(len(merged), want)], nil
}

// queryNewest runs in (a Query newest first) until it has want items that keep accepts or its
// key ends. A query with a filter grows its reads from want, doubling up to maxQueryItems,
// since DynamoDB applies Limit before the filter; one without reads what is still missing.
func queryNewest[T any](ctx context.Context, client *dynamodb.Client, in *dynamodb.QueryInput, want int, keep func(T) bool) ([]T, error) {
	read := want + 1 // room for an item keep drops
	var items []T
	for {
		in.Limit = aws.Int32(int32(read))
		out, err := client.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		var page []T
		if err := attributevalue.UnmarshalListOfMaps(out.Items, &page); err != nil {
			return nil, err
		}
		for _, it := range page {
			if keep(it) {
				items = append(items, it)
			}
		}
		if len(items) >= want || len(out.LastEvaluatedKey) == 0 {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		if in.FilterExpression == nil {
			read = want - len(items) + 1
		} else {
			read = min(2*read, maxQueryItems)
		}
	}
}
