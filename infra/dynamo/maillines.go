package dynamo

// Email lines, in MailTable (template.yaml):
//
//	pk = "T#<tenant>#R#<address>"  sk = "STATE"       the recipient: seq (lines ever added),
//	                                                  claimed_window, lease_until, and
//	                                                  due_shard while a line is unsent
//	pk = "T#<tenant>#R#<address>"  sk = "L#<line id>" one line; once sent, kept without its
//	                                                  text, with sent_at and expires_at (TTL)
//
// The sparse index "pending" (due_shard, pk) lists the recipients with unsent lines: the
// mailer reads it with one paged Query per shard, never a Scan. Every key leads with the
// tenant, so the same address in two tenants is two recipients.

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/shared/mailbatch"
)

// Names of MailTable's parts the adapter relies on; a test holds the template to them.
const (
	PendingIndex = "pending"
	mailShards   = 16
	stateSK      = "STATE"
	lineSKPrefix = "L#"
)

// MailLines keeps email lines in DynamoDB.
type MailLines struct {
	client *dynamodb.Client
	table  string
}

var _ mailbatch.Store = (*MailLines)(nil)

// NewMailLines returns the store over table (MailTable).
func NewMailLines(client *dynamodb.Client, table string) *MailLines {
	return &MailLines{client: client, table: table}
}

func recipientPK(tenant, address string) string { return "T#" + tenant + "#R#" + address }

func dueShard(pk string) string {
	h := fnv.New32a()
	h.Write([]byte(pk))
	return "DUE#" + strconv.Itoa(int(h.Sum32()%mailShards))
}

type mailLineItem struct {
	PK                string `dynamodbav:"pk"`
	SK                string `dynamodbav:"sk"`
	TenantID          string `dynamodbav:"tenant_id"`
	Address           string `dynamodbav:"address"`
	NotificationID    string `dynamodbav:"notification_id"`
	NotificationTitle string `dynamodbav:"notification_title"`
	ProjectHash       string `dynamodbav:"project_hash"`
	EventType         string `dynamodbav:"event_type"`
	Text              string `dynamodbav:"text"`
	OccurredAt        string `dynamodbav:"occurred_at"`
	// AddedAt is absent from a line stored by a Herald that did not keep it.
	AddedAt string `dynamodbav:"added_at,omitempty"`
}

// AddLines implements mailbatch.Store: per line, one transaction of a Put that exists only
// if the line is new and an Update of the recipient's count and pending mark.
func (s *MailLines) AddLines(ctx context.Context, lines []mailbatch.Line) (int, error) {
	added, now := 0, time.Now()
	for _, l := range lines {
		pk := recipientPK(l.TenantID, l.Recipient)
		item, err := attributevalue.MarshalMap(mailLineItem{
			PK: pk, SK: lineSKPrefix + l.ID, TenantID: l.TenantID, Address: l.Recipient, NotificationID: l.NotificationID,
			NotificationTitle: l.NotificationTitle, ProjectHash: l.ProjectHash, EventType: l.EventType, Text: l.Text,
			OccurredAt: formatTime(l.OccurredAt), AddedAt: formatTime(cmp.Or(l.AddedAt, now)),
		})
		if err != nil {
			return added, fmt.Errorf("marshal email line %s: %w", l.ID, err)
		}
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			{Update: &types.Update{
				TableName:        &s.table,
				Key:              itemKey(pk, stateSK),
				UpdateExpression: aws.String("ADD seq :one SET due_shard = :shard, tenant_id = :tenant, address = :address"),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":one": numberValue(1), ":shard": stringValue(dueShard(pk)), ":tenant": stringValue(l.TenantID), ":address": stringValue(l.Recipient),
				},
			}},
		}})
		var cancelled *types.TransactionCanceledException
		if errors.As(err, &cancelled) && len(cancelled.CancellationReasons) > 0 && aws.ToString(cancelled.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
			continue // the same line, pending or sent
		}
		if err != nil {
			return added, fmt.Errorf("add email line %s: %w", l.ID, err)
		}
		added++
	}
	return added, nil
}

type pendingItem struct {
	TenantID string `dynamodbav:"tenant_id"`
	Address  string `dynamodbav:"address"`
}

// PendingRecipients implements mailbatch.Store: one paged Query of the pending index per
// shard, yielding as the pages come.
func (s *MailLines) PendingRecipients(ctx context.Context) iter.Seq2[mailbatch.Recipient, error] {
	return func(yield func(mailbatch.Recipient, error) bool) {
		for shard := range mailShards {
			p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
				TableName:                 &s.table,
				IndexName:                 aws.String(PendingIndex),
				KeyConditionExpression:    aws.String("due_shard = :shard"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":shard": stringValue("DUE#" + strconv.Itoa(shard))},
			})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					yield(mailbatch.Recipient{}, fmt.Errorf("query pending recipients of shard %d: %w", shard, err))
					return
				}
				var items []pendingItem
				if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
					yield(mailbatch.Recipient{}, fmt.Errorf("unmarshal pending recipients: %w", err))
					return
				}
				for _, it := range items {
					if !yield(mailbatch.Recipient{TenantID: it.TenantID, Address: it.Address}, nil) {
						return
					}
				}
			}
		}
	}
}

// Claim implements mailbatch.Store with one conditional UpdateItem. The claim carries a token
// of this call: when DynamoDB applies it but its answer is lost (a 500 or a timeout), the
// SDK's retry finds its own token and succeeds, instead of finding the recipient claimed and
// leaving it blocked for a whole lease.
func (s *MailLines) Claim(ctx context.Context, r mailbatch.Recipient, window int64, now, leaseUntil time.Time) (mailbatch.Claim, bool, error) {
	token := rand.Text()
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.table,
		Key:              itemKey(recipientPK(r.TenantID, r.Address), stateSK),
		UpdateExpression: aws.String("SET claimed_window = :w, lease_until = :lease, claim_token = :token"),
		ConditionExpression: aws.String("attribute_exists(pk) AND (claim_token = :token OR ((attribute_not_exists(claimed_window) OR claimed_window < :w) AND " +
			"(attribute_not_exists(lease_until) OR lease_until <= :now)))"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":w": numberValue(window), ":lease": numberValue(leaseUntil.UnixMilli()), ":now": numberValue(now.UnixMilli()),
			":token": stringValue(token),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return mailbatch.Claim{}, false, nil
	}
	if err != nil {
		return mailbatch.Claim{}, false, fmt.Errorf("claim window %d of a recipient: %w", window, err)
	}
	var state struct {
		Seq int64 `dynamodbav:"seq"`
	}
	if err := attributevalue.UnmarshalMap(out.Attributes, &state); err != nil {
		return mailbatch.Claim{}, false, fmt.Errorf("unmarshal a recipient's state: %w", err)
	}
	return mailbatch.Claim{Recipient: r, Window: window, Seq: state.Seq, LeaseUntil: leaseUntil}, true, nil
}

// PendingLines implements mailbatch.Store: one Query of the recipient's unsent lines (a
// recipient's partition is small: what arrived since their last email), sorted by time.
func (s *MailLines) PendingLines(ctx context.Context, r mailbatch.Recipient, limit int) ([]mailbatch.Line, error) {
	items, err := queryAll[mailLineItem](ctx, s.client, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :lines)"),
		FilterExpression:       aws.String("attribute_not_exists(sent_at)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": stringValue(recipientPK(r.TenantID, r.Address)), ":lines": stringValue(lineSKPrefix),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read a recipient's email lines: %w", err)
	}
	out := make([]mailbatch.Line, 0, len(items))
	for _, it := range items {
		at, err := time.Parse(time.RFC3339Nano, it.OccurredAt)
		if err != nil {
			return nil, fmt.Errorf("parse occurred_at of email line %s: %w", it.SK, err)
		}
		var addedAt time.Time
		if it.AddedAt != "" {
			if addedAt, err = time.Parse(time.RFC3339Nano, it.AddedAt); err != nil {
				return nil, fmt.Errorf("parse added_at of email line %s: %w", it.SK, err)
			}
		}
		out = append(out, mailbatch.Line{
			ID: it.SK[len(lineSKPrefix):], TenantID: it.TenantID, Recipient: it.Address, NotificationID: it.NotificationID,
			NotificationTitle: it.NotificationTitle, ProjectHash: it.ProjectHash, EventType: it.EventType, Text: it.Text, OccurredAt: at,
			AddedAt: addedAt,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].OccurredAt.Equal(out[j].OccurredAt) {
			return out[i].OccurredAt.Before(out[j].OccurredAt)
		}
		return out[i].ID < out[j].ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// MarkSent implements mailbatch.Store with UpdateItem only, the one write the mailer's role
// may make: each line loses its text and gets sent_at and expires_at, a few lines at a time,
// then the claim is settled.
func (s *MailLines) MarkSent(ctx context.Context, c mailbatch.Claim, lineIDs []string, allSent bool, sentAt time.Time) error {
	pk := recipientPK(c.Recipient.TenantID, c.Recipient.Address)
	if err := s.markLines(ctx, pk, lineIDs, sentAt); err != nil {
		return fmt.Errorf("mark %d email lines sent: %w", len(lineIDs), err)
	}
	if allSent {
		_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: itemKey(pk, stateSK),
			UpdateExpression:          aws.String("REMOVE lease_until, due_shard"),
			ConditionExpression:       aws.String("claimed_window = :w AND seq = :seq"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":w": numberValue(c.Window), ":seq": numberValue(c.Seq)},
		})
		var ccf *types.ConditionalCheckFailedException
		if err == nil {
			return nil
		}
		if !errors.As(err, &ccf) {
			return fmt.Errorf("settle a recipient's claim: %w", err)
		}
		// A line arrived since the claim, or a later claim took over: the recipient stays
		// pending, and the next claim that finds no line clears the mark.
	}
	return s.Release(ctx, c)
}

// markWorkers is how many lines MarkSent updates at once: UpdateItem has no batch form, and
// one at a time an email of 500 lines would take 500 round trips.
const markWorkers = 8

func (s *MailLines) markLines(ctx context.Context, pk string, ids []string, sentAt time.Time) error {
	values := map[string]types.AttributeValue{
		":sent": numberValue(sentAt.UnixMilli()), ":expires": numberValue(sentAt.Add(mailbatch.SentRetention).Unix()),
	}
	work := make(chan string)
	errs := make([]error, markWorkers)
	var wg sync.WaitGroup
	for w := range min(markWorkers, len(ids)) {
		wg.Go(func() {
			for id := range work {
				if errs[w] != nil {
					continue
				}
				_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName: &s.table, Key: itemKey(pk, lineSKPrefix+id),
					UpdateExpression:          aws.String("SET sent_at = :sent, expires_at = :expires REMOVE #text"),
					ExpressionAttributeNames:  map[string]string{"#text": "text"},
					ExpressionAttributeValues: values,
				})
				if err != nil {
					errs[w] = fmt.Errorf("line %s: %w", id, err)
				}
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	return errors.Join(errs...)
}

// Release implements mailbatch.Store. Only the claim's own lease ends: a claim whose lease
// ran out, released after another run claimed a later window, leaves that run's lease alone.
func (s *MailLines) Release(ctx context.Context, c mailbatch.Claim) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: itemKey(recipientPK(c.Recipient.TenantID, c.Recipient.Address), stateSK),
		UpdateExpression:          aws.String("REMOVE lease_until"),
		ConditionExpression:       aws.String("claimed_window = :w"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":w": numberValue(c.Window)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("release a recipient's claim: %w", err)
	}
	return nil
}
