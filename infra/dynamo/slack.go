package dynamo

// Slack channels live in the webhooks table beside the webhooks of their tenant:
//
//	pk = "T#<tenant>"  sk = "SLACK#<owner>#<channel id>"
//
// One item per channel a user connected. The id is slack.NewChannelID of the tenant, owner,
// Slack team and Slack channel, so re-connecting the same channel writes the same key and
// replaces the earlier item, with no read first and no race between two connects. Every read
// names tenant and owner in the key: a user's channels are one Query with begins_with on the
// owner's prefix (never a Scan), and no key reaches another user's or tenant's channels.
// The items carry no stage_key, so the by_stage index (and the router, which may read only
// that index) never sees them.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/shared/slack"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// SlackChannels keeps users' Slack channels in the webhooks table.
type SlackChannels struct {
	client *dynamodb.Client
	table  string
}

// NewSlackChannels returns a store over table, the webhooks table.
func NewSlackChannels(client *dynamodb.Client, table string) *SlackChannels {
	return &SlackChannels{client: client, table: table}
}

type slackChannelItem struct {
	PK               string `dynamodbav:"pk"`
	SK               string `dynamodbav:"sk"`
	ChannelKey       string `dynamodbav:"slack_channel_key"` // Herald's id; "channel_id" is Slack's
	TenantID         string `dynamodbav:"tenant_id"`
	OwnerID          string `dynamodbav:"owner_id"`
	TeamID           string `dynamodbav:"team_id"`
	TeamName         string `dynamodbav:"team_name,omitempty"`
	ChannelID        string `dynamodbav:"channel_id"`
	ChannelName      string `dynamodbav:"channel_name,omitempty"`
	WebhookURL       string `dynamodbav:"webhook_url,omitempty"`
	ConfigurationURL string `dynamodbav:"configuration_url,omitempty"`
	CreatedAt        string `dynamodbav:"created_at"`
	BrokenReason     string `dynamodbav:"broken_reason,omitempty"`
	BrokenAt         string `dynamodbav:"broken_at,omitempty"`
}

func slackOwnerPrefix(owner string) string { return "SLACK#" + owner + "#" }

func slackChannelKey(tenant, owner, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: tenantKey(tenant)},
		"sk": &types.AttributeValueMemberS{Value: slackOwnerPrefix(owner) + id},
	}
}

// slackKeyPart is what a tenant, owner or channel id must look like to be part of a key
// (slack.Channel.Validate enforces it on save). A read naming anything else finds nothing
// without asking DynamoDB, which would refuse a key part over its size limits.
var slackKeyPart = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// slackListAttributes are what ListChannels reads: every attribute but webhook_url. The
// listing feeds API responses, so the secret is never read on that path.
const slackListAttributes = "slack_channel_key, tenant_id, owner_id, team_id, team_name, channel_id, channel_name, configuration_url, created_at, broken_reason, broken_at"

func (it slackChannelItem) channel() (slack.Channel, error) {
	created, err := time.Parse(time.RFC3339Nano, it.CreatedAt)
	if err != nil {
		return slack.Channel{}, fmt.Errorf("parse created_at of slack channel %s: %w", it.ChannelKey, err)
	}
	ch := slack.Channel{
		ID: it.ChannelKey, TenantID: it.TenantID, OwnerID: it.OwnerID, TeamID: it.TeamID, TeamName: it.TeamName,
		ChannelID: it.ChannelID, ChannelName: it.ChannelName, WebhookURL: it.WebhookURL,
		ConfigurationURL: it.ConfigurationURL, CreatedAt: created, BrokenReason: it.BrokenReason,
	}
	if it.BrokenAt != "" {
		if ch.BrokenAt, err = time.Parse(time.RFC3339Nano, it.BrokenAt); err != nil {
			return slack.Channel{}, fmt.Errorf("parse broken_at of slack channel %s: %w", it.ChannelKey, err)
		}
	}
	return ch, nil
}

// SaveChannel stores ch, replacing the owner's earlier record of the same Slack channel.
func (s *SlackChannels) SaveChannel(ctx context.Context, ch slack.Channel) error {
	if err := ch.Validate(); err != nil {
		return err
	}
	item, err := attributevalue.MarshalMap(slackChannelItem{
		PK: tenantKey(ch.TenantID), SK: slackOwnerPrefix(ch.OwnerID) + ch.ID, ChannelKey: ch.ID,
		TenantID: ch.TenantID, OwnerID: ch.OwnerID, TeamID: ch.TeamID, TeamName: ch.TeamName,
		ChannelID: ch.ChannelID, ChannelName: ch.ChannelName, WebhookURL: ch.WebhookURL,
		ConfigurationURL: ch.ConfigurationURL, CreatedAt: ch.CreatedAt.UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		return fmt.Errorf("marshal slack channel %s: %w", ch.ID, err)
	}
	if _, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item}); err != nil {
		return fmt.Errorf("save slack channel %s: %w", ch.ID, err)
	}
	return nil
}

// ListChannels returns owner's channels in tenant, newest first, without their webhook URLs
// (as Public): the listing is for showing, GetChannels is for posting. A user has a handful
// of channels, so they are sorted here rather than kept in a time-ordered key.
func (s *SlackChannels) ListChannels(ctx context.Context, tenant, owner string) ([]slack.Channel, error) {
	if !slackKeyPart.MatchString(tenant) || !slackKeyPart.MatchString(owner) {
		return nil, nil
	}
	items, err := queryAll[slackChannelItem](ctx, s.client, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":     &types.AttributeValueMemberS{Value: tenantKey(tenant)},
			":prefix": &types.AttributeValueMemberS{Value: slackOwnerPrefix(owner)},
		},
		ProjectionExpression: aws.String(slackListAttributes),
		ConsistentRead:       aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("query slack channels of user %s: %w", owner, err)
	}
	var out []slack.Channel
	for _, it := range items {
		ch, err := it.channel()
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	sortSlackNewestFirst(out)
	return out, nil
}

// sortSlackNewestFirst orders channels by CreatedAt, newest first, and by id among equals, so
// both stores list in the same order.
func sortSlackNewestFirst(chs []slack.Channel) {
	sort.Slice(chs, func(i, j int) bool {
		if !chs[i].CreatedAt.Equal(chs[j].CreatedAt) {
			return chs[i].CreatedAt.After(chs[j].CreatedAt)
		}
		return chs[i].ID < chs[j].ID
	})
}

// GetChannels returns those of ids that are owner's channels in tenant, webhook URLs
// included, keyed by id: notifications resolve their channels here before posting. Ids that
// name nothing, or another user's or tenant's channel, are absent. One BatchGetItem per 100
// distinct ids.
func (s *SlackChannels) GetChannels(ctx context.Context, tenant, owner string, ids []string) (map[string]slack.Channel, error) {
	out := make(map[string]slack.Channel, len(ids))
	if !slackKeyPart.MatchString(tenant) || !slackKeyPart.MatchString(owner) {
		return out, nil
	}
	// BatchGetItem refuses a request that names a key twice.
	seen := make(map[string]bool, len(ids))
	var keys []map[string]types.AttributeValue
	for _, id := range ids {
		if !seen[id] && slackKeyPart.MatchString(id) {
			seen[id] = true
			keys = append(keys, slackChannelKey(tenant, owner, id))
		}
	}
	for start := 0; start < len(keys); start += batchGetLimit {
		chunk := keys[start:min(start+batchGetLimit, len(keys))]
		request := map[string]types.KeysAndAttributes{s.table: {Keys: chunk, ConsistentRead: aws.Bool(true)}}
		for round := 0; len(request) > 0; round++ {
			if round == maxUnprocessedRounds {
				return nil, fmt.Errorf("read slack channels of user %s: %d keys still unprocessed after %d rounds", owner, len(request[s.table].Keys), round)
			}
			if err := backoff(ctx, round); err != nil {
				return nil, err
			}
			res, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request})
			if err != nil {
				return nil, fmt.Errorf("read %d slack channels of user %s: %w", len(chunk), owner, err)
			}
			var items []slackChannelItem
			if err := attributevalue.UnmarshalListOfMaps(res.Responses[s.table], &items); err != nil {
				return nil, fmt.Errorf("unmarshal slack channels of user %s: %w", owner, err)
			}
			for _, it := range items {
				ch, err := it.channel()
				if err != nil {
					return nil, err
				}
				out[ch.ID] = ch
			}
			request = res.UnprocessedKeys
		}
	}
	return out, nil
}

// DeleteChannel removes one of owner's channels; stagehooks.ErrNotFound when owner has no
// channel with that id in tenant (including another user's channel).
func (s *SlackChannels) DeleteChannel(ctx context.Context, tenant, owner, id string) error {
	if !slackKeyPart.MatchString(tenant) || !slackKeyPart.MatchString(owner) || !slackKeyPart.MatchString(id) {
		return fmt.Errorf("delete slack channel %s: %w", id, stagehooks.ErrNotFound)
	}
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           &s.table,
		Key:                 slackChannelKey(tenant, owner, id),
		ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("delete slack channel %s: %w", id, stagehooks.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete slack channel %s: %w", id, err)
	}
	return nil
}

// MarkBroken records that Slack refuses posts to one of owner's channels, and why; the
// delivery path then stops posting to it. stagehooks.ErrNotFound when there is no such channel.
func (s *SlackChannels) MarkBroken(ctx context.Context, tenant, owner, id, reason string, at time.Time) error {
	if !slackKeyPart.MatchString(tenant) || !slackKeyPart.MatchString(owner) || !slackKeyPart.MatchString(id) {
		return fmt.Errorf("mark slack channel %s broken: %w", id, stagehooks.ErrNotFound)
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.table,
		Key:                 slackChannelKey(tenant, owner, id),
		UpdateExpression:    aws.String("SET broken_reason = :reason, broken_at = :at"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":reason": &types.AttributeValueMemberS{Value: reason},
			":at":     &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("mark slack channel %s broken: %w", id, stagehooks.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("mark slack channel %s broken: %w", id, err)
	}
	return nil
}
