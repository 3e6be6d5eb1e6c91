package dynamo

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/shared/notifications"
)

// Project memberships say which notifications of a tenant cover a project:
//
//	pk = "T#<tenant>#P#<project>"  sk = "NOTIF#<notification id>"
//
// One partition per tenant and project, so the event path finds a project's notifications
// with one Query that names the event's tenant in its key: another tenant's notification on
// the same project hash is in another partition and cannot be read by it.
//
// Memberships are written around the notification's transaction, not inside it: a
// notification may list 100 projects, and a transaction holds at most 100 items. They are
// added before the transaction and removed after it, so a crash in between leaves a membership
// that the notification does not confirm, never a notification without its membership.
// SubscriptionsForProject reads the notifications back and keeps only those that list the
// project, so a stale membership costs a read and never a wrong match.

func membershipPartition(tenant, project string) string { return "T#" + tenant + "#P#" + project }

type membershipItem struct {
	PK             string `dynamodbav:"pk"`
	SK             string `dynamodbav:"sk"`
	TenantID       string `dynamodbav:"tenant_id"`
	NotificationID string `dynamodbav:"notification_id"`
}

// putMemberships records that the notification covers each of projects.
func (s *WebhookStore) putMemberships(ctx context.Context, tenant, id string, projects []string) error {
	writes := make([]types.WriteRequest, 0, len(projects))
	for _, p := range projects {
		item, err := attributevalue.MarshalMap(membershipItem{
			PK: membershipPartition(tenant, p), SK: notificationKey(id), TenantID: tenant, NotificationID: id,
		})
		if err != nil {
			return fmt.Errorf("marshal membership of notification %s in project %s: %w", id, p, err)
		}
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	if err := writeBatches(ctx, s.client, s.table, writes); err != nil {
		return fmt.Errorf("record projects of notification %s: %w", id, err)
	}
	return nil
}

// deleteMemberships removes the notification from each of projects.
func (s *WebhookStore) deleteMemberships(ctx context.Context, tenant, id string, projects []string) error {
	writes := make([]types.WriteRequest, 0, len(projects))
	for _, p := range projects {
		writes = append(writes, types.WriteRequest{DeleteRequest: &types.DeleteRequest{
			Key: itemKey(membershipPartition(tenant, p), notificationKey(id)),
		}})
	}
	if err := writeBatches(ctx, s.client, s.table, writes); err != nil {
		return fmt.Errorf("remove projects of notification %s: %w", id, err)
	}
	return nil
}

// missingFrom returns the items of a that b lacks.
func missingFrom(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// SubscriptionsForProject returns the notifications of tenant that cover project, in id order:
// one Query of the tenant's and project's memberships, then one BatchGetItem (per 100) of the
// notifications they name, which confirms each one.
func (s *WebhookStore) SubscriptionsForProject(ctx context.Context, tenant, project string) ([]notifications.Subscription, error) {
	members, err := queryAll[membershipItem](ctx, s.client, &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": stringValue(membershipPartition(tenant, project))},
	})
	if err != nil {
		return nil, fmt.Errorf("query notifications of tenant %s project %s: %w", tenant, project, err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	keys := make([]map[string]types.AttributeValue, len(members))
	for i, m := range members {
		keys[i] = itemKey(tenantKey(tenant), notificationKey(m.NotificationID))
	}
	raw, err := s.batchGet(ctx, keys, types.KeysAndAttributes{})
	if err != nil {
		return nil, fmt.Errorf("read notifications of tenant %s project %s: %w", tenant, project, err)
	}
	var items []notificationItem
	if err := attributevalue.UnmarshalListOfMaps(raw, &items); err != nil {
		return nil, fmt.Errorf("unmarshal notifications of tenant %s project %s: %w", tenant, project, err)
	}
	var out []notifications.Subscription
	for _, it := range items {
		if it.TenantID != tenant || !slices.Contains(it.Projects, project) {
			continue // a membership left behind by an interrupted update or delete
		}
		out = append(out, notifications.SubscriptionOf(fromNotificationItem(it, subscriptionHooks(it))))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NotificationID < out[j].NotificationID })
	return out, nil
}

// subscriptionHooks stands in for the items of a notification's webhooks with what its own
// item says of them, their ids and which are ordered: all that a Subscription carries, so the
// event path reads no webhook item (the delivery path reads those).
func subscriptionHooks(it notificationItem) map[string]webhookItem {
	hooks := make(map[string]webhookItem, len(it.WebhookIDs))
	for _, id := range it.WebhookIDs {
		hooks[id] = webhookItem{WebhookID: id, Ordered: slices.Contains(it.OrderedWebhookIDs, id)}
	}
	return hooks
}
