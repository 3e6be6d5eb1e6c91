// Package dynamo stores Herald's configuration and delivery log in DynamoDB.
//
// Webhooks table (keys mirror template.yaml):
//
//	pk = "T#<tenant>"  sk = "WH#<webhook id>"       one item per webhook; every read names the
//	                                                tenant, so no key reaches another tenant's data
//	GSI by_stage: stage_key = "P#<project>#S#<stage uuid>", webhook_id
//	                                                the router's one Query per stage; it projects
//	                                                only tenant_id and enabled, so signing
//	                                                secrets never sit in the index
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// StageIndex is the name of the webhooks table's GSI keyed by project and stage.
const StageIndex = "by_stage"

// WebhookStore keeps stage webhooks in the webhooks table.
type WebhookStore struct {
	client *dynamodb.Client
	table  string
	now    func() time.Time
}

var (
	_ stagehooks.TargetFinder = (*WebhookStore)(nil)
	_ delivery.EndpointStore  = (*WebhookStore)(nil)
)

// NewWebhookStore returns a store over table.
func NewWebhookStore(client *dynamodb.Client, table string) *WebhookStore {
	return &WebhookStore{client: client, table: table, now: time.Now}
}

type webhookItem struct {
	PK             string   `dynamodbav:"pk"`
	SK             string   `dynamodbav:"sk"`
	StageKey       string   `dynamodbav:"stage_key"`
	WebhookID      string   `dynamodbav:"webhook_id"`
	TenantID       string   `dynamodbav:"tenant_id"`
	OwnerID        string   `dynamodbav:"owner_id"`
	ProjectHash    string   `dynamodbav:"project_hash"`
	StageUUID      string   `dynamodbav:"stage_uuid"`
	StageType      string   `dynamodbav:"stage_type"`
	URL            string   `dynamodbav:"url"`
	Secrets        []string `dynamodbav:"secrets"`
	Enabled        bool     `dynamodbav:"enabled"`
	DisabledReason string   `dynamodbav:"disabled_reason,omitempty"`
	CreatedAt      string   `dynamodbav:"created_at"`
	UpdatedAt      string   `dynamodbav:"updated_at"`
}

func tenantKey(tenant string) string          { return "T#" + tenant }
func webhookKey(id string) string             { return "WH#" + id }
func stageKeyOf(project, stage string) string { return "P#" + project + "#S#" + stage }

func primaryKey(tenant, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: tenantKey(tenant)},
		"sk": &types.AttributeValueMemberS{Value: webhookKey(id)},
	}
}

func toItem(w stagehooks.Webhook) webhookItem {
	return webhookItem{
		PK: tenantKey(w.TenantID), SK: webhookKey(w.ID), StageKey: stageKeyOf(w.ProjectHash, w.StageUUID),
		WebhookID: w.ID, TenantID: w.TenantID, OwnerID: w.OwnerID, ProjectHash: w.ProjectHash,
		StageUUID: w.StageUUID, StageType: string(w.StageType), URL: w.URL, Secrets: w.Secrets,
		Enabled: w.Enabled, DisabledReason: w.DisabledReason,
		CreatedAt: w.CreatedAt.UTC().Format(time.RFC3339Nano), UpdatedAt: w.UpdatedAt.UTC().Format(time.RFC3339Nano),
	}
}

func fromItem(it webhookItem) stagehooks.Webhook {
	created, _ := time.Parse(time.RFC3339Nano, it.CreatedAt)
	updated, _ := time.Parse(time.RFC3339Nano, it.UpdatedAt)
	return stagehooks.Webhook{
		ID: it.WebhookID, TenantID: it.TenantID, OwnerID: it.OwnerID, ProjectHash: it.ProjectHash,
		StageUUID: it.StageUUID, StageType: stagehooks.StageType(it.StageType), URL: it.URL, Secrets: it.Secrets,
		Enabled: it.Enabled, DisabledReason: it.DisabledReason, CreatedAt: created, UpdatedAt: updated,
	}
}

// CreateWebhook stores a new webhook; ErrExists if its id is taken in its tenant.
func (s *WebhookStore) CreateWebhook(ctx context.Context, w stagehooks.Webhook) error {
	if err := w.Validate(); err != nil {
		return err
	}
	item, err := attributevalue.MarshalMap(toItem(w))
	if err != nil {
		return fmt.Errorf("marshal webhook %s: %w", w.ID, err)
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           &s.table,
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("create webhook %s: %w", w.ID, stagehooks.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create webhook %s: %w", w.ID, err)
	}
	return nil
}

// GetWebhook reads one webhook of a tenant.
func (s *WebhookStore) GetWebhook(ctx context.Context, tenant, id string) (stagehooks.Webhook, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: primaryKey(tenant, id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("get webhook %s: %w", id, err)
	}
	if out.Item == nil {
		return stagehooks.Webhook{}, fmt.Errorf("get webhook %s: %w", id, stagehooks.ErrNotFound)
	}
	var it webhookItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("unmarshal webhook %s: %w", id, err)
	}
	return fromItem(it), nil
}

// TargetsForStage implements stagehooks.TargetFinder with one Query of the stage index. The
// index is partitioned by project and stage, so the cost is the stage's own webhooks whatever
// the table holds; pages are followed only past 1 MB of results, which takes thousands of
// webhooks on one stage.
func (s *WebhookStore) TargetsForStage(ctx context.Context, projectHash, stageUUID string) ([]stagehooks.Target, error) {
	p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
		TableName:              &s.table,
		IndexName:              aws.String(StageIndex),
		KeyConditionExpression: aws.String("stage_key = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":k": &types.AttributeValueMemberS{Value: stageKeyOf(projectHash, stageUUID)},
		},
	})
	var targets []stagehooks.Target
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query webhooks of stage %s: %w", stageUUID, err)
		}
		var items []struct {
			TenantID  string `dynamodbav:"tenant_id"`
			WebhookID string `dynamodbav:"webhook_id"`
			Enabled   bool   `dynamodbav:"enabled"`
		}
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return nil, fmt.Errorf("unmarshal webhooks of stage %s: %w", stageUUID, err)
		}
		for _, it := range items {
			targets = append(targets, stagehooks.Target{TenantID: it.TenantID, WebhookID: it.WebhookID, Enabled: it.Enabled})
		}
	}
	return targets, nil
}

// batchGetLimit is DynamoDB's BatchGetItem maximum.
const batchGetLimit = 100

// maxUnprocessedRounds bounds how often unprocessed keys or items are retried in one call
// before the caller is told; with exponential backoff from 50 ms that is about 1.5 s.
const maxUnprocessedRounds = 5

// Endpoints implements delivery.EndpointSource with BatchGetItem.
func (s *WebhookStore) Endpoints(ctx context.Context, refs []delivery.EndpointRef) (map[delivery.EndpointRef]delivery.Endpoint, error) {
	out := make(map[delivery.EndpointRef]delivery.Endpoint, len(refs))
	for start := 0; start < len(refs); start += batchGetLimit {
		chunk := refs[start:min(start+batchGetLimit, len(refs))]
		keys := make([]map[string]types.AttributeValue, len(chunk))
		for i, ref := range chunk {
			keys[i] = primaryKey(ref.TenantID, ref.WebhookID)
		}
		request := map[string]types.KeysAndAttributes{s.table: {
			Keys:                     keys,
			ProjectionExpression:     aws.String("tenant_id, webhook_id, #u, enabled, secrets"),
			ExpressionAttributeNames: map[string]string{"#u": "url"},
		}}
		for round := 0; len(request) > 0; round++ {
			if round == maxUnprocessedRounds {
				return nil, fmt.Errorf("read webhooks: %d keys still unprocessed after %d rounds", len(request[s.table].Keys), round)
			}
			if err := backoff(ctx, round); err != nil {
				return nil, err
			}
			res, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request})
			if err != nil {
				return nil, fmt.Errorf("read %d webhooks: %w", len(chunk), err)
			}
			var items []webhookItem
			if err := attributevalue.UnmarshalListOfMaps(res.Responses[s.table], &items); err != nil {
				return nil, fmt.Errorf("unmarshal webhooks: %w", err)
			}
			for _, it := range items {
				ref := delivery.EndpointRef{TenantID: it.TenantID, WebhookID: it.WebhookID}
				out[ref] = delivery.Endpoint{URL: it.URL, Enabled: it.Enabled, Secrets: it.Secrets}
			}
			request = res.UnprocessedKeys
		}
	}
	return out, nil
}

// DisableWebhook implements delivery.WebhookDisabler. A webhook deleted meanwhile is not an
// error: there is nothing left to disable.
func (s *WebhookStore) DisableWebhook(ctx context.Context, ref delivery.EndpointRef, reason string) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.table,
		Key:                 primaryKey(ref.TenantID, ref.WebhookID),
		UpdateExpression:    aws.String("SET enabled = :f, disabled_reason = :r, updated_at = :t"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":f": &types.AttributeValueMemberBOOL{Value: false},
			":r": &types.AttributeValueMemberS{Value: reason},
			":t": &types.AttributeValueMemberS{Value: s.now().UTC().Format(time.RFC3339Nano)},
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("disable webhook %s: %w", ref.WebhookID, err)
	}
	return nil
}

// backoff waits before retry round n (none before the first).
func backoff(ctx context.Context, round int) error {
	if round == 0 {
		return nil
	}
	t := time.NewTimer(50 * time.Millisecond << (round - 1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("wait to retry unprocessed DynamoDB requests: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}
