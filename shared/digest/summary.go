package digest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/events/payloads"
)

// Summarise reads the activity of a tenant's projects in [from, to) and returns the
// digest_event payload: one entry per project, in the order given, each with its annotators
// and reviewers sorted by email. One read per project; memory grows with the users of a
// project, not with its activity.
func Summarise(ctx context.Context, store ActivityStore, tenant string, projects []string, from, to time.Time) (payloads.DigestPayload, error) {
	out := payloads.DigestPayload{Period: payloads.NewPeriod(from, to), ProjectsStats: make([]payloads.ProjectStats, 0, len(projects))}
	for _, project := range projects {
		var p projectTally
		for a, err := range store.ProjectActivity(ctx, tenant, project, from, to) {
			if err != nil {
				return payloads.DigestPayload{}, fmt.Errorf("read activity of project %s: %w", project, err)
			}
			p.add(a)
		}
		out.ProjectsStats = append(out.ProjectsStats, p.stats(project))
	}
	return out, nil
}

// Empty reports a digest without any activity.
func Empty(p payloads.DigestPayload) bool {
	for _, ps := range p.ProjectsStats {
		if len(ps.AnnotatorStats)+len(ps.ReviewerStats) > 0 {
			return false
		}
	}
	return true
}

type mean struct{ sum, n int64 }

func (m *mean) add(v int64) { m.sum += v; m.n++ }

func (m mean) value() *int64 {
	if m.n == 0 {
		return nil
	}
	v := int64(math.Round(float64(m.sum) / float64(m.n)))
	return &v
}

type annotatorTally struct {
	submitted, accepted, rejected int
	add, edit                     mean
}

type reviewerTally struct {
	approved, rejected int
	review             mean
}

type projectTally struct {
	annotators map[string]*annotatorTally
	reviewers  map[string]*reviewerTally
}

func (p *projectTally) annotator(email string) *annotatorTally {
	if p.annotators == nil {
		p.annotators = map[string]*annotatorTally{}
	}
	t, ok := p.annotators[email]
	if !ok {
		t = &annotatorTally{}
		p.annotators[email] = t
	}
	return t
}

func (p *projectTally) reviewer(email string) *reviewerTally {
	if p.reviewers == nil {
		p.reviewers = map[string]*reviewerTally{}
	}
	t, ok := p.reviewers[email]
	if !ok {
		t = &reviewerTally{}
		p.reviewers[email] = t
	}
	return t
}

func (p *projectTally) add(a Activity) {
	switch a.Kind {
	case KindLabelSubmitted:
		t := p.annotator(a.User)
		t.submitted++
		if a.Edit {
			t.edit.add(a.TimeSpentMS)
		} else {
			t.add.add(a.TimeSpentMS)
		}
	case KindLabelReviewed:
		r, t := p.reviewer(a.User), p.annotator(a.Annotator)
		r.review.add(a.TimeSpentMS)
		if a.Approved {
			r.approved++
			t.accepted++
		} else {
			r.rejected++
			t.rejected++
		}
	}
}

func (p *projectTally) stats(project string) payloads.ProjectStats {
	ps := payloads.ProjectStats{ProjectHash: project, AnnotatorStats: []payloads.AnnotatorStats{}, ReviewerStats: []payloads.ReviewerStats{}}
	for _, email := range sortedKeys(p.annotators) {
		t := p.annotators[email]
		s := payloads.AnnotatorStats{
			UserEmail: email, SubmittedLabels: t.submitted, AcceptedLabels: t.accepted, RejectedLabels: t.rejected,
			AvgTimeForAdd: t.add.value(), AvgTimeForEdit: t.edit.value(),
		}
		if reviewed := t.accepted + t.rejected; reviewed > 0 {
			rate := math.Round(float64(t.rejected)/float64(reviewed)*10000) / 10000
			s.RejectionRate = &rate
		}
		ps.AnnotatorStats = append(ps.AnnotatorStats, s)
	}
	for _, email := range sortedKeys(p.reviewers) {
		r := p.reviewers[email]
		ps.ReviewerStats = append(ps.ReviewerStats, payloads.ReviewerStats{
			UserEmail: email, ReviewedLabels: r.approved + r.rejected, ApprovedLabels: r.approved, RejectedLabels: r.rejected,
			AvgTimeForReview: r.review.value(),
		})
	}
	return ps
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}
