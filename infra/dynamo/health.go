package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/shared/delivery"
)

var _ delivery.HealthStore = (*WebhookStore)(nil)

// streakWriteInterval is how often one process writes a failure streak of one webhook. A
// webhook failing 5,000 deliveries a second would otherwise put 5,000 updates a second on its
// own item, five times what a DynamoDB partition takes; with this, each delivery instance adds
// at most one a second, carrying the failures it counted meanwhile.
const streakWriteInterval = time.Second

// maxTrackedStreaks bounds the streaks one process remembers; past it, it starts afresh,
// which costs a write per webhook and loses nothing.
const maxTrackedStreaks = 10_000

// streaks is what one process knows of the failure streaks it wrote: the streak the store
// last returned, failures counted since and not yet written, and the streak a success here
// already ended.
type streaks struct {
	mu   sync.Mutex
	refs map[delivery.EndpointRef]*streakState
}

type streakState struct {
	known   delivery.FailureStreak
	wroteAt time.Time
	pending int
	// writing is closed when the write in flight, if any, is done.
	writing chan struct{}
	// ended is the start of the streak this process last ended, at endedAt.
	ended, endedAt time.Time
}

func (c *streaks) state(ref delivery.EndpointRef) *streakState {
	if c.refs == nil || len(c.refs) >= maxTrackedStreaks {
		c.refs = map[delivery.EndpointRef]*streakState{}
	}
	st := c.refs[ref]
	if st == nil {
		st = &streakState{}
		c.refs[ref] = st
	}
	return st
}

// forget drops what this process knew of ref's streak after a change it cannot follow (a
// restart or a disable, which the store may or may not have applied), so that the next
// failure writes and reads the streak as it stands.
func (c *streaks) forget(ref delivery.EndpointRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.refs, ref)
}

// AddFailure implements delivery.HealthStore with one UpdateItem on the webhook's item, which
// returns the streak as it now stands; within streakWriteInterval of this process's last write
// of the streak, it counts the failure here instead and returns the streak with it, and the
// next write carries it. A count that was never written (the process stopped first) only
// lowers the figure in the disabled reason: the streak's start, which decides, was written.
func (s *WebhookStore) AddFailure(ctx context.Context, ref delivery.EndpointRef, at time.Time) (delivery.FailureStreak, error) {
	s.streaks.mu.Lock()
	st := s.streaks.state(ref)
	for st.writing != nil {
		// Failures that come while the streak is being written wait for it and count here.
		writing := st.writing
		s.streaks.mu.Unlock()
		select {
		case <-writing:
		case <-ctx.Done():
			return delivery.FailureStreak{}, fmt.Errorf("add a failure to webhook %s: %w", ref.WebhookID, ctx.Err())
		}
		s.streaks.mu.Lock()
		st = s.streaks.state(ref)
	}
	if !st.known.Since.IsZero() && time.Since(st.wroteAt) < streakWriteInterval {
		st.pending++
		streak := st.known
		streak.Failures += st.pending
		s.streaks.mu.Unlock()
		return streak, nil
	}
	add := 1 + st.pending
	writing := make(chan struct{})
	st.pending, st.wroteAt, st.writing = 0, time.Now(), writing
	s.streaks.mu.Unlock()

	streak, err := s.addFailures(ctx, ref, at, add)
	s.streaks.mu.Lock()
	defer s.streaks.mu.Unlock()
	close(writing)
	if s.streaks.refs[ref] != st {
		// Forgotten meanwhile: a restart, an end or a disable came first.
		return streak, err
	}
	st.writing = nil
	if err != nil {
		st.pending += add - 1
		st.wroteAt = time.Time{}
		return delivery.FailureStreak{}, err
	}
	st.known = streak
	return streak, nil
}

// addFailures adds n failures at at to ref's streak, starting one there if there is none.
func (s *WebhookStore) addFailures(ctx context.Context, ref delivery.EndpointRef, at time.Time, n int) (delivery.FailureStreak, error) {
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.table,
		Key:                 primaryKey(ref.TenantID, ref.WebhookID),
		UpdateExpression:    aws.String("SET failing_since = if_not_exists(failing_since, :at) ADD failures :n"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": &types.AttributeValueMemberS{Value: formatTime(at)}, ":n": &types.AttributeValueMemberN{Value: strconv.Itoa(n)},
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return delivery.FailureStreak{}, nil
	}
	if err != nil {
		return delivery.FailureStreak{}, fmt.Errorf("add %d failures to webhook %s: %w", n, ref.WebhookID, err)
	}
	var got struct {
		FailingSince string `dynamodbav:"failing_since"`
		Failures     int    `dynamodbav:"failures"`
	}
	if err := attributevalue.UnmarshalMap(out.Attributes, &got); err != nil {
		return delivery.FailureStreak{}, fmt.Errorf("add %d failures to webhook %s: %w", n, ref.WebhookID, err)
	}
	return delivery.FailureStreak{Since: parseOptionalTime(got.FailingSince), Failures: got.Failures}, nil
}

// RestartStreak implements delivery.HealthStore.
func (s *WebhookStore) RestartStreak(ctx context.Context, ref delivery.EndpointRef, since, at time.Time) error {
	s.streaks.forget(ref)
	_, err := s.changeStreak(ctx, ref, since, "SET failing_since = :at, failures = :one", map[string]types.AttributeValue{
		":at": &types.AttributeValueMemberS{Value: formatTime(at)}, ":one": &types.AttributeValueMemberN{Value: "1"},
	})
	return err
}

// streakEndInterval is how long after ending a webhook's streak this process leaves a newer
// one be. A hot webhook failing one delivery in three would otherwise start and end a streak
// with every batch, two writes each time. A streak left so is at most this much older than
// the webhook's last success, against the days its disabling waits for.
const streakEndInterval = 10 * time.Second

// EndStreak implements delivery.HealthStore. Every success that read the streak with its
// webhook asks to end it: this process ends each streak once, and within streakEndInterval of
// its last end of the webhook's streaks, leaves a newer one be.
func (s *WebhookStore) EndStreak(ctx context.Context, ref delivery.EndpointRef, since time.Time) error {
	s.streaks.mu.Lock()
	st := s.streaks.state(ref)
	if st.ended.Equal(since) || since.After(st.ended) && time.Since(st.endedAt) < streakEndInterval {
		s.streaks.mu.Unlock()
		return nil
	}
	// A new state, so that a failure being written meanwhile does not take this one for its.
	ended := &streakState{ended: since}
	s.streaks.refs[ref] = ended
	s.streaks.mu.Unlock()
	applied, err := s.changeStreak(ctx, ref, since, "REMOVE failing_since, failures", nil)
	if err != nil {
		s.streaks.forget(ref)
		return err
	}
	if applied {
		// Only an end that took place holds newer streaks back: one that found the streak
		// moved on ended nothing.
		s.streaks.mu.Lock()
		ended.endedAt = time.Now()
		s.streaks.mu.Unlock()
	}
	return nil
}

// changeStreak applies update to ref's streak if it still starts at since, and says whether
// it did; a streak that moved on (or a webhook gone) is left as it is.
func (s *WebhookStore) changeStreak(ctx context.Context, ref delivery.EndpointRef, since time.Time, update string, values map[string]types.AttributeValue) (applied bool, err error) {
	if values == nil {
		values = map[string]types.AttributeValue{}
	}
	values[":since"] = &types.AttributeValueMemberS{Value: formatTime(since)}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       primaryKey(ref.TenantID, ref.WebhookID),
		UpdateExpression:          &update,
		ConditionExpression:       aws.String("failing_since = :since"),
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("update the failure streak of webhook %s: %w", ref.WebhookID, err)
	}
	return true, nil
}

// DisableFailing implements delivery.HealthStore.
func (s *WebhookStore) DisableFailing(ctx context.Context, ref delivery.EndpointRef, since time.Time, reason string) (delivery.DisabledWebhook, bool, error) {
	// The disabled webhook, as its owner is told of it, shows every failure counted here.
	s.streaks.mu.Lock()
	pending := s.streaks.state(ref).pending
	s.streaks.mu.Unlock()
	if pending > 0 {
		applied, err := s.changeStreak(ctx, ref, since, "ADD failures :n", map[string]types.AttributeValue{
			":n": &types.AttributeValueMemberN{Value: strconv.Itoa(pending)},
		})
		if err != nil {
			return delivery.DisabledWebhook{}, false, err
		}
		if !applied {
			// The streak moved on: this one is not disabled, and the count stays for it.
			return delivery.DisabledWebhook{}, false, nil
		}
	}
	s.streaks.forget(ref)
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
