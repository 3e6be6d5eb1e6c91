package parse_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events/activity"
	"github.com/heraldhq/herald/events/activity/parse"
	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/events/stagetransition"
)

type envelope struct {
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

func readEnvelope(t *testing.T, name string) envelope {
	t.Helper()
	raw, err := samples.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	var ev envelope
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

func TestEverySampleParsesToItsType(t *testing.T) {
	names, err := samples.List("notify")
	if err != nil || len(names) == 0 {
		t.Fatalf("notify samples: %v %v", names, err)
	}
	seen := map[string]bool{}
	for _, name := range names {
		ev := readEnvelope(t, name)
		got, err := parse.Detail(ev.DetailType, ev.Detail)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		seen[ev.DetailType] = true
		switch d := got.(type) {
		case activity.LabelSubmitted:
			if ev.DetailType != activity.DetailLabelSubmitted || d.TenantID != "acme" || d.Annotator.Email == "" ||
				(d.Kind != activity.KindNew && d.Kind != activity.KindEdit) || d.TimeSpentMS <= 0 || d.OccurredAt.IsZero() {
				t.Errorf("%s decoded as %+v", name, d)
			}
		case activity.LabelReviewed:
			if ev.DetailType != activity.DetailLabelReviewed || d.Reviewer.Email == "" || d.Annotator.Email == "" || d.Reviewer == d.Annotator ||
				(d.Outcome != activity.OutcomeApproved && d.Outcome != activity.OutcomeRejected) {
				t.Errorf("%s decoded as %+v", name, d)
			}
		case activity.TaskAssigned:
			if ev.DetailType != activity.DetailTaskAssigned || d.Assignee.Email == "" || d.Stage.UUID == "" || d.AssignedBy == nil {
				t.Errorf("%s decoded as %+v", name, d)
			}
		default:
			t.Errorf("%s decoded as %T", name, got)
		}
	}
	for _, dt := range activity.DetailTypes() {
		if !seen[dt] {
			t.Errorf("no sample in events/samples/notify is a %q", dt)
		}
	}
}

func TestRejectedSamplesGiveTheirReason(t *testing.T) {
	raw, err := samples.Read("notify-rejected/expected-reasons.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]stagetransition.Reason
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	names, _ := samples.List("notify-rejected")
	if len(names) != len(want)+1 {
		t.Fatalf("%d samples but %d expected reasons: every sample needs one", len(names)-1, len(want))
	}
	for name, reason := range want {
		ev := readEnvelope(t, "notify-rejected/"+name)
		_, err := parse.Detail(ev.DetailType, ev.Detail)
		var inv *stagetransition.InvalidError
		if !errors.As(err, &inv) || inv.Reason != reason {
			t.Errorf("%s: %v, want reason %s", name, err, reason)
		}
	}
}

func TestUnknownDetailTypeIsRejected(t *testing.T) {
	_, err := parse.Detail("Task Priority Changed", []byte(`{}`))
	if stagetransition.ReasonOf(err) != stagetransition.ReasonWrongDetailType {
		t.Fatalf("got %v", err)
	}
}

func TestNotJSONAndNotObject(t *testing.T) {
	for raw, reason := range map[string]stagetransition.Reason{
		`{"schema_version":1,`: stagetransition.ReasonMalformedJSON,
		`"a string"`:           stagetransition.ReasonSchemaViolation,
		`[]`:                   stagetransition.ReasonSchemaViolation,
	} {
		_, err := parse.Detail(activity.DetailLabelSubmitted, []byte(raw))
		if got := stagetransition.ReasonOf(err); got != reason {
			t.Errorf("%s: reason %q (%v), want %q", raw, got, err, reason)
		}
	}
}

func TestOffsetsAreKept(t *testing.T) {
	ev := readEnvelope(t, "notify/label-submitted.json")
	detail := strings.Replace(string(ev.Detail), "+00:00", "+02:00", 1)
	got, err := parse.Detail(ev.DetailType, []byte(detail))
	if err != nil {
		t.Fatal(err)
	}
	at := got.(activity.LabelSubmitted).OccurredAt
	if want := time.Date(2024, 3, 25, 13, 18, 50, 112233000, time.UTC); !at.Equal(want) {
		t.Fatalf("occurred_at %v, want %v", at, want)
	}
}
