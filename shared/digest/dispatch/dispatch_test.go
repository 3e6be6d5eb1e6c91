package dispatch_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/events/payloads"
	"github.com/heraldhq/herald/shared/digest/dispatch"
)

func TestPartsKeepWholeProjectsWithinTheLimit(t *testing.T) {
	end := time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)
	p := payloads.DigestPayload{Period: payloads.NewPeriod(end.Add(-24*time.Hour), end)}
	for i := range 100 {
		ps := payloads.ProjectStats{ProjectHash: fmt.Sprintf("p%03d", i), ReviewerStats: []payloads.ReviewerStats{}}
		for u := range 200 {
			ps.AnnotatorStats = append(ps.AnnotatorStats, payloads.AnnotatorStats{UserEmail: fmt.Sprintf("user%03d@example.com", u), SubmittedLabels: u})
		}
		p.ProjectsStats = append(p.ProjectsStats, ps)
	}
	parts := dispatch.Parts(p, dispatch.MaxEventBytes)
	if len(parts) < 2 {
		t.Fatalf("%d parts for a digest of %d bytes", len(parts), len(mustJSON(t, p)))
	}
	seen := 0
	for i, part := range parts {
		if part.Part == nil || part.Part.Number != i+1 || part.Part.Of != len(parts) || part.Period != p.Period {
			t.Fatalf("part %d: %+v %+v", i, part.Part, part.Period)
		}
		if n := len(mustJSON(t, part)); n > dispatch.MaxEventBytes+1024 {
			t.Fatalf("part %d has %d bytes, over %d", i, n, dispatch.MaxEventBytes)
		}
		for _, ps := range part.ProjectsStats {
			if ps.ProjectHash != fmt.Sprintf("p%03d", seen) || len(ps.AnnotatorStats) != 200 {
				t.Fatalf("part %d: project %s out of order or cut", i, ps.ProjectHash)
			}
			seen++
		}
	}
	if seen != 100 {
		t.Fatalf("%d projects in the parts, want 100", seen)
	}
	small := dispatch.Parts(payloads.DigestPayload{Period: p.Period, ProjectsStats: p.ProjectsStats[:1]}, dispatch.MaxEventBytes)
	if len(small) != 1 || small[0].Part != nil {
		t.Fatalf("a small digest: %d parts, part %+v", len(small), small[0].Part)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
