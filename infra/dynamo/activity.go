package dynamo

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/shared/digest"
)

// Activity table (keys mirror template.yaml):
//
//	pk = "T#<tenant>#P#<project>"  sk = "<UTC time, fixed width>#<activity id>"
//	expires_at                      DynamoDB TTL, epoch seconds
//
// A project's activity in a period is one paged Query of its partition with the period as a
// key condition: a digest reads one partition per project, never a Scan, and another tenant's
// project of the same hash is another partition. A record written twice (an inbound event
// delivered again) has the same key and overwrites itself.
type Activity struct {
	client *dynamodb.Client
	table  string
}

var _ digest.ActivityStore = (*Activity)(nil)

// NewActivity returns the activity store over table.
func NewActivity(client *dynamodb.Client, table string) *Activity {
	return &Activity{client: client, table: table}
}

type activityItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	ID          string `dynamodbav:"id"`
	TenantID    string `dynamodbav:"tenant_id"`
	ProjectHash string `dynamodbav:"project_hash"`
	At          int64  `dynamodbav:"at"` // Unix milliseconds
	Kind        string `dynamodbav:"kind"`
	User        string `dynamodbav:"user"`
	Annotator   string `dynamodbav:"annotator,omitempty"`
	Edit        bool   `dynamodbav:"edit,omitempty"`
	Approved    bool   `dynamodbav:"approved,omitempty"`
	TimeSpentMS int64  `dynamodbav:"time_spent_ms"`
	ExpiresAt   int64  `dynamodbav:"expires_at"`
}

func activityPartition(tenant, project string) string { return "T#" + tenant + "#P#" + project }

// activitySortTime is fixed width, so that string order is time order; a sort key is the
// time, then '#' and the id, so the bare time of a period's end sorts before every record at
// that instant.
func activitySortTime(t time.Time) string { return t.UTC().Format(sortableTime) }

// RecordActivity implements digest.ActivityStore with BatchWriteItem, 25 records a request.
func (s *Activity) RecordActivity(ctx context.Context, records []digest.Activity) error {
	writes := make([]types.WriteRequest, 0, len(records))
	for _, a := range records {
		at := a.At.UTC().Truncate(time.Millisecond)
		item, err := attributevalue.MarshalMap(activityItem{
			PK: activityPartition(a.TenantID, a.ProjectHash), SK: activitySortTime(at) + "#" + a.ID,
			ID: a.ID, TenantID: a.TenantID, ProjectHash: a.ProjectHash, At: at.UnixMilli(), Kind: string(a.Kind),
			User: a.User, Annotator: a.Annotator, Edit: a.Edit, Approved: a.Approved, TimeSpentMS: a.TimeSpentMS,
			ExpiresAt: at.Add(digest.Retention).Unix(),
		})
		if err != nil {
			return fmt.Errorf("marshal activity %s: %w", a.ID, err)
		}
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	if err := writeBatches(ctx, s.client, s.table, writes); err != nil {
		return fmt.Errorf("record %d activity records: %w", len(records), err)
	}
	return nil
}

// ProjectActivity implements digest.ActivityStore: one paged Query, the period as the sort
// key's range. Records expire a day after the longest period, so none in range has expired.
func (s *Activity) ProjectActivity(ctx context.Context, tenant, project string, from, to time.Time) iter.Seq2[digest.Activity, error] {
	return func(yield func(digest.Activity, error) bool) {
		p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
			TableName:              &s.table,
			KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": stringValue(activityPartition(tenant, project)), ":from": stringValue(activitySortTime(from)),
				":to": stringValue(activitySortTime(to)),
			},
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield(digest.Activity{}, fmt.Errorf("query activity of project %s: %w", project, err))
				return
			}
			var items []activityItem
			if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
				yield(digest.Activity{}, fmt.Errorf("unmarshal activity: %w", err))
				return
			}
			for _, it := range items {
				if !yield(digest.Activity{
					ID: it.ID, TenantID: it.TenantID, ProjectHash: it.ProjectHash, At: time.UnixMilli(it.At).UTC(), Kind: digest.Kind(it.Kind),
					User: it.User, Annotator: it.Annotator, Edit: it.Edit, Approved: it.Approved, TimeSpentMS: it.TimeSpentMS,
				}, nil) {
					return
				}
			}
		}
	}
}
