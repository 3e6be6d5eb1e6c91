package parse_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/heraldhq/herald/events/activity"
	"github.com/heraldhq/herald/events/activity/parse"
	"github.com/heraldhq/herald/events/samples"
)

// FuzzDetail: a label or assignment event's detail, whatever it holds, is parsed or refused
// with a reason, never a panic; what it accepts names a tenant.
func FuzzDetail(f *testing.F) {
	for _, name := range []string{"label-submitted", "label-approved", "label-rejected", "label-edited", "task-assigned"} {
		raw, err := samples.Read("notify/" + name + ".json")
		if err != nil {
			f.Fatal(err)
		}
		var ev struct {
			DetailType string          `json:"detail-type"`
			Detail     json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			f.Fatal(err)
		}
		f.Add(slices.Index(activity.DetailTypes(), ev.DetailType), []byte(ev.Detail))
	}
	f.Add(1, []byte(`{"schema_version":1}`))
	types := activity.DetailTypes()
	f.Fuzz(func(t *testing.T, which int, detail []byte) {
		if which < 0 {
			which = -which
		}
		v, err := parse.Detail(types[which%len(types)], detail)
		if err != nil {
			return
		}
		switch d := v.(type) {
		case activity.LabelSubmitted:
			if d.TenantID == "" {
				t.Fatalf("accepted without a tenant: %s", detail)
			}
		case activity.LabelReviewed:
			if d.TenantID == "" {
				t.Fatalf("accepted without a tenant: %s", detail)
			}
		case activity.TaskAssigned:
			if d.TenantID == "" {
				t.Fatalf("accepted without a tenant: %s", detail)
			}
		}
	})
}
