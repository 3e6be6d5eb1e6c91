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
// a second, three times a webhook's attempts at 5,000 deliveries a second. A page costs a
// Query per shard, in parallel, and a second round for a few (see newestAcrossShards); pages
// are read by people and by recover, a thousand times less often than the log is written.
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

// newestAcrossShards returns the newest want items of the log under base, newest first. query
// reads one shard newest first: at least n items (fewer only where its key ends), older than
// olderThan when that is set, else from the caller's own cursor.
//
// Evenly spread ids put about want/LogShards of a page in each shard, so each shard is first
// read for a little more than its share, all in parallel. Then only the shards whose unread
// items could still be among the newest want are read on, with twice the reads each round:
// those not read to their end whose oldest item read is newer than the want-th newest read so
// far. A page then reads about want items in two rounds of Queries, where reading want from
// every shard read sixteen times that.
func newestAcrossShards[T any](ctx context.Context, base string, want int, query func(ctx context.Context, pk, olderThan string, n int) ([]T, error), sortKey func(T) string) ([]T, error) {
	type shard struct {
		items []T // read so far, newest first
		ended bool
	}
	shards := make([]shard, LogShards)
	pending := make([]int, LogShards)
	for i := range pending {
		pending[i] = i
	}
	n := want/LogShards + 2
	var merged []T
	for len(pending) > 0 {
		errs := make([]error, len(pending))
		var wg sync.WaitGroup
		for i, s := range pending {
			wg.Go(func() {
				var olderThan string
				if read := shards[s].items; len(read) > 0 {
					olderThan = sortKey(read[len(read)-1])
				}
				got, err := query(ctx, shardKey(base, s), olderThan, n)
				shards[s].items, shards[s].ended, errs[i] = append(shards[s].items, got...), len(got) < n, err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		merged = merged[:0]
		for _, sh := range shards {
			merged = append(merged, sh.items...)
		}
		slices.SortFunc(merged, func(a, b T) int { return strings.Compare(sortKey(b), sortKey(a)) })
		var cutoff string // the want-th newest read, once want are read
		if len(merged) >= want {
			cutoff = sortKey(merged[want-1])
		}
		pending = pending[:0]
		for s, sh := range shards {
			if !sh.ended && (cutoff == "" || sortKey(sh.items[len(sh.items)-1]) > cutoff) {
				pending = append(pending, s)
			}
		}
		n = min(2*n, want)
	}
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
