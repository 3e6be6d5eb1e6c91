// Package digest summarises a notification's projects over a period: the activity the
// inbound events recorded, per annotator and reviewer, as the digest_event payload.
package digest

import (
	"context"
	"iter"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/events/activity"
)

// Kind is what an activity record counts.
type Kind string

const (
	// KindLabelSubmitted is an annotator's submission of a label, new or edited.
	KindLabelSubmitted Kind = "label_submitted"
	// KindLabelReviewed is a reviewer's approval or rejection of an annotator's label.
	KindLabelReviewed Kind = "label_reviewed"
)

// Activity is what a digest needs of one inbound event. Emails identify users, as the
// digest_event payload does.
type Activity struct {
	// ID is derived from the event's content, so an event delivered (or published) twice
	// makes one record.
	ID          string
	TenantID    string
	ProjectHash string
	At          time.Time
	Kind        Kind
	// User is the annotator of a submission, the reviewer of a review.
	User string
	// Annotator is the author of a reviewed label; empty for a submission.
	Annotator string
	// Edit is true for a submission that edited an existing label.
	Edit bool
	// Approved is a review's outcome.
	Approved    bool
	TimeSpentMS int64
}

// Retention is how long activity is kept: the longest digest period, and a day for a run
// that comes late.
const Retention = 8 * 24 * time.Hour

// ActivityStore keeps activity for Retention, by tenant and project.
type ActivityStore interface {
	// RecordActivity stores each record once: one with the ID (and time) of a stored one
	// replaces it with the same content.
	RecordActivity(ctx context.Context, records []Activity) error
	// ProjectActivity yields a project's records with At in [from, to), reading the store a
	// page at a time.
	ProjectActivity(ctx context.Context, tenant, project string, from, to time.Time) iter.Seq2[Activity, error]
}

var idNamespace = uuid.MustParse("0b9e4f2a-6c1d-4e8b-9a7f-3d2c1b0a9e8f")

func idOf(parts ...string) string {
	return uuid.NewSHA1(idNamespace, []byte(strings.Join(parts, "\x00"))).String()
}

// FromLabelSubmitted is the activity of a "Label Submitted" event.
func FromLabelSubmitted(d activity.LabelSubmitted) Activity {
	at := d.OccurredAt.UTC()
	return Activity{
		ID:       idOf(activity.DetailLabelSubmitted, d.TenantID, d.ProjectHash, d.LabelHash, d.Kind, d.Annotator.UserHash, at.Format(time.RFC3339Nano)),
		TenantID: d.TenantID, ProjectHash: d.ProjectHash, At: at, Kind: KindLabelSubmitted,
		User: d.Annotator.Email, Edit: d.Kind == activity.KindEdit, TimeSpentMS: d.TimeSpentMS,
	}
}

// FromLabelReviewed is the activity of a "Label Reviewed" event.
func FromLabelReviewed(d activity.LabelReviewed) Activity {
	at := d.OccurredAt.UTC()
	return Activity{
		ID:       idOf(activity.DetailLabelReviewed, d.TenantID, d.ProjectHash, d.LabelHash, d.Outcome, d.Reviewer.UserHash, at.Format(time.RFC3339Nano)),
		TenantID: d.TenantID, ProjectHash: d.ProjectHash, At: at, Kind: KindLabelReviewed,
		User: d.Reviewer.Email, Annotator: d.Annotator.Email, Approved: d.Outcome == activity.OutcomeApproved, TimeSpentMS: d.TimeSpentMS,
	}
}
