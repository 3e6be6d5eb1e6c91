package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/heraldhq/herald/events/payloads"
	"github.com/heraldhq/herald/shared/digest"
)

// activityEpoch has a millisecond part, the precision every store keeps. It is recent: activity
// older than digest.Retention is expired, and DynamoDB Local's TTL does delete it.
var activityEpoch = time.Now().UTC().Truncate(time.Hour).Add(-48*time.Hour + 250*time.Millisecond)

func submitted(tenant, project, id, annotator string, minute int, edit bool, ms int64) digest.Activity {
	return digest.Activity{
		ID: id, TenantID: tenant, ProjectHash: project, At: activityEpoch.Add(time.Duration(minute) * time.Minute),
		Kind: digest.KindLabelSubmitted, User: annotator, Edit: edit, TimeSpentMS: ms,
	}
}

func reviewed(tenant, project, id, reviewer, annotator string, minute int, approved bool, ms int64) digest.Activity {
	return digest.Activity{
		ID: id, TenantID: tenant, ProjectHash: project, At: activityEpoch.Add(time.Duration(minute) * time.Minute),
		Kind: digest.KindLabelReviewed, User: reviewer, Annotator: annotator, Approved: approved, TimeSpentMS: ms,
	}
}

// DigestSchema compiles the digest_event JSON Schema of events/payloads.
func DigestSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payloads.Schema(payloads.Digest)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("digest_event.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("digest_event.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestActivityStore runs the activity store contract, and the digest summary over it, against
// a fresh, empty store per subtest.
func TestActivityStore(t *testing.T, newStore func(t *testing.T) digest.ActivityStore) {
	ctx := context.Background()
	record := func(t *testing.T, s digest.ActivityStore, records ...digest.Activity) {
		t.Helper()
		if err := s.RecordActivity(ctx, records); err != nil {
			t.Fatal(err)
		}
	}
	read := func(t *testing.T, s digest.ActivityStore, tenant, project string, from, to time.Time) []digest.Activity {
		t.Helper()
		var out []digest.Activity
		for a, err := range s.ProjectActivity(ctx, tenant, project, from, to) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
		return out
	}
	ids := func(as []digest.Activity) []string {
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = a.ID
		}
		return out
	}

	t.Run("records read back with every field, in time order, start included and end excluded", func(t *testing.T) {
		s := newStore(t)
		a := submitted("tenant-a", "p1", "a", "ann@example.com", 0, true, 1500)
		b := reviewed("tenant-a", "p1", "b", "rev@example.com", "ann@example.com", 10, true, 700)
		c := submitted("tenant-a", "p1", "c", "ann@example.com", 20, false, 900)
		record(t, s, c, a, b)
		got := read(t, s, "tenant-a", "p1", a.At, c.At)
		if len(got) != 2 || got[0] != a || got[1] != b {
			t.Fatalf("read %+v\nwant %+v then %+v", got, a, b)
		}
		if got := read(t, s, "tenant-a", "p1", a.At.Add(time.Millisecond), c.At.Add(time.Millisecond)); fmt.Sprint(ids(got)) != "[b c]" {
			t.Fatalf("shifted period read %v", ids(got))
		}
	})

	t.Run("a record written twice is one; tenants and projects are apart", func(t *testing.T) {
		s := newStore(t)
		a := submitted("tenant-a", "p1", "a", "ann@example.com", 0, false, 100)
		record(t, s, a)
		record(t, s, a, submitted("tenant-b", "p1", "x", "ann@example.com", 0, false, 100), submitted("tenant-a", "p2", "y", "ann@example.com", 0, false, 100))
		from, to := activityEpoch.Add(-time.Hour), activityEpoch.Add(time.Hour)
		if got := read(t, s, "tenant-a", "p1", from, to); fmt.Sprint(ids(got)) != "[a]" {
			t.Fatalf("tenant-a p1 reads %v", ids(got))
		}
		if got := read(t, s, "tenant-b", "p1", from, to); fmt.Sprint(ids(got)) != "[x]" {
			t.Fatalf("tenant-b p1 reads %v", ids(got))
		}
	})

	t.Run("a long period reads every record once, page after page", func(t *testing.T) {
		s := newStore(t)
		var all []digest.Activity
		for i := range 2100 {
			// Three records share each instant, so pages also break between equal times.
			all = append(all, submitted("tenant-a", "p1", fmt.Sprintf("r%04d", i), "ann@example.com", i/3, false, 1))
		}
		record(t, s, all...)
		got := read(t, s, "tenant-a", "p1", activityEpoch, activityEpoch.Add(7*24*time.Hour))
		if len(got) != len(all) || !slices.Equal(ids(got), ids(all)) {
			t.Fatalf("read %d records, want %d in order", len(got), len(all))
		}
	})

	t.Run("the summary counts per annotator and reviewer, per project, and fits the schema", func(t *testing.T) {
		s := newStore(t)
		record(t, s,
			submitted("tenant-a", "p1", "s1", "ann@example.com", 0, false, 1000),
			submitted("tenant-a", "p1", "s2", "ann@example.com", 1, false, 2001),
			submitted("tenant-a", "p1", "s3", "ann@example.com", 2, true, 500),
			submitted("tenant-a", "p1", "s4", "bob@example.com", 3, true, 300),
			reviewed("tenant-a", "p1", "v1", "rev@example.com", "ann@example.com", 4, true, 100),
			reviewed("tenant-a", "p1", "v2", "rev@example.com", "ann@example.com", 5, false, 200),
			reviewed("tenant-a", "p1", "v3", "rev@example.com", "ann@example.com", 6, false, 400),
			reviewed("tenant-a", "p1", "v4", "rev@example.com", "carol@example.com", 7, true, 300),
			submitted("tenant-a", "p1", "late", "ann@example.com", 60*24, false, 9), // after the period
			submitted("tenant-b", "p1", "rival", "ann@example.com", 8, false, 9),    // another tenant's
		)
		from, to := activityEpoch, activityEpoch.Add(24*time.Hour)
		p, err := digest.Summarise(ctx, s, "tenant-a", []string{"p1", "p-quiet"}, from, to)
		if err != nil {
			t.Fatal(err)
		}
		ms := func(v int64) *int64 { return &v }
		rate := func(v float64) *float64 { return &v }
		want := payloads.DigestPayload{
			Period: payloads.NewPeriod(from, to),
			ProjectsStats: []payloads.ProjectStats{{
				ProjectHash: "p1",
				AnnotatorStats: []payloads.AnnotatorStats{
					{UserEmail: "ann@example.com", SubmittedLabels: 3, AcceptedLabels: 1, RejectedLabels: 2, AvgTimeForAdd: ms(1501), AvgTimeForEdit: ms(500), RejectionRate: rate(0.6667)},
					{UserEmail: "bob@example.com", SubmittedLabels: 1, AvgTimeForEdit: ms(300)},
					{UserEmail: "carol@example.com", AcceptedLabels: 1, RejectionRate: rate(0)},
				},
				ReviewerStats: []payloads.ReviewerStats{
					{UserEmail: "rev@example.com", ReviewedLabels: 4, ApprovedLabels: 2, RejectedLabels: 2, AvgTimeForReview: ms(250)},
				},
			}, {ProjectHash: "p-quiet", AnnotatorStats: []payloads.AnnotatorStats{}, ReviewerStats: []payloads.ReviewerStats{}}},
		}
		gotJSON, _ := json.Marshal(p)
		wantJSON, _ := json.Marshal(want)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Fatalf("summary\n got %s\nwant %s", gotJSON, wantJSON)
		}
		body, err := payloads.Marshal("5d0b7c52-0c7f-4a3c-9c55-0f4b2a1e6d3b", payloads.Digest, to, p)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := DigestSchema(t).Validate(doc); err != nil {
			t.Fatalf("digest_event does not fit its schema: %v\n%s", err, body)
		}
		if digest.Empty(p) {
			t.Fatal("a digest with activity reported empty")
		}
		quiet, err := digest.Summarise(ctx, s, "tenant-a", []string{"p-quiet"}, from, to)
		if err != nil || !digest.Empty(quiet) {
			t.Fatalf("a quiet project's digest: %+v, %v", quiet, err)
		}
	})
}
