package dynamo

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/shared/inbound"
)

// Inbound events live in the attempts table, which already expires what it holds:
//
//	pk = "T#<tenant>#IN[#S<shard>]"  sk = inbound.Key (fixed-width time, event id, router)
//
// sharded by event id (shards.go): a platform publishing thousands of transitions a second on
// stages without webhooks writes one record each, too many for one key. They carry no
// delivery_key, so the table's by_delivery index never sees them.

// Inbound is the record of inbound events over the attempts table.
type Inbound struct {
	client *dynamodb.Client
	table  string
}

var (
	_ inbound.Recorder = (*Inbound)(nil)
	_ inbound.Reader   = (*Inbound)(nil)
)

// NewInbound returns the record over table (the attempts table).
func NewInbound(client *dynamodb.Client, table string) *Inbound {
	return &Inbound{client: client, table: table}
}

type inboundItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	EventID     string `dynamodbav:"event_id"`
	Router      string `dynamodbav:"router"`
	DetailType  string `dynamodbav:"detail_type"`
	Source      string `dynamodbav:"source"`
	At          int64  `dynamodbav:"at"`
	Outcome     string `dynamodbav:"outcome"`
	Reason      string `dynamodbav:"reason,omitempty"`
	Detail      string `dynamodbav:"detail,omitempty"`
	ProjectHash string `dynamodbav:"project_hash,omitempty"`
	TaskID      string `dynamodbav:"task_id,omitempty"`
	Deliveries  int    `dynamodbav:"deliveries"`
	ExpiresAt   int64  `dynamodbav:"expires_at"`
}

func inboundPartition(tenant string) string { return tenantKey(tenant) + "#IN" }

// RecordInbound implements inbound.Recorder with one PutItem.
func (s *Inbound) RecordInbound(ctx context.Context, r inbound.Record) error {
	r = r.Bounded()
	item, err := attributevalue.MarshalMap(inboundItem{
		PK: shardKey(inboundPartition(r.TenantID), shardOf(r.EventID)), SK: r.Key(), EventID: r.EventID, Router: r.Router, DetailType: r.DetailType, Source: r.Source,
		At: r.At.UnixNano(), Outcome: string(r.Outcome), Reason: r.Reason, Detail: r.Detail, ProjectHash: r.ProjectHash, TaskID: r.TaskID,
		Deliveries: r.Deliveries, ExpiresAt: r.At.Add(inbound.Retention).Unix(),
	})
	if err != nil {
		return fmt.Errorf("marshal inbound event %s: %w", r.EventID, err)
	}
	if _, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item}); err != nil {
		return fmt.Errorf("record inbound event %s: %w", r.EventID, err)
	}
	return nil
}

// ListInbound implements inbound.Reader: each shard of the tenant's records read backwards
// from the cursor and merged, the outcome as a filter (a filtered page reads on, in growing
// pages, until it is full or the shard ends), and records past their retention that TTL has not
// removed yet left out.
func (s *Inbound) ListInbound(ctx context.Context, tenant string, q inbound.Query) (inbound.Page, error) {
	limit, err := q.Page.Size()
	if err != nil {
		return inbound.Page{}, err
	}
	var after string
	if q.Page.Cursor != "" {
		if after, err = inbound.After(tenant, q.Page.Cursor); err != nil {
			return inbound.Page{}, err
		}
	}
	want := limit + 1
	items, err := newestAcrossShards(ctx, inboundPartition(tenant), want, func(ctx context.Context, pk, olderThan string, n int) ([]inboundItem, error) {
		in := &dynamodb.QueryInput{
			TableName:              &s.table,
			KeyConditionExpression: aws.String("pk = :pk"),
			FilterExpression:       aws.String("expires_at > :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": stringValue(pk), ":now": numberValue(time.Now().Unix()),
			},
			ScanIndexForward: aws.Bool(false),
		}
		if q.Outcome != "" {
			in.FilterExpression = aws.String("expires_at > :now AND outcome = :outcome")
			in.ExpressionAttributeValues[":outcome"] = stringValue(string(q.Outcome))
		}
		if before := cmp.Or(olderThan, after); before != "" {
			// A key condition, not a start key: the cursor names a record of one shard only.
			in.KeyConditionExpression = aws.String("pk = :pk AND sk < :after")
			in.ExpressionAttributeValues[":after"] = stringValue(before)
		}
		return queryNewest(ctx, s.client, in, n, func(inboundItem) bool { return true })
	}, func(it inboundItem) string { return it.SK })
	if err != nil {
		return inbound.Page{}, fmt.Errorf("query inbound events: %w", err)
	}
	var res inbound.Page
	for i, it := range items {
		if i == limit {
			res.NextCursor = inbound.Cursor(tenant, items[limit-1].SK)
			break
		}
		res.Items = append(res.Items, inbound.Record{
			TenantID: tenant, EventID: it.EventID, Router: it.Router, DetailType: it.DetailType, Source: it.Source,
			At: time.Unix(0, it.At).UTC(), Outcome: inbound.Outcome(it.Outcome), Reason: it.Reason, Detail: it.Detail,
			ProjectHash: it.ProjectHash, TaskID: it.TaskID, Deliveries: it.Deliveries,
		})
	}
	return res, nil
}
