package notifications

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/shared/stagehooks"
)

func valid() Notification {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	return Notification{
		ID: "notif_1", TenantID: "tenant-a", OwnerID: "user-1", Title: "Nightly QA digest", Projects: []string{"proj-1"},
		Channels: Channels{
			SlackChannels: []string{"C0123"},
			Emails:        []string{"qa@example.com"},
			Webhooks:      []Webhook{{ID: "nwh_1", URL: "https://n.example/1", Secrets: []string{"whsec_x"}, Enabled: true}},
		},
		Triggers: Triggers{
			Events:  []EventType{TaskSubmitted},
			Digests: []Digest{{TimesOfDay: []string{"09:00", "17:30"}, TimeZone: "Europe/London"}},
		},
		Version: 1, CreatedAt: at, UpdatedAt: at,
	}
}

func TestValidateAcceptsAFullNotification(t *testing.T) {
	t.Parallel()
	n := valid()
	n.Description = strings.Repeat("é", MaxDescription)
	n.Title = strings.Repeat("ü", MaxTitle)
	n.Triggers.Events = nil
	for _, c := range Catalogue() {
		n.Triggers.Events = append(n.Triggers.Events, c.Type)
	}
	n.Triggers.Digests = append(n.Triggers.Digests,
		Digest{TimesOfDay: []string{"00:00", "23:59"}, TimeZone: "UTC", Period: MinDigestPeriod},
		Digest{TimesOfDay: []string{"09:00"}, TimeZone: "Asia/Kolkata", Period: MaxDigestPeriod})
	for i := range MaxEmails - 1 {
		n.Channels.Emails = append(n.Channels.Emails, fmt.Sprintf("user%d@example.com", i))
	}
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
	// Only one channel and one trigger of any kind is enough.
	n = valid()
	n.Channels = Channels{Webhooks: n.Channels.Webhooks}
	n.Triggers = Triggers{Digests: n.Triggers.Digests}
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesEachFieldByItsJSONPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		field  string
		change func(n *Notification)
	}{
		{"id", func(n *Notification) { n.ID = "a#b" }},
		{"tenant_id", func(n *Notification) { n.TenantID = "" }},
		{"owner_id", func(n *Notification) { n.OwnerID = strings.Repeat("x", 129) }},
		{"title", func(n *Notification) { n.Title = "   " }},
		{"title", func(n *Notification) { n.Title = strings.Repeat("x", MaxTitle+1) }},
		{"title", func(n *Notification) { n.Title = "\xff" }},
		{"description", func(n *Notification) { n.Description = strings.Repeat("x", MaxDescription+1) }},
		{"projects", func(n *Notification) { n.Projects = nil }},
		{"projects[1]", func(n *Notification) { n.Projects = []string{"p", "p"} }},
		{"projects[0]", func(n *Notification) { n.Projects = []string{"has space"} }},
		{"channels", func(n *Notification) { n.Channels = Channels{} }},
		{"channels.slack_channels[1]", func(n *Notification) { n.Channels.SlackChannels = []string{"C1", "C1"} }},
		{"channels.emails[2]", func(n *Notification) { n.Channels.Emails = []string{"a@x.io", "b@x.io", "not an email"} }},
		{"channels.emails[0]", func(n *Notification) { n.Channels.Emails = []string{"QA Team <qa@example.com>"} }},
		{"channels.emails[0]", func(n *Notification) { n.Channels.Emails = []string{" qa@example.com"} }},
		{"channels.emails[1]", func(n *Notification) { n.Channels.Emails = []string{"qa@example.com", "QA@Example.com"} }},
		{"channels.emails", func(n *Notification) {
			n.Channels.Emails = nil
			for i := range MaxEmails + 1 {
				n.Channels.Emails = append(n.Channels.Emails, fmt.Sprintf("u%d@example.com", i))
			}
		}},
		{"channels.webhooks[0].url", func(n *Notification) { n.Channels.Webhooks[0].URL = "" }},
		{"channels.webhooks[0].secrets", func(n *Notification) { n.Channels.Webhooks[0].Secrets = nil }},
		{"channels.webhooks[0].id", func(n *Notification) { n.Channels.Webhooks[0].ID = "" }},
		{"channels.webhooks[1].id", func(n *Notification) {
			w := n.Channels.Webhooks[0]
			w.URL = "https://n.example/2"
			n.Channels.Webhooks = append(n.Channels.Webhooks, w)
		}},
		{"channels.webhooks[1].url", func(n *Notification) {
			w := n.Channels.Webhooks[0]
			w.ID = "nwh_2"
			n.Channels.Webhooks = append(n.Channels.Webhooks, w)
		}},
		{"channels.webhooks", func(n *Notification) {
			n.Channels.Webhooks = nil
			for i := range MaxWebhooks + 1 {
				n.Channels.Webhooks = append(n.Channels.Webhooks, Webhook{ID: fmt.Sprintf("w%d", i), URL: fmt.Sprintf("https://n.example/%d", i), Secrets: []string{"s"}})
			}
		}},
		{"triggers", func(n *Notification) { n.Triggers = Triggers{} }},
		{"triggers.events[0]", func(n *Notification) { n.Triggers.Events = []EventType{"task_exploded"} }},
		{"triggers.events[1]", func(n *Notification) { n.Triggers.Events = []EventType{TaskCompleted, TaskCompleted} }},
		{"triggers.digests[0].time_zone", func(n *Notification) { n.Triggers.Digests[0].TimeZone = "" }},
		{"triggers.digests[0].time_zone", func(n *Notification) { n.Triggers.Digests[0].TimeZone = "Mars/Olympus_Mons" }},
		{"triggers.digests[0].time_zone", func(n *Notification) { n.Triggers.Digests[0].TimeZone = "Local" }},
		{"triggers.digests[0].times_of_day[1]", func(n *Notification) { n.Triggers.Digests[0].TimesOfDay = []string{"09:00", "24:00"} }},
		{"triggers.digests[0].times_of_day[0]", func(n *Notification) { n.Triggers.Digests[0].TimesOfDay = []string{"9:00"} }},
		{"triggers.digests[0].times_of_day[1]", func(n *Notification) { n.Triggers.Digests[0].TimesOfDay = []string{"09:00", "09:00"} }},
		{"triggers.digests[0].times_of_day", func(n *Notification) { n.Triggers.Digests[0].TimesOfDay = nil }},
		{"triggers.digests[0].period", func(n *Notification) { n.Triggers.Digests[0].Period = 59 * time.Minute }},
		{"triggers.digests[0].period", func(n *Notification) { n.Triggers.Digests[0].Period = MaxDigestPeriod + time.Second }},
		{"triggers.digests[1]", func(n *Notification) {
			d := n.Triggers.Digests[0]
			d.TimesOfDay = []string{"17:30", "09:00"} // the same digest, times in another order
			d.Period = DefaultDigestPeriod            // and the default spelled out
			n.Triggers.Digests = append(n.Triggers.Digests, d)
		}},
	} {
		n := valid()
		tc.change(&n)
		err := n.Validate()
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.field, err)
			continue
		}
		fields := stagehooks.FieldErrors(err)
		if len(fields) != 1 || fields[0].Field != tc.field {
			t.Errorf("%s: field errors %v", tc.field, fields)
		}
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	n := valid()
	n.Title = ""
	n.Channels.Emails = []string{"ok@example.com", "nope"}
	n.Triggers.Digests[0].TimeZone = "Nowhere/Special"
	var got []string
	for _, fe := range stagehooks.FieldErrors(n.Validate()) {
		got = append(got, fe.Field)
	}
	if want := []string{"title", "channels.emails[1]", "triggers.digests[0].time_zone"}; !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	var fe *stagehooks.FieldError
	if !errors.As(n.Validate(), &fe) || fe.Field != "title" {
		t.Fatalf("errors.As finds %v, want the first field error", fe)
	}
}

func TestUpdatedKeepsIdentityAndDisabledReasons(t *testing.T) {
	t.Parallel()
	old := valid()
	old.Version = 4
	old.Channels.Webhooks = append(old.Channels.Webhooks,
		Webhook{ID: "nwh_2", URL: "https://n.example/2", Secrets: []string{"s"}, DisabledReason: "receiver answered 410 Gone"},
		Webhook{ID: "nwh_3", URL: "https://n.example/3", Secrets: []string{"s"}, DisabledReason: "receiver answered 410 Gone"})
	change := valid()
	change.ID, change.TenantID, change.OwnerID = "other", "tenant-b", "intruder"
	change.CreatedAt = time.Time{}
	change.Title = "Renamed"
	change.Triggers.Digests[0].Period = 0
	change.Channels.Webhooks = []Webhook{
		{ID: "nwh_2", URL: "https://n.example/2", Secrets: []string{"s"}, DisabledReason: "caller's"}, // still off
		{ID: "nwh_3", URL: "https://n.example/3", Secrets: []string{"s"}, Enabled: true},              // on again
		{ID: "nwh_4", URL: "https://n.example/4", Secrets: []string{"s"}, DisabledReason: "caller's"}, // new, off
	}
	change.UpdatedAt = time.Time{}
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	got := old.Updated(change, now)
	if got.ID != old.ID || got.TenantID != old.TenantID || got.OwnerID != old.OwnerID || !got.CreatedAt.Equal(old.CreatedAt) {
		t.Fatalf("identity changed: %+v", got)
	}
	if got.Title != "Renamed" || got.Version != 5 || !got.UpdatedAt.Equal(now) || got.UpdatedAt.Location() != time.UTC {
		t.Fatalf("update not applied: %+v", got)
	}
	if got.Triggers.Digests[0].Period != DefaultDigestPeriod || change.Triggers.Digests[0].Period != 0 {
		t.Fatalf("defaults: %v (the caller's copy: %v)", got.Triggers.Digests[0].Period, change.Triggers.Digests[0].Period)
	}
	var reasons []string
	for _, w := range got.Channels.Webhooks {
		reasons = append(reasons, w.DisabledReason)
	}
	if want := []string{"receiver answered 410 Gone", "", ""}; !slices.Equal(reasons, want) {
		t.Fatalf("disabled reasons %q, want %q", reasons, want)
	}
	if change.Channels.Webhooks[0].DisabledReason != "caller's" {
		t.Fatal("Updated changed the caller's webhooks")
	}
}

// The event path learns which webhooks are ordered from the Subscription alone, which lists
// them in the notification's order.
func TestSubscriptionTellsTheOrderedWebhooks(t *testing.T) {
	t.Parallel()
	n := valid()
	n.Channels.Webhooks = []Webhook{
		{ID: "nwh_1", URL: "https://n.example/1", Secrets: []string{"s"}, Enabled: true, Ordered: true},
		{ID: "nwh_2", URL: "https://n.example/2", Secrets: []string{"s"}, Enabled: true},
		{ID: "nwh_3", URL: "https://n.example/3", Secrets: []string{"s"}, Ordered: true},
	}
	sub := SubscriptionOf(n)
	if !slices.Equal(sub.WebhookIDs, []string{"nwh_1", "nwh_2", "nwh_3"}) || !slices.Equal(sub.OrderedWebhookIDs, []string{"nwh_1", "nwh_3"}) {
		t.Fatalf("webhooks %v, ordered %v", sub.WebhookIDs, sub.OrderedWebhookIDs)
	}
	for id, want := range map[string]bool{"nwh_1": true, "nwh_2": false, "nwh_3": true, "nwh_other": false} {
		if sub.Ordered(id) != want {
			t.Errorf("Ordered(%s) = %t, want %t", id, !want, want)
		}
	}
	if sub := SubscriptionOf(valid()); sub.OrderedWebhookIDs != nil || sub.Ordered("nwh_1") {
		t.Fatalf("a notification without ordered webhooks: %+v", sub)
	}
}

// A store rewrites a notification's webhook only when SameSettings says it changed, so every
// setting the API can change alone must count, or an update of only that setting is lost.
func TestSameSettingsSeesEverySetting(t *testing.T) {
	t.Parallel()
	base := Webhook{ID: "nwh_1", URL: "https://n.example/1", Secrets: []string{"s"}, Enabled: true}
	if !base.SameSettings(base) {
		t.Fatal("a webhook differs from itself")
	}
	for name, change := range map[string]func(*Webhook){
		"url":                        func(w *Webhook) { w.URL = "https://n.example/2" },
		"enabled":                    func(w *Webhook) { w.Enabled = false },
		"secrets":                    func(w *Webhook) { w.Secrets = []string{"t", "s"} },
		"previous_secret_expires_at": func(w *Webhook) { w.PreviousSecretExpiresAt = time.Now() },
		"rate_limit_per_second":      func(w *Webhook) { w.RateLimitPerSecond = 5 },
		"ordered":                    func(w *Webhook) { w.Ordered = true },
	} {
		w := base
		w.Secrets = slices.Clone(base.Secrets)
		change(&w)
		if base.SameSettings(w) || w.SameSettings(base) {
			t.Errorf("a change of %s counts as the same settings", name)
		}
	}
}

func TestCatalogueIsCompleteAndHonest(t *testing.T) {
	t.Parallel()
	seen := map[EventType]bool{}
	for _, e := range Catalogue() {
		if seen[e.Type] || e.Description == "" || e.Source == "" || !Known(e.Type) {
			t.Errorf("catalogue entry %+v", e)
		}
		seen[e.Type] = true
		if !e.Produced {
			t.Errorf("%s has no producer: every catalogued trigger must have one", e.Type)
		}
	}
	for _, typ := range []EventType{TaskSubmitted, TaskCompleted, LabelSubmitted, LabelApproved, LabelRejected, TaskAssigned} {
		if !seen[typ] {
			t.Errorf("%s is missing", typ)
		}
	}
	if Known("task_exploded") {
		t.Error("an unknown event type is known")
	}
}

func TestEventsOfTransitions(t *testing.T) {
	t.Parallel()
	stage := func(typ stagetransition.StageType) *stagetransition.Stage {
		return &stagetransition.Stage{UUID: "s-" + string(typ), Type: typ}
	}
	for _, tc := range []struct {
		from *stagetransition.Stage
		to   stagetransition.StageType
		want []EventType
	}{
		{nil, stagetransition.Annotate, nil},
		{stage(stagetransition.Annotate), stagetransition.Review, []EventType{TaskSubmitted}},
		{stage(stagetransition.ConsensusAnnotate), stagetransition.ConsensusReview, []EventType{TaskSubmitted}},
		{stage(stagetransition.Annotate), stagetransition.Complete, []EventType{TaskSubmitted, TaskCompleted}},
		{stage(stagetransition.Review), stagetransition.Complete, []EventType{TaskCompleted}},
		{stage(stagetransition.Review), stagetransition.StrictReview, nil},
		{stage(stagetransition.Review), stagetransition.Annotate, nil},
		{stage(stagetransition.Review), stagetransition.Archive, nil},
		{stage(stagetransition.Router), stagetransition.Complete, []EventType{TaskCompleted}},
		{stage(stagetransition.Agent), stagetransition.Review, nil},
	} {
		d := stagetransition.Detail{FromStage: tc.from, ToStage: stagetransition.Stage{UUID: "to", Type: tc.to}}
		if got := EventsOf(d); !slices.Equal(got, tc.want) {
			from := "nothing"
			if tc.from != nil {
				from = string(tc.from.Type)
			}
			t.Errorf("%s -> %s: %v, want %v", from, tc.to, got, tc.want)
		}
	}
}

func TestFieldErrorsWalksWrappedAndJoinedErrors(t *testing.T) {
	t.Parallel()
	a := &stagehooks.FieldError{Field: "a", Reason: "x"}
	b := &stagehooks.FieldError{Field: "b", Reason: "y"}
	err := fmt.Errorf("create: %w", errors.Join(a, fmt.Errorf("inner: %w", b), errors.New("other")))
	got := stagehooks.FieldErrors(err)
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("FieldErrors: %v", got)
	}
	if stagehooks.FieldErrors(nil) != nil {
		t.Fatal("FieldErrors(nil) is not empty")
	}
}
