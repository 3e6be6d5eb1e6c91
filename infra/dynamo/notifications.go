package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// Notifications live in the webhooks table, in their tenant's partition:
//
//	pk = "T#<tenant>"  sk = "NOTIF#<notification id>"   the notification, with the ids of its
//	                                                    webhooks in order (webhook_ids) and
//	                                                    of those that are ordered
//	                                                    (ordered_webhook_ids): the event path
//	                                                    reads nothing else of them
//	pk = "T#<tenant>"  sk = "WH#<webhook id>"           each of its webhooks, with
//	                                                    notification_id, so the delivery path
//	                                                    reads them as it reads stage webhooks
//
// A notification and its webhooks are written in one TransactWriteItems: at most
// 1 + 2×notifications.MaxWebhooks items (an update that replaces every webhook), far below the
// limit of 100. title_folded is the title in notifications.FoldTitle form, for the search's
// FilterExpression.

const notificationPrefix = "NOTIF#"

func notificationKey(id string) string { return notificationPrefix + id }

type notificationItem struct {
	PK            string   `dynamodbav:"pk"`
	SK            string   `dynamodbav:"sk"`
	ID            string   `dynamodbav:"id"`
	TenantID      string   `dynamodbav:"tenant_id"`
	OwnerID       string   `dynamodbav:"owner_id"`
	Title         string   `dynamodbav:"title"`
	TitleFolded   string   `dynamodbav:"title_folded"`
	Description   string   `dynamodbav:"description,omitempty"`
	Projects      []string `dynamodbav:"projects"`
	SlackChannels []string `dynamodbav:"slack_channels,omitempty"`
	Emails        []string `dynamodbav:"emails,omitempty"`
	WebhookIDs    []string `dynamodbav:"webhook_ids,omitempty"`
	// OrderedWebhookIDs repeats which webhooks are ordered, so SubscriptionsForProject reads
	// no webhook item; it is written with them, in the same transaction.
	OrderedWebhookIDs []string     `dynamodbav:"ordered_webhook_ids,omitempty"`
	Events            []string     `dynamodbav:"events,omitempty"`
	Digests           []digestItem `dynamodbav:"digests,omitempty"`
	Version           int64        `dynamodbav:"version"`
	CreatedAt         string       `dynamodbav:"created_at"`
	UpdatedAt         string       `dynamodbav:"updated_at"`
}

type digestItem struct {
	TimesOfDay []string `dynamodbav:"times_of_day"`
	TimeZone   string   `dynamodbav:"time_zone"`
	// PeriodNS is the period in nanoseconds, exact whatever its unit.
	PeriodNS  int64 `dynamodbav:"period_ns"`
	SkipEmpty bool  `dynamodbav:"skip_empty,omitempty"`
}

func toNotificationItem(n notifications.Notification) notificationItem {
	it := notificationItem{
		PK: tenantKey(n.TenantID), SK: notificationKey(n.ID), ID: n.ID, TenantID: n.TenantID, OwnerID: n.OwnerID,
		Title: n.Title, TitleFolded: notifications.FoldTitle(n.Title), Description: n.Description,
		Projects: n.Projects, SlackChannels: n.Channels.SlackChannels, Emails: n.Channels.Emails,
		Version: n.Version, CreatedAt: formatTime(n.CreatedAt), UpdatedAt: formatTime(n.UpdatedAt),
	}
	for _, w := range n.Channels.Webhooks {
		it.WebhookIDs = append(it.WebhookIDs, w.ID)
		if w.Ordered {
			it.OrderedWebhookIDs = append(it.OrderedWebhookIDs, w.ID)
		}
	}
	for _, e := range n.Triggers.Events {
		it.Events = append(it.Events, string(e))
	}
	for _, d := range n.Triggers.Digests {
		it.Digests = append(it.Digests, digestItem{TimesOfDay: d.TimesOfDay, TimeZone: d.TimeZone, PeriodNS: int64(d.Period), SkipEmpty: d.SkipEmpty})
	}
	return it
}

// fromNotificationItem rebuilds a notification from its item and the items of its webhooks
// (by id); a webhook missing from hooks is left out.
func fromNotificationItem(it notificationItem, hooks map[string]webhookItem) notifications.Notification {
	created, _ := time.Parse(time.RFC3339Nano, it.CreatedAt)
	updated, _ := time.Parse(time.RFC3339Nano, it.UpdatedAt)
	n := notifications.Notification{
		ID: it.ID, TenantID: it.TenantID, OwnerID: it.OwnerID, Title: it.Title, Description: it.Description,
		Projects: it.Projects, Version: it.Version, CreatedAt: created, UpdatedAt: updated,
		Channels: notifications.Channels{SlackChannels: it.SlackChannels, Emails: it.Emails},
	}
	for _, id := range it.WebhookIDs {
		if h, ok := hooks[id]; ok {
			n.Channels.Webhooks = append(n.Channels.Webhooks, notificationWebhookOf(h))
		}
	}
	for _, e := range it.Events {
		n.Triggers.Events = append(n.Triggers.Events, notifications.EventType(e))
	}
	for _, d := range it.Digests {
		n.Triggers.Digests = append(n.Triggers.Digests, notifications.Digest{TimesOfDay: d.TimesOfDay, TimeZone: d.TimeZone, Period: time.Duration(d.PeriodNS), SkipEmpty: d.SkipEmpty})
	}
	return n
}

func notificationWebhookOf(h webhookItem) notifications.Webhook {
	return notifications.Webhook{
		ID: h.WebhookID, URL: h.URL, Secrets: h.Secrets, Enabled: h.Enabled, DisabledReason: h.DisabledReason,
		PreviousSecretExpiresAt: parseOptionalTime(h.PreviousSecretExpiresAt), RateLimitPerSecond: h.RateLimitPerSecond,
		Ordered: h.Ordered,
	}
}

// notificationWebhookItem is the webhook item of a notification's webhook; created and
// version are the webhook's own.
func notificationWebhookItem(n notifications.Notification, w notifications.Webhook, version int64, created time.Time) webhookItem {
	return webhookItem{
		PK: tenantKey(n.TenantID), SK: webhookKey(w.ID), WebhookID: w.ID, TenantID: n.TenantID, OwnerID: n.OwnerID,
		NotificationID: n.ID, URL: w.URL, Secrets: w.Secrets,
		PreviousSecretExpiresAt: formatOptionalTime(w.PreviousSecretExpiresAt),
		Enabled:                 w.Enabled, DisabledReason: w.DisabledReason, Version: version,
		RateLimitPerSecond: w.RateLimitPerSecond, Ordered: w.Ordered,
		CreatedAt: formatTime(created), UpdatedAt: formatTime(n.UpdatedAt),
	}
}

func (s *WebhookStore) put(item any, cond string, values map[string]types.AttributeValue) (types.TransactWriteItem, error) {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("marshal item: %w", err)
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName: &s.table, Item: av, ConditionExpression: aws.String(cond), ExpressionAttributeValues: values,
	}}, nil
}

func stringValue(s string) *types.AttributeValueMemberS {
	return &types.AttributeValueMemberS{Value: s}
}

func numberValue(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// CreateNotification stores a new notification at version 1 with its webhooks, all in one
// transaction; ErrExists if its id, or the id of one of its webhooks, is taken in its tenant.
func (s *WebhookStore) CreateNotification(ctx context.Context, n notifications.Notification) error {
	n = n.WithDefaults()
	n.Version = 1
	if err := n.Validate(); err != nil {
		return err
	}
	n.CreatedAt, n.UpdatedAt = n.CreatedAt.UTC(), n.UpdatedAt.UTC()
	writes := make([]types.TransactWriteItem, 0, 1+len(n.Channels.Webhooks))
	w, err := s.put(toNotificationItem(n), "attribute_not_exists(pk)", nil)
	if err != nil {
		return fmt.Errorf("create notification %s: %w", n.ID, err)
	}
	writes = append(writes, w)
	for _, h := range n.Channels.Webhooks {
		h.DisabledReason = ""
		w, err := s.put(notificationWebhookItem(n, h, 1, n.CreatedAt), "attribute_not_exists(pk)", nil)
		if err != nil {
			return fmt.Errorf("create notification %s: webhook %s: %w", n.ID, h.ID, err)
		}
		writes = append(writes, w)
	}
	// Before the notification, so that it is never stored without them (subscriptions.go).
	if err := s.putMemberships(ctx, n.TenantID, n.ID, n.Projects); err != nil {
		return fmt.Errorf("create notification %s: %w", n.ID, err)
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
	if failed, ok := conditionFailed(err); ok {
		if failed[0] {
			return fmt.Errorf("create notification %s: %w", n.ID, notifications.ErrExists)
		}
		for i, h := range n.Channels.Webhooks {
			if failed[i+1] {
				return fmt.Errorf("create notification %s: webhook id %s: %w", n.ID, h.ID, notifications.ErrExists)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("create notification %s: %w", n.ID, err)
	}
	return nil
}

// readNotification reads a notification's item and its webhooks' items, strongly consistent;
// found is false when the tenant has no such notification.
func (s *WebhookStore) readNotification(ctx context.Context, tenant, id string) (notificationItem, map[string]webhookItem, bool, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: itemKey(tenantKey(tenant), notificationKey(id)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return notificationItem{}, nil, false, fmt.Errorf("get notification %s: %w", id, err)
	}
	if out.Item == nil {
		return notificationItem{}, nil, false, nil
	}
	var it notificationItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return notificationItem{}, nil, false, fmt.Errorf("unmarshal notification %s: %w", id, err)
	}
	hooks, err := s.notificationWebhooks(ctx, tenant, it.WebhookIDs)
	if err != nil {
		return notificationItem{}, nil, false, fmt.Errorf("get notification %s: %w", id, err)
	}
	return it, hooks, true, nil
}

// notificationWebhooks reads webhook items by id, strongly consistent, with one BatchGetItem
// per 100.
func (s *WebhookStore) notificationWebhooks(ctx context.Context, tenant string, ids []string) (map[string]webhookItem, error) {
	keys := make([]map[string]types.AttributeValue, len(ids))
	for i, id := range ids {
		keys[i] = primaryKey(tenant, id)
	}
	raw, err := s.batchGet(ctx, keys, types.KeysAndAttributes{ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read webhooks of notifications: %w", err)
	}
	var items []webhookItem
	if err := attributevalue.UnmarshalListOfMaps(raw, &items); err != nil {
		return nil, fmt.Errorf("unmarshal webhooks of notifications: %w", err)
	}
	out := make(map[string]webhookItem, len(items))
	for _, it := range items {
		out[it.WebhookID] = it
	}
	return out, nil
}

// GetNotification reads one notification of a tenant with its webhooks.
func (s *WebhookStore) GetNotification(ctx context.Context, tenant, id string) (notifications.Notification, error) {
	it, hooks, found, err := s.readNotification(ctx, tenant, id)
	if err != nil {
		return notifications.Notification{}, err
	}
	if !found {
		return notifications.Notification{}, fmt.Errorf("get notification %s: %w", id, notifications.ErrNotFound)
	}
	return fromNotificationItem(it, hooks), nil
}

// searchPerRequest is how many notifications one Query evaluates while a search filters them:
// about 100 KB of items, so a search that matches little reads the partition in few requests
// without reading far past the page when it matches a lot.
const searchPerRequest = 100

// ListNotifications returns one page of a tenant's notifications, ordered by id: a Query of
// the tenant's partition, filtered on the folded title and the owner, followed until the page
// is full or the partition ends; then one BatchGetItem (per 100) for the page's webhooks.
func (s *WebhookStore) ListNotifications(ctx context.Context, tenant string, q notifications.Query) (notifications.Page, error) {
	size, after, err := q.Page.Resolve(tenant, stagehooks.ListNotifications)
	if err != nil {
		return notifications.Page{}, err
	}
	page := queryPage{tenant: tenant, prefix: notificationPrefix, after: after, size: size, perRequest: int32(size + 1)}
	var filters []string
	if q.TitleContains != "" {
		filters = append(filters, "contains(title_folded, :title)")
		page.values = map[string]types.AttributeValue{":title": stringValue(notifications.FoldTitle(q.TitleContains))}
	}
	if q.OwnerID != "" {
		filters = append(filters, "owner_id = :owner")
		if page.values == nil {
			page.values = map[string]types.AttributeValue{}
		}
		page.values[":owner"] = stringValue(q.OwnerID)
	}
	if len(filters) > 0 {
		cond := filters[0]
		for _, f := range filters[1:] {
			cond += " AND " + f
		}
		page.filter, page.perRequest = &cond, max(page.perRequest, searchPerRequest)
	}
	raw, more, err := s.query(ctx, page)
	if err != nil {
		return notifications.Page{}, fmt.Errorf("list notifications: %w", err)
	}
	var items []notificationItem
	if err := attributevalue.UnmarshalListOfMaps(raw, &items); err != nil {
		return notifications.Page{}, fmt.Errorf("unmarshal notifications of tenant %s: %w", tenant, err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.WebhookIDs...)
	}
	hooks, err := s.notificationWebhooks(ctx, tenant, ids)
	if err != nil {
		return notifications.Page{}, fmt.Errorf("list notifications: %w", err)
	}
	var out notifications.Page
	for _, it := range items {
		out.Items = append(out.Items, fromNotificationItem(it, hooks))
	}
	if more {
		out.NextCursor = stagehooks.EncodeCursor(tenant, stagehooks.ListNotifications, items[len(items)-1].ID)
	}
	return out, nil
}

// UpdateNotification replaces a notification's title, description, projects, channels and
// triggers, provided its stored version is still expectedVersion, and returns it as stored:
// version expectedVersion+1, UpdatedAt n.UpdatedAt (the store's clock when zero), id, tenant,
// owner and creation time kept. Its webhooks are diffed by id in the same transaction: new ids
// are created, changed ones rewritten (each with its own version), missing ones deleted.
// ErrNotFound, ErrVersionConflict; ErrExists when a new webhook's id is taken.
func (s *WebhookStore) UpdateNotification(ctx context.Context, n notifications.Notification, expectedVersion int64) (notifications.Notification, error) {
	cur, hooks, found, err := s.readNotification(ctx, n.TenantID, n.ID)
	if err != nil {
		return notifications.Notification{}, fmt.Errorf("update notification %s: %w", n.ID, err)
	}
	if !found {
		return notifications.Notification{}, fmt.Errorf("update notification %s: %w", n.ID, notifications.ErrNotFound)
	}
	if cur.Version != expectedVersion {
		return notifications.Notification{}, fmt.Errorf("update notification %s at version %d (stored %d): %w", n.ID, expectedVersion, cur.Version, notifications.ErrVersionConflict)
	}
	old := fromNotificationItem(cur, hooks)
	next := old.Updated(n, s.now())
	if err := next.ValidateStored(); err != nil {
		return notifications.Notification{}, err
	}

	nid := map[string]types.AttributeValue{":nid": stringValue(n.ID)}
	w, err := s.put(toNotificationItem(next), "version = :v", map[string]types.AttributeValue{":v": numberValue(expectedVersion)})
	if err != nil {
		return notifications.Notification{}, fmt.Errorf("update notification %s: %w", n.ID, err)
	}
	writes := []types.TransactWriteItem{w}
	created := map[int]string{} // index in writes of each new webhook -> its id
	keep := map[string]bool{}
	for _, h := range next.Channels.Webhooks {
		keep[h.ID] = true
		prev, exists := hooks[h.ID]
		if !exists {
			w, err := s.put(notificationWebhookItem(next, h, 1, next.UpdatedAt), "attribute_not_exists(pk)", nil)
			if err != nil {
				return notifications.Notification{}, fmt.Errorf("update notification %s: %w", n.ID, err)
			}
			created[len(writes)] = h.ID
			writes = append(writes, w)
			continue
		}
		if notificationWebhookOf(prev).SameSettings(h) {
			continue
		}
		createdAt, _ := time.Parse(time.RFC3339Nano, prev.CreatedAt)
		item := notificationWebhookItem(next, h, prev.version()+1, createdAt)
		w, err := s.put(item, "notification_id = :nid AND version = :wv",
			map[string]types.AttributeValue{":nid": nid[":nid"], ":wv": numberValue(prev.version())})
		if err != nil {
			return notifications.Notification{}, fmt.Errorf("update notification %s: %w", n.ID, err)
		}
		writes = append(writes, w)
	}
	for _, id := range cur.WebhookIDs {
		if !keep[id] {
			writes = append(writes, types.TransactWriteItem{Delete: &types.Delete{
				TableName: &s.table, Key: primaryKey(n.TenantID, id),
				ConditionExpression: aws.String("notification_id = :nid"), ExpressionAttributeValues: nid,
			}})
		}
	}

	// Projects joined before the change and left after it: see subscriptions.go.
	if err := s.putMemberships(ctx, n.TenantID, n.ID, missingFrom(next.Projects, old.Projects)); err != nil {
		return notifications.Notification{}, fmt.Errorf("update notification %s: %w", n.ID, err)
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
	failed, ok := conditionFailed(err)
	switch {
	case err == nil:
		// The update stands whatever happens here: a membership left behind is one that
		// SubscriptionsForProject finds unconfirmed and ignores.
		_ = s.deleteMemberships(ctx, n.TenantID, n.ID, missingFrom(old.Projects, next.Projects))
		return next, nil
	case !ok:
		return notifications.Notification{}, fmt.Errorf("update notification %s: %w", n.ID, err)
	case failed[0]:
		if _, _, found, err := s.readNotification(ctx, n.TenantID, n.ID); err == nil && !found {
			return notifications.Notification{}, fmt.Errorf("update notification %s: %w", n.ID, notifications.ErrNotFound)
		}
		return notifications.Notification{}, fmt.Errorf("update notification %s at version %d: %w", n.ID, expectedVersion, notifications.ErrVersionConflict)
	}
	for i := range failed {
		if id, ok := created[i]; ok {
			return notifications.Notification{}, fmt.Errorf("update notification %s: webhook id %s: %w", n.ID, id, notifications.ErrExists)
		}
	}
	// A webhook changed under us (the delivery path disabled it): the caller must re-read.
	return notifications.Notification{}, fmt.Errorf("update notification %s: a webhook changed meanwhile: %w", n.ID, notifications.ErrVersionConflict)
}

// DeleteNotification deletes a notification and its webhooks in one transaction; ErrNotFound
// if the tenant has no such notification.
func (s *WebhookStore) DeleteNotification(ctx context.Context, tenant, id string) error {
	for attempt := 0; ; attempt++ {
		cur, _, found, err := s.readNotification(ctx, tenant, id)
		if err != nil {
			return fmt.Errorf("delete notification %s: %w", id, err)
		}
		if !found {
			return fmt.Errorf("delete notification %s: %w", id, notifications.ErrNotFound)
		}
		// Conditioned on the version read, so the webhooks deleted are all of them.
		writes := []types.TransactWriteItem{{Delete: &types.Delete{
			TableName: &s.table, Key: itemKey(tenantKey(tenant), notificationKey(id)),
			ConditionExpression:       aws.String("version = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": numberValue(cur.Version)},
		}}}
		for _, h := range cur.WebhookIDs {
			writes = append(writes, types.TransactWriteItem{Delete: &types.Delete{
				TableName: &s.table, Key: primaryKey(tenant, h),
				ConditionExpression:       aws.String("attribute_not_exists(pk) OR notification_id = :nid"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":nid": stringValue(id)},
			}})
		}
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
		_, ok := conditionFailed(err)
		switch {
		case err == nil:
			// A failure here leaves memberships that nothing confirms, which readers ignore.
			_ = s.deleteMemberships(ctx, tenant, id, cur.Projects)
			return nil
		case !ok:
			return fmt.Errorf("delete notification %s: %w", id, err)
		case attempt+1 == maxWriteAttempts:
			return fmt.Errorf("delete notification %s: changed by others %d times meanwhile: %w", id, maxWriteAttempts, notifications.ErrVersionConflict)
		}
	}
}
