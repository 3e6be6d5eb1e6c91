package dynamo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/shared/inbound"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/awsfixture"
)

// A tenant's inbound records spread over its shards' keys, and its list still reads every
// record once, newest first, page by page, and only the outcome asked for.
func TestATenantsInboundRecordsSpreadAndReadInOrder(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	db := b.Admin().DynamoDB
	s := dynamo.NewInbound(db, b.AttemptsTable)
	now := time.Now().UTC().Truncate(time.Millisecond)
	const records = 160
	for i := range records {
		outcome := inbound.NoMatch
		if i%4 == 0 {
			outcome = inbound.Rejected
		}
		r := inbound.Record{TenantID: "acme", EventID: fmt.Sprintf("ev-%03d", i), Router: inbound.RouterStageWebhooks,
			DetailType: "Task Stage Transition", Source: "encord.workflow", At: now.Add(time.Duration(i-records) * time.Millisecond), Outcome: outcome}
		if err := s.RecordInbound(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	used := 0
	for shard := range dynamo.LogShards {
		pk := "T#acme#IN"
		if shard > 0 {
			pk += fmt.Sprintf("#S%d", shard)
		}
		if n := len(queryPartition(ctx, t, db, b.AttemptsTable, pk)); n > 2*records/dynamo.LogShards {
			t.Errorf("%s holds %d of %d records", pk, n, records)
		} else if n > 0 {
			used++
		}
	}
	if used < dynamo.LogShards {
		t.Errorf("the records went to %d of %d keys", used, dynamo.LogShards)
	}

	for _, tc := range []struct {
		outcome inbound.Outcome
		want    int
	}{{"", records}, {inbound.Rejected, records / 4}} {
		var got []string
		q := inbound.Query{Outcome: tc.outcome, Page: stagehooks.PageRequest{Limit: 7}}
		for {
			page, err := s.ListInbound(ctx, "acme", q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Items {
				got = append(got, r.EventID)
			}
			if page.NextCursor == "" {
				break
			}
			q.Page.Cursor = page.NextCursor
		}
		if len(got) != tc.want {
			t.Fatalf("outcome %q: listed %d records, want %d", tc.outcome, len(got), tc.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i] >= got[i-1] {
				t.Fatalf("outcome %q: %s listed after %s: not newest first, or twice", tc.outcome, got[i], got[i-1])
			}
		}
	}
}
