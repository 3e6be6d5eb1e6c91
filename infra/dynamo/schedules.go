package dynamo

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/shared/digest"
)

// Digest schedules live in the webhooks table, beside their notification:
//
//	pk = "T#<tenant>"  sk = "DIGEST#<notification id>"   next_due (Unix ms), slots (slot key to
//	                                                      Unix ms), revision, lease_owner,
//	                                                      lease_until
//
// The sparse index "digests_due" (due_part = "DUE", next_due) holds every schedule: a run finds
// the due ones with one paged Query (next_due <= now), whatever the number of notifications.
// The index is eventually consistent, so a claim is conditional on next_due in the table
// itself: a schedule another run just advanced is refused, never sent twice.

// DigestsDueIndex is the name of the webhooks table's index of due digest schedules.
const DigestsDueIndex = "digests_due"

const (
	schedulePrefix = "DIGEST#"
	duePartition   = "DUE"
)

// Schedules is the digest.ScheduleStore over the webhooks table.
type Schedules struct {
	client *dynamodb.Client
	table  string
}

var _ digest.ScheduleStore = (*Schedules)(nil)

// NewSchedules returns the schedule store over table.
func NewSchedules(client *dynamodb.Client, table string) *Schedules {
	return &Schedules{client: client, table: table}
}

type scheduleItem struct {
	TenantID       string           `dynamodbav:"tenant_id"`
	NotificationID string           `dynamodbav:"notification_id"`
	NextDue        int64            `dynamodbav:"next_due"`
	Slots          map[string]int64 `dynamodbav:"slots"`
	Revision       int64            `dynamodbav:"revision"`
	LeaseOwner     string           `dynamodbav:"lease_owner"`
}

func (it scheduleItem) schedule() digest.Schedule {
	s := digest.Schedule{
		TenantID: it.TenantID, NotificationID: it.NotificationID, NextDue: time.UnixMilli(it.NextDue).UTC(), Slots: map[string]time.Time{},
		Revision: it.Revision, LeaseOwner: it.LeaseOwner,
	}
	for k, v := range it.Slots {
		s.Slots[k] = time.UnixMilli(v).UTC()
	}
	return s
}

func slotsValue(slots map[string]time.Time) types.AttributeValue {
	m := make(map[string]types.AttributeValue, len(slots))
	for k, t := range slots {
		m[k] = numberValue(t.UnixMilli())
	}
	return &types.AttributeValueMemberM{Value: m}
}

func scheduleKey(tenant, notificationID string) map[string]types.AttributeValue {
	return itemKey(tenantKey(tenant), schedulePrefix+notificationID)
}

// GetSchedule implements digest.ScheduleStore with a strongly consistent GetItem.
func (s *Schedules) GetSchedule(ctx context.Context, tenant, notificationID string) (digest.Schedule, bool, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: scheduleKey(tenant, notificationID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return digest.Schedule{}, false, fmt.Errorf("read digest schedule of %s: %w", notificationID, err)
	}
	if out.Item == nil {
		return digest.Schedule{}, false, nil
	}
	var it scheduleItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return digest.Schedule{}, false, fmt.Errorf("unmarshal digest schedule: %w", err)
	}
	return it.schedule(), true, nil
}

// PutSchedule implements digest.ScheduleStore with one UpdateItem that leaves a lease alone
// and bumps the revision.
func (s *Schedules) PutSchedule(ctx context.Context, sc digest.Schedule) error {
	if len(sc.Slots) == 0 {
		return s.DeleteSchedule(ctx, sc.TenantID, sc.NotificationID)
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: scheduleKey(sc.TenantID, sc.NotificationID),
		UpdateExpression: aws.String("SET tenant_id = :t, notification_id = :n, due_part = :due, next_due = :next, slots = :slots ADD revision :one"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": stringValue(sc.TenantID), ":n": stringValue(sc.NotificationID), ":due": stringValue(duePartition),
			":next": numberValue(sc.NextDue.UnixMilli()), ":slots": slotsValue(sc.Slots), ":one": numberValue(1),
		},
	})
	if err != nil {
		return fmt.Errorf("write digest schedule of %s: %w", sc.NotificationID, err)
	}
	return nil
}

// DeleteSchedule implements digest.ScheduleStore.
func (s *Schedules) DeleteSchedule(ctx context.Context, tenant, notificationID string) error {
	if _, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: scheduleKey(tenant, notificationID)}); err != nil {
		return fmt.Errorf("delete digest schedule of %s: %w", notificationID, err)
	}
	return nil
}

// Due implements digest.ScheduleStore: one paged Query of the due index.
func (s *Schedules) Due(ctx context.Context, now time.Time) iter.Seq2[digest.Schedule, error] {
	return func(yield func(digest.Schedule, error) bool) {
		p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
			TableName: &s.table, IndexName: aws.String(DigestsDueIndex),
			KeyConditionExpression: aws.String("due_part = :due AND next_due <= :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":due": stringValue(duePartition), ":now": numberValue(now.UnixMilli()),
			},
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield(digest.Schedule{}, fmt.Errorf("query due digest schedules: %w", err))
				return
			}
			var items []scheduleItem
			if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
				yield(digest.Schedule{}, fmt.Errorf("unmarshal digest schedules: %w", err))
				return
			}
			for _, it := range items {
				if !yield(it.schedule(), nil) {
					return
				}
			}
		}
	}
}

// Claim implements digest.ScheduleStore with one conditional UpdateItem, which returns the
// item as it claimed it.
func (s *Schedules) Claim(ctx context.Context, sc digest.Schedule, owner string, now, until time.Time) (digest.Schedule, bool, error) {
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: scheduleKey(sc.TenantID, sc.NotificationID),
		UpdateExpression:    aws.String("SET lease_owner = :owner, lease_until = :until"),
		ConditionExpression: aws.String("next_due = :next AND (attribute_not_exists(lease_until) OR lease_until <= :now)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": stringValue(owner), ":until": numberValue(until.UnixMilli()),
			":next": numberValue(sc.NextDue.UnixMilli()), ":now": numberValue(now.UnixMilli()),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if ok, err := conditional(err, "claim digest schedule of "+sc.NotificationID); !ok || err != nil {
		return digest.Schedule{}, false, err
	}
	var it scheduleItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &it); err != nil {
		return digest.Schedule{}, false, fmt.Errorf("unmarshal claimed digest schedule: %w", err)
	}
	return it.schedule(), true, nil
}

// Advance implements digest.ScheduleStore with one conditional UpdateItem.
func (s *Schedules) Advance(ctx context.Context, sc digest.Schedule, owner string) (bool, error) {
	// Items written before revisions were kept have none: revision 0.
	revision := "revision = :rev"
	if sc.Revision == 0 {
		revision = "attribute_not_exists(revision)"
	}
	values := map[string]types.AttributeValue{
		":next": numberValue(sc.NextDue.UnixMilli()), ":slots": slotsValue(sc.Slots), ":owner": stringValue(owner),
	}
	if sc.Revision != 0 {
		values[":rev"] = numberValue(sc.Revision)
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: scheduleKey(sc.TenantID, sc.NotificationID),
		UpdateExpression:          aws.String("SET next_due = :next, slots = :slots REMOVE lease_owner, lease_until"),
		ConditionExpression:       aws.String("lease_owner = :owner AND " + revision),
		ExpressionAttributeValues: values,
	})
	return conditional(err, "advance digest schedule of "+sc.NotificationID+" (lease "+strconv.Quote(owner)+")")
}

// conditional turns a conditional write's outcome into ok: false without an error when its
// condition failed.
func conditional(err error, what string) (bool, error) {
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ccf):
		return false, nil
	}
	return false, fmt.Errorf("%s: %w", what, err)
}
