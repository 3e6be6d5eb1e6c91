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
)

var _ delivery.HealthStore = (*WebhookStore)(nil)

// AddFailure implements delivery.HealthStore with one UpdateItem on the webhook's item, which
// returns the streak as it now stands.
func (s *WebhookStore) AddFailure(ctx context.Context, ref delivery.EndpointRef, at time.Time) (delivery.FailureStreak, error) {
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.table,
		Key:                 primaryKey(ref.TenantID, ref.WebhookID),
		UpdateExpression:    aws.String("SET failing_since = if_not_exists(failing_since, :at) ADD failures :one"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": &types.AttributeValueMemberS{Value: formatTime(at)}, ":one": &types.AttributeValueMemberN{Value: "1"},
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return delivery.FailureStreak{}, nil
	}
	if err != nil {
		return delivery.FailureStreak{}, fmt.Errorf("add a failure to webhook %s: %w", ref.WebhookID, err)
	}
	var got struct {
		FailingSince string `dynamodbav:"failing_since"`
		Failures     int    `dynamodbav:"failures"`
	}
	if err := attributevalue.UnmarshalMap(out.Attributes, &got); err != nil {
		return delivery.FailureStreak{}, fmt.Errorf("add a failure to webhook %s: %w", ref.WebhookID, err)
	}
	return delivery.FailureStreak{Since: parseOptionalTime(got.FailingSince), Failures: got.Failures}, nil
}

// RestartStreak implements delivery.HealthStore.
func (s *WebhookStore) RestartStreak(ctx context.Context, ref delivery.EndpointRef, since, at time.Time) error {
	return s.updateStreak(ctx, ref, since, "SET failing_since = :at, failures = :one", map[string]types.AttributeValue{
		":at": &types.AttributeValueMemberS{Value: formatTime(at)}, ":one": &types.AttributeValueMemberN{Value: "1"},
	})
}

// EndStreak implements delivery.HealthStore.
func (s *WebhookStore) EndStreak(ctx context.Context, ref delivery.EndpointRef, since time.Time) error {
	return s.updateStreak(ctx, ref, since, "REMOVE failing_since, failures", nil)
}

// updateStreak applies update to ref's streak if it still starts at since; a streak that
// moved on (or a webhook gone) is left as it is.
func (s *WebhookStore) updateStreak(ctx context.Context, ref delivery.EndpointRef, since time.Time, update string, values map[string]types.AttributeValue) error {
	if values == nil {
		values = map[string]types.AttributeValue{}
	}
	values[":since"] = &types.AttributeValueMemberS{Value: formatTime(since)}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       primaryKey(ref.TenantID, ref.WebhookID),
		UpdateExpression:          &update,
		ConditionExpression:       aws.String("failing_since = :since"),
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("update the failure streak of webhook %s: %w", ref.WebhookID, err)
	}
	return nil
}

// DisableFailing implements delivery.HealthStore.
func (s *WebhookStore) DisableFailing(ctx context.Context, ref delivery.EndpointRef, since time.Time, reason string) (delivery.DisabledWebhook, bool, error) {
	attrs, ok, err := s.disable(ctx, ref, reason, "enabled = :on AND failing_since = :since", map[string]types.AttributeValue{
		":on": &types.AttributeValueMemberBOOL{Value: true}, ":since": &types.AttributeValueMemberS{Value: formatTime(since)},
	})
	if err != nil || !ok {
		return delivery.DisabledWebhook{}, false, err
	}
	var it webhookItem
	if err := attributevalue.UnmarshalMap(attrs, &it); err != nil {
		return delivery.DisabledWebhook{}, false, fmt.Errorf("read disabled webhook %s: %w", ref.WebhookID, err)
	}
	return delivery.DisabledWebhook{
		TenantID: it.TenantID, WebhookID: it.WebhookID, NotificationID: it.NotificationID, OwnerID: it.OwnerID,
		URL: it.URL, AlertEmail: it.AlertEmail, Reason: it.DisabledReason, FailingSince: parseOptionalTime(it.FailingSince), Failures: it.Failures,
		DisabledAt: parseOptionalTime(it.UpdatedAt),
	}, true, nil
}
