// Package dynamo stores Herald's configuration and delivery log in DynamoDB.
//
// Webhooks table (keys mirror template.yaml). Each tenant's configuration is one partition;
// every read names the tenant, so no key reaches another tenant's data, and every list is a
// Query within that partition, never a Scan:
//
//	pk = "T#<tenant>"  sk = "WH#<webhook id>"       one item per webhook: a stage webhook, or a
//	                                                notification's webhook (which has a
//	                                                notification_id and no stage attributes)
//	pk = "T#<tenant>"  sk = "WHURL#<project>#<stage>#<sha256 hex of URL>"
//	                                                claims a URL on one project stage for one
//	                                                stage webhook; written, moved and deleted in
//	                                                the same transaction as the webhook, so two
//	                                                webhooks of a stage never share a URL
//	pk = "T#<tenant>"  sk = "NOTIF#<notification id>"
//	                                                one item per notification (notifications.go)
//	GSI by_stage: stage_key = "T#<tenant>#P#<project>#S#<stage uuid>", webhook_id
//	                                                the router's one Query per stage. The
//	                                                tenant leads the key: project hashes are the
//	                                                platform's, any tenant can name any hash, and
//	                                                a Query can only ever see the tenant it
//	                                                names (no filter to forget). It projects
//	                                                only tenant_id, enabled and ordered, so
//	                                                signing secrets never sit in the index. Only
//	                                                stage webhooks carry stage_key, so the index
//	                                                is sparse: claims, notifications and their
//	                                                webhooks are never in it
package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strconv"
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

// WebhookStore keeps stage webhooks and notifications in the webhooks table.
type WebhookStore struct {
	client *dynamodb.Client
	table  string
	now    func() time.Time
	// streaks coalesces this process's failure-streak writes (health.go).
	streaks streaks
}

var (
	_ stagehooks.TargetFinder = (*WebhookStore)(nil)
	_ delivery.EndpointStore  = (*WebhookStore)(nil)
)

// NewWebhookStore returns a store over table.
func NewWebhookStore(client *dynamodb.Client, table string) *WebhookStore {
	return &WebhookStore{client: client, table: table, now: time.Now}
}

// webhookItem is a webhook of either kind. The stage attributes are omitted when empty: an
// empty stage_key would be refused as a GSI key, and its absence keeps a notification's webhook
// out of by_stage.
type webhookItem struct {
	PK                      string   `dynamodbav:"pk"`
	SK                      string   `dynamodbav:"sk"`
	StageKey                string   `dynamodbav:"stage_key,omitempty"`
	WebhookID               string   `dynamodbav:"webhook_id"`
	TenantID                string   `dynamodbav:"tenant_id"`
	OwnerID                 string   `dynamodbav:"owner_id"`
	ProjectHash             string   `dynamodbav:"project_hash,omitempty"`
	StageUUID               string   `dynamodbav:"stage_uuid,omitempty"`
	StageType               string   `dynamodbav:"stage_type,omitempty"`
	NotificationID          string   `dynamodbav:"notification_id,omitempty"`
	URL                     string   `dynamodbav:"url"`
	Secrets                 []string `dynamodbav:"secrets"`
	PreviousSecretExpiresAt string   `dynamodbav:"previous_secret_expires_at,omitempty"`
	Enabled                 bool     `dynamodbav:"enabled"`
	DisabledReason          string   `dynamodbav:"disabled_reason,omitempty"`
	RateLimitPerSecond      int      `dynamodbav:"rate_limit_per_second,omitempty"`
	AlertEmail              string   `dynamodbav:"alert_email,omitempty"`
	// Ordered is absent when false, as on items written before it existed; by_stage projects it.
	Ordered bool `dynamodbav:"ordered,omitempty"`
	// Version is absent on items written before versions existed; they read as version 1.
	Version   int64  `dynamodbav:"version"`
	CreatedAt string `dynamodbav:"created_at"`
	UpdatedAt string `dynamodbav:"updated_at"`
	// FailingSince and Failures are the webhook's failure streak (see health.go). Only the
	// delivery path writes them; an API write of the webhook leaves them out, and so starts
	// its health afresh.
	FailingSince string `dynamodbav:"failing_since,omitempty"`
	Failures     int    `dynamodbav:"failures,omitempty"`
}

// urlClaimItem is the uniqueness item of a stage webhook's URL.
type urlClaimItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	WebhookID string `dynamodbav:"webhook_id"`
}

const (
	webhookPrefix = "WH#"
	urlPrefix     = "WHURL#"
)

func tenantKey(tenant string) string { return "T#" + tenant }
func webhookKey(id string) string    { return webhookPrefix + id }
func stageKeyOf(tenant, project, stage string) string {
	return "T#" + tenant + "#P#" + project + "#S#" + stage
}

// urlClaimKey hashes the URL: a sort key is limited to 1 KB and a URL is not, and project and
// stage are key parts that never contain '#'.
func urlClaimKey(project, stage, url string) string {
	sum := sha256.Sum256([]byte(url))
	return urlPrefix + project + "#" + stage + "#" + hex.EncodeToString(sum[:])
}

func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

func primaryKey(tenant, id string) map[string]types.AttributeValue {
	return itemKey(tenantKey(tenant), webhookKey(id))
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// formatOptionalTime keeps the zero time as an absent attribute.
func formatOptionalTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}

func parseOptionalTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func toItem(w stagehooks.Webhook) webhookItem {
	return webhookItem{
		PK: tenantKey(w.TenantID), SK: webhookKey(w.ID), StageKey: stageKeyOf(w.TenantID, w.ProjectHash, w.StageUUID),
		WebhookID: w.ID, TenantID: w.TenantID, OwnerID: w.OwnerID, ProjectHash: w.ProjectHash,
		StageUUID: w.StageUUID, StageType: string(w.StageType), URL: w.URL, Secrets: w.Secrets,
		PreviousSecretExpiresAt: formatOptionalTime(w.PreviousSecretExpiresAt),
		Enabled:                 w.Enabled, DisabledReason: w.DisabledReason, Version: w.Version,
		RateLimitPerSecond: w.RateLimitPerSecond, AlertEmail: w.AlertEmail, Ordered: w.Ordered,
		CreatedAt: formatTime(w.CreatedAt), UpdatedAt: formatTime(w.UpdatedAt),
	}
}

func (it webhookItem) version() int64 { return max(it.Version, 1) }

func fromItem(it webhookItem) stagehooks.Webhook {
	created, _ := time.Parse(time.RFC3339Nano, it.CreatedAt)
	updated, _ := time.Parse(time.RFC3339Nano, it.UpdatedAt)
	return stagehooks.Webhook{
		ID: it.WebhookID, TenantID: it.TenantID, OwnerID: it.OwnerID, ProjectHash: it.ProjectHash,
		StageUUID: it.StageUUID, StageType: stagehooks.StageType(it.StageType), URL: it.URL, Secrets: it.Secrets,
		PreviousSecretExpiresAt: parseOptionalTime(it.PreviousSecretExpiresAt),
		Enabled:                 it.Enabled, DisabledReason: it.DisabledReason, Version: it.version(),
		RateLimitPerSecond: it.RateLimitPerSecond, AlertEmail: it.AlertEmail, Ordered: it.Ordered,
		CreatedAt: created, UpdatedAt: updated,
	}
}

func (s *WebhookStore) urlClaim(w stagehooks.Webhook) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(urlClaimItem{
		PK: tenantKey(w.TenantID), SK: urlClaimKey(w.ProjectHash, w.StageUUID, w.URL), WebhookID: w.ID,
	})
	if err != nil {
		return nil, fmt.Errorf("marshal URL claim of webhook %s: %w", w.ID, err)
	}
	return item, nil
}

// conditionFailed returns which items of a cancelled TransactWriteItems failed their
// condition, by index; ok is false when err is not such a cancellation.
func conditionFailed(err error) (failed map[int]bool, ok bool) {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil, false
	}
	failed = map[int]bool{}
	for i, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == "ConditionalCheckFailed" {
			failed[i] = true
		}
	}
	return failed, len(failed) > 0
}

// versionCondition is the condition of a write made on a stored version: items from before
// versions existed have no version attribute and count as version 1.
func versionCondition(expected int64) (string, map[string]types.AttributeValue) {
	values := map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(expected, 10)}}
	if expected == 1 {
		return "attribute_exists(pk) AND (version = :v OR attribute_not_exists(version))", values
	}
	return "attribute_exists(pk) AND version = :v", values
}

// CreateWebhook stores a new stage webhook at version 1; ErrExists if its id is taken in its
// tenant, ErrDuplicateURL if another webhook of the stage has its URL. The webhook and its URL
// claim are written in one transaction.
func (s *WebhookStore) CreateWebhook(ctx context.Context, w stagehooks.Webhook) error {
	w.Version = 1
	if err := w.Validate(); err != nil {
		return err
	}
	item, err := attributevalue.MarshalMap(toItem(w))
	if err != nil {
		return fmt.Errorf("marshal webhook %s: %w", w.ID, err)
	}
	claim, err := s.urlClaim(w)
	if err != nil {
		return err
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: &s.table, Item: claim, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}})
	if failed, ok := conditionFailed(err); ok {
		if failed[0] {
			return fmt.Errorf("create webhook %s: %w", w.ID, stagehooks.ErrExists)
		}
		return fmt.Errorf("create webhook %s: %w", w.ID, stagehooks.ErrDuplicateURL)
	}
	if err != nil {
		return fmt.Errorf("create webhook %s: %w", w.ID, err)
	}
	return nil
}

// getWebhookItem reads a webhook of either kind, strongly consistent.
func (s *WebhookStore) getWebhookItem(ctx context.Context, tenant, id string) (webhookItem, bool, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: primaryKey(tenant, id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return webhookItem{}, false, fmt.Errorf("get webhook %s: %w", id, err)
	}
	if out.Item == nil {
		return webhookItem{}, false, nil
	}
	var it webhookItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return webhookItem{}, false, fmt.Errorf("unmarshal webhook %s: %w", id, err)
	}
	return it, true, nil
}

// getStageWebhook reads a stage webhook; a notification's webhook is not found.
func (s *WebhookStore) getStageWebhook(ctx context.Context, tenant, id string) (webhookItem, error) {
	it, found, err := s.getWebhookItem(ctx, tenant, id)
	if err != nil {
		return webhookItem{}, err
	}
	if !found || it.NotificationID != "" {
		return webhookItem{}, fmt.Errorf("webhook %s: %w", id, stagehooks.ErrNotFound)
	}
	return it, nil
}

// GetWebhook reads one stage webhook of a tenant.
func (s *WebhookStore) GetWebhook(ctx context.Context, tenant, id string) (stagehooks.Webhook, error) {
	it, err := s.getStageWebhook(ctx, tenant, id)
	if err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("get %w", err)
	}
	return fromItem(it), nil
}

// queryPage is one page of a tenant's items whose sort keys start with prefix, ordered by sort
// key, after the item whose id is after.
type queryPage struct {
	tenant, prefix, after string
	// filter, names and values narrow the items; nil filter keeps all.
	filter *string
	names  map[string]string
	values map[string]types.AttributeValue
	size   int
	// perRequest is how many items one Query evaluates. With a filter, DynamoDB applies Limit
	// before filtering, so a page can take several requests.
	perRequest int32
}

// query runs q and returns up to q.size items and whether more follow. It keeps querying until
// it has one item more than the page (which says another page exists) or the partition ends,
// so a filter never yields a short page that still carries a cursor.
func (s *WebhookStore) query(ctx context.Context, q queryPage) ([]map[string]types.AttributeValue, bool, error) {
	values := map[string]types.AttributeValue{
		":pk":     &types.AttributeValueMemberS{Value: tenantKey(q.tenant)},
		":prefix": &types.AttributeValueMemberS{Value: q.prefix},
	}
	for k, v := range q.values {
		values[k] = v
	}
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		FilterExpression:          q.filter,
		ExpressionAttributeNames:  q.names,
		ExpressionAttributeValues: values,
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(q.perRequest),
	}
	if q.after != "" {
		in.ExclusiveStartKey = itemKey(tenantKey(q.tenant), q.prefix+q.after)
	}
	var items []map[string]types.AttributeValue
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, false, fmt.Errorf("query %s items of tenant %s: %w", q.prefix, q.tenant, err)
		}
		items = append(items, out.Items...)
		if len(items) > q.size || out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(items) > q.size {
		return items[:q.size], true, nil
	}
	return items, false, nil
}

// ListWebhooks returns one page of a tenant's stage webhooks, ordered by id, with one Query of
// the tenant's partition (more only when the tenant's notification webhooks, which are skipped,
// fill a request).
func (s *WebhookStore) ListWebhooks(ctx context.Context, tenant string, page stagehooks.PageRequest) (stagehooks.WebhookPage, error) {
	size, after, err := page.Resolve(tenant, stagehooks.ListStageWebhooks)
	if err != nil {
		return stagehooks.WebhookPage{}, err
	}
	raw, more, err := s.query(ctx, queryPage{
		tenant: tenant, prefix: webhookPrefix, after: after,
		filter: aws.String("attribute_not_exists(notification_id)"),
		size:   size, perRequest: int32(size + 1),
	})
	if err != nil {
		return stagehooks.WebhookPage{}, fmt.Errorf("list webhooks: %w", err)
	}
	var items []webhookItem
	if err := attributevalue.UnmarshalListOfMaps(raw, &items); err != nil {
		return stagehooks.WebhookPage{}, fmt.Errorf("unmarshal webhooks of tenant %s: %w", tenant, err)
	}
	var out stagehooks.WebhookPage
	for _, it := range items {
		out.Items = append(out.Items, fromItem(it))
	}
	if more {
		out.NextCursor = stagehooks.EncodeCursor(tenant, stagehooks.ListStageWebhooks, out.Items[len(out.Items)-1].ID)
	}
	return out, nil
}

// maxWriteAttempts bounds the read-then-write loops of update and delete that re-read when a
// concurrent writer got in between.
const maxWriteAttempts = 3

// UpdateWebhook replaces a stage webhook's URL, Enabled flag, secrets and rotation expiry,
// provided its stored version is still expectedVersion, and returns it as stored: version
// expectedVersion+1, UpdatedAt w.UpdatedAt (the store's clock when zero), DisabledReason
// cleared when enabled. Everything else is kept from the stored webhook. A URL change moves the
// URL claim in the same transaction. ErrNotFound, ErrVersionConflict, ErrDuplicateURL.
func (s *WebhookStore) UpdateWebhook(ctx context.Context, w stagehooks.Webhook, expectedVersion int64) (stagehooks.Webhook, error) {
	cur, err := s.getStageWebhook(ctx, w.TenantID, w.ID)
	if err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("update %w", err)
	}
	if cur.version() != expectedVersion {
		return stagehooks.Webhook{}, fmt.Errorf("update webhook %s at version %d (stored %d): %w", w.ID, expectedVersion, cur.version(), stagehooks.ErrVersionConflict)
	}
	old := fromItem(cur)
	next := old.Updated(w, s.now())
	if err := next.Validate(); err != nil {
		return stagehooks.Webhook{}, err
	}
	item, err := attributevalue.MarshalMap(toItem(next))
	if err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("marshal webhook %s: %w", w.ID, err)
	}
	cond, values := versionCondition(expectedVersion)
	cond += " AND attribute_not_exists(notification_id)"
	writes := []types.TransactWriteItem{{Put: &types.Put{
		TableName: &s.table, Item: item, ConditionExpression: &cond, ExpressionAttributeValues: values,
	}}}
	if next.URL != old.URL {
		claim, err := s.urlClaim(next)
		if err != nil {
			return stagehooks.Webhook{}, err
		}
		writes = append(writes,
			types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: claim, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			s.releaseClaim(old))
	}
	for attempt := 0; ; attempt++ {
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
		failed, ok := conditionFailed(err)
		switch {
		case err == nil:
			return next, nil
		case !ok:
			return stagehooks.Webhook{}, fmt.Errorf("update webhook %s: %w", w.ID, err)
		case failed[0]:
			if _, err := s.getStageWebhook(ctx, w.TenantID, w.ID); err != nil {
				return stagehooks.Webhook{}, fmt.Errorf("update %w", err)
			}
			return stagehooks.Webhook{}, fmt.Errorf("update webhook %s at version %d: %w", w.ID, expectedVersion, stagehooks.ErrVersionConflict)
		case failed[1]:
			return stagehooks.Webhook{}, fmt.Errorf("update webhook %s: %w", w.ID, stagehooks.ErrDuplicateURL)
		case failed[2] && attempt == 0:
			// The old URL's claim belongs to another webhook: one stored before claims existed
			// shares this one's URL. It is not ours to release.
			writes = writes[:2]
		default:
			return stagehooks.Webhook{}, fmt.Errorf("update webhook %s: unexpected condition failure %v: %w", w.ID, failed, err)
		}
	}
}

// releaseClaim deletes a webhook's URL claim if it is the webhook's own (or absent).
func (s *WebhookStore) releaseClaim(w stagehooks.Webhook) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{
		TableName:                 &s.table,
		Key:                       itemKey(tenantKey(w.TenantID), urlClaimKey(w.ProjectHash, w.StageUUID, w.URL)),
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR webhook_id = :id"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: w.ID}},
	}}
}

// DeleteWebhook deletes a stage webhook and its URL claim in one transaction; ErrNotFound if
// the tenant has no such stage webhook.
func (s *WebhookStore) DeleteWebhook(ctx context.Context, tenant, id string) error {
	releaseClaim := true
	for attempt := 0; ; attempt++ {
		cur, err := s.getStageWebhook(ctx, tenant, id)
		if err != nil {
			return fmt.Errorf("delete %w", err)
		}
		w := fromItem(cur)
		// Conditioned on the version read, so the claim released is the one of the URL stored.
		cond, values := versionCondition(w.Version)
		writes := []types.TransactWriteItem{{Delete: &types.Delete{
			TableName: &s.table, Key: primaryKey(tenant, id), ConditionExpression: &cond, ExpressionAttributeValues: values,
		}}}
		if releaseClaim {
			writes = append(writes, s.releaseClaim(w))
		}
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
		failed, ok := conditionFailed(err)
		switch {
		case err == nil:
			return nil
		case !ok:
			return fmt.Errorf("delete webhook %s: %w", id, err)
		case attempt+1 == maxWriteAttempts:
			return fmt.Errorf("delete webhook %s: changed by others %d times meanwhile: %w", id, maxWriteAttempts, stagehooks.ErrVersionConflict)
		case failed[1]:
			releaseClaim = false // the claim is another webhook's, as in UpdateWebhook
		}
	}
}

// TargetsForStage implements stagehooks.TargetFinder with one Query of the stage index. The
// index is partitioned by tenant, project and stage, so the cost is the tenant's webhooks on
// that stage whatever the table holds; pages are followed only past 1 MB of results, which
// takes thousands of webhooks on one stage. ordered is read from the index too: an index that
// did not project it would read every webhook as unordered, without an error.
func (s *WebhookStore) TargetsForStage(ctx context.Context, tenant, projectHash, stageUUID string) ([]stagehooks.Target, error) {
	type targetItem struct {
		TenantID  string `dynamodbav:"tenant_id"`
		WebhookID string `dynamodbav:"webhook_id"`
		Enabled   bool   `dynamodbav:"enabled"`
		Ordered   bool   `dynamodbav:"ordered"`
	}
	items, err := queryAll[targetItem](ctx, s.client, &dynamodb.QueryInput{
		TableName:              &s.table,
		IndexName:              aws.String(StageIndex),
		KeyConditionExpression: aws.String("stage_key = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":k": &types.AttributeValueMemberS{Value: stageKeyOf(tenant, projectHash, stageUUID)},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("query webhooks of tenant %s stage %s: %w", tenant, stageUUID, err)
	}
	var targets []stagehooks.Target
	for _, it := range items {
		targets = append(targets, stagehooks.Target{TenantID: it.TenantID, WebhookID: it.WebhookID, Enabled: it.Enabled, Ordered: it.Ordered})
	}
	return targets, nil
}

// queryAll follows every page of a Query (pages end at 1 MB) and unmarshals the items.
func queryAll[T any](ctx context.Context, client *dynamodb.Client, in *dynamodb.QueryInput) ([]T, error) {
	var out []T
	for p := dynamodb.NewQueryPaginator(client, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		var items []T
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return nil, fmt.Errorf("unmarshal items: %w", err)
		}
		out = append(out, items...)
	}
	return out, nil
}

// batchGetLimit is DynamoDB's BatchGetItem maximum.
const batchGetLimit = 100

// maxUnprocessedRounds bounds how often unprocessed keys or items are retried in one call
// before the caller is told; with exponential backoff from 50 ms that is about 1.5 s.
const maxUnprocessedRounds = 5

// batchGet reads keys with BatchGetItem, 100 at a time, retrying unprocessed keys. Missing
// items are simply absent from the result.
func (s *WebhookStore) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, ka types.KeysAndAttributes) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	for start := 0; start < len(keys); start += batchGetLimit {
		chunk := ka
		chunk.Keys = keys[start:min(start+batchGetLimit, len(keys))]
		request := map[string]types.KeysAndAttributes{s.table: chunk}
		for round := 0; len(request) > 0; round++ {
			if round == maxUnprocessedRounds {
				return nil, fmt.Errorf("read items: %d keys still unprocessed after %d rounds", len(request[s.table].Keys), round)
			}
			if err := backoff(ctx, round); err != nil {
				return nil, err
			}
			res, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request})
			if err != nil {
				return nil, fmt.Errorf("read %d items: %w", len(chunk.Keys), err)
			}
			out = append(out, res.Responses[s.table]...)
			request = res.UnprocessedKeys
		}
	}
	return out, nil
}

// writeBatches applies writes with BatchWriteItem, 25 at a time, retrying unprocessed items.
func writeBatches(ctx context.Context, client *dynamodb.Client, table string, writes []types.WriteRequest) error {
	for start := 0; start < len(writes); start += batchWriteLimit {
		chunk := writes[start:min(start+batchWriteLimit, len(writes))]
		request := map[string][]types.WriteRequest{table: chunk}
		for round := 0; len(request) > 0; round++ {
			if round == maxUnprocessedRounds {
				return fmt.Errorf("write items: %d still unprocessed after %d rounds", len(request[table]), round)
			}
			if err := backoff(ctx, round); err != nil {
				return err
			}
			out, err := client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: request})
			if err != nil {
				return fmt.Errorf("write %d items: %w", len(chunk), err)
			}
			request = out.UnprocessedItems
		}
	}
	return nil
}

// Endpoints implements delivery.EndpointSource with BatchGetItem. It finds stage webhooks and
// notifications' webhooks alike, and leaves out a rotated-out secret once it has expired.
// Reads are eventually consistent (half the read units); a webhook one of them misses is read
// again strongly consistent before it is reported missing, so the first job of a webhook
// created a moment ago is never dropped as deleted.
func (s *WebhookStore) Endpoints(ctx context.Context, refs []delivery.EndpointRef) (map[delivery.EndpointRef]delivery.Endpoint, error) {
	out := make(map[delivery.EndpointRef]delivery.Endpoint, len(refs))
	if err := s.readEndpoints(ctx, refs, false, out); err != nil {
		return nil, err
	}
	var missed []delivery.EndpointRef
	for _, ref := range refs {
		if _, ok := out[ref]; !ok {
			missed = append(missed, ref)
		}
	}
	if len(missed) > 0 {
		if err := s.readEndpoints(ctx, missed, true, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *WebhookStore) readEndpoints(ctx context.Context, refs []delivery.EndpointRef, consistent bool, out map[delivery.EndpointRef]delivery.Endpoint) error {
	keys := make([]map[string]types.AttributeValue, len(refs))
	for i, ref := range refs {
		keys[i] = primaryKey(ref.TenantID, ref.WebhookID)
	}
	raw, err := s.batchGet(ctx, keys, types.KeysAndAttributes{
		ProjectionExpression:     aws.String("tenant_id, webhook_id, #u, enabled, secrets, previous_secret_expires_at, failing_since, rate_limit_per_second"),
		ExpressionAttributeNames: map[string]string{"#u": "url"},
		ConsistentRead:           aws.Bool(consistent),
	})
	if err != nil {
		return fmt.Errorf("read webhooks: %w", err)
	}
	var items []webhookItem
	if err := attributevalue.UnmarshalListOfMaps(raw, &items); err != nil {
		return fmt.Errorf("unmarshal webhooks: %w", err)
	}
	now := s.now()
	for _, it := range items {
		ref := delivery.EndpointRef{TenantID: it.TenantID, WebhookID: it.WebhookID}
		secrets := stagehooks.LiveSecrets(it.Secrets, parseOptionalTime(it.PreviousSecretExpiresAt), now)
		out[ref] = delivery.Endpoint{URL: it.URL, Enabled: it.Enabled, Secrets: secrets, FailingSince: parseOptionalTime(it.FailingSince),
			RateLimitPerSecond: it.RateLimitPerSecond}
	}
	return nil
}

// DisableWebhook implements delivery.WebhookDisabler. A webhook deleted meanwhile is not an
// error: there is nothing left to disable. The webhook's version grows, and so does its
// notification's, if it has one: an API client holding the old version must re-read before
// writing, or it would enable the webhook again without having seen it disabled.
func (s *WebhookStore) DisableWebhook(ctx context.Context, ref delivery.EndpointRef, reason string) error {
	_, _, err := s.disable(ctx, ref, reason, "attribute_exists(pk)", nil)
	return err
}

// disable turns ref off with reason if cond holds, bumps its notification's version, and
// returns the webhook as it now is; ok is false when cond failed.
func (s *WebhookStore) disable(ctx context.Context, ref delivery.EndpointRef, reason, cond string, values map[string]types.AttributeValue) (item map[string]types.AttributeValue, ok bool, err error) {
	now := &types.AttributeValueMemberS{Value: formatTime(s.now())}
	one := &types.AttributeValueMemberN{Value: "1"}
	all := map[string]types.AttributeValue{
		":f": &types.AttributeValueMemberBOOL{Value: false},
		":r": &types.AttributeValueMemberS{Value: reason},
		":t": now, ":one": one,
	}
	maps.Copy(all, values)
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       primaryKey(ref.TenantID, ref.WebhookID),
		UpdateExpression:          aws.String("SET enabled = :f, disabled_reason = :r, updated_at = :t, version = if_not_exists(version, :one) + :one"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: all,
		ReturnValues:              types.ReturnValueAllNew,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("disable webhook %s: %w", ref.WebhookID, err)
	}
	nid, _ := out.Attributes["notification_id"].(*types.AttributeValueMemberS)
	if nid == nil {
		return out.Attributes, true, nil
	}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       itemKey(tenantKey(ref.TenantID), notificationKey(nid.Value)),
		UpdateExpression:          aws.String("SET version = version + :one, updated_at = :t"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": now, ":one": one},
	})
	if err != nil && !errors.As(err, &ccf) {
		return nil, false, fmt.Errorf("disable webhook %s: bump version of notification %s: %w", ref.WebhookID, nid.Value, err)
	}
	return out.Attributes, true, nil
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
