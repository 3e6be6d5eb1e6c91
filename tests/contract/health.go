package contract

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/heraldhq/herald/events/operational"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// HealthStore is a configuration store that keeps webhooks' failure streaks.
type HealthStore interface {
	ConfigStore
	delivery.HealthStore
}

// TestHealthStore runs the failure-streak contract against a fresh, empty store per subtest.
func TestHealthStore(t *testing.T, newStore func(t *testing.T) HealthStore) {
	ctx := context.Background()
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	create := func(t *testing.T, s HealthStore, tenant, id string) stagehooks.Webhook {
		t.Helper()
		w := NewWebhook(t, tenant, id, "p", "s", stagehooks.StageAnnotate, "https://a.example/"+id)
		mustCreate(t, s, w)
		return w
	}
	fail := func(t *testing.T, s HealthStore, r delivery.EndpointRef, at time.Time) delivery.FailureStreak {
		t.Helper()
		streak, err := s.AddFailure(ctx, r, at)
		if err != nil {
			t.Fatal(err)
		}
		return streak
	}
	failingSince := func(t *testing.T, s HealthStore, r delivery.EndpointRef) time.Time {
		t.Helper()
		eps, err := s.Endpoints(ctx, []delivery.EndpointRef{r})
		if err != nil {
			t.Fatal(err)
		}
		return eps[r].FailingSince
	}

	t.Run("failures build one streak that the endpoint shows and a success ends", func(t *testing.T) {
		s := newStore(t)
		create(t, s, "tenant-a", "wh_1")
		r := ref("tenant-a", "wh_1")
		if got := failingSince(t, s, r); !got.IsZero() {
			t.Fatalf("a new webhook is failing since %v", got)
		}
		for i := range 3 {
			got := fail(t, s, r, base.Add(time.Duration(i)*time.Hour))
			if !got.Since.Equal(base) || got.Failures != i+1 {
				t.Fatalf("failure %d: streak %+v, want since %v with %d failures", i+1, got, base, i+1)
			}
		}
		if got := failingSince(t, s, r); !got.Equal(base) {
			t.Fatalf("endpoint failing since %v, want %v", got, base)
		}
		// A success that read an older streak leaves the current one alone.
		if err := s.EndStreak(ctx, r, base.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := failingSince(t, s, r); !got.Equal(base) {
			t.Fatalf("a stale end changed the streak: failing since %v", got)
		}
		if err := s.EndStreak(ctx, r, base); err != nil {
			t.Fatal(err)
		}
		if got := failingSince(t, s, r); !got.IsZero() {
			t.Fatalf("after a success, failing since %v", got)
		}
		if got := fail(t, s, r, base.Add(48*time.Hour)); !got.Since.Equal(base.Add(48*time.Hour)) || got.Failures != 1 {
			t.Fatalf("the next failure after a success: %+v", got)
		}
	})

	t.Run("a restart begins the streak again only if it has not moved", func(t *testing.T) {
		s := newStore(t)
		create(t, s, "tenant-a", "wh_1")
		r := ref("tenant-a", "wh_1")
		fail(t, s, r, base)
		later := base.Add(30 * time.Hour)
		if err := s.RestartStreak(ctx, r, base.Add(time.Second), later); err != nil {
			t.Fatal(err)
		}
		if got := failingSince(t, s, r); !got.Equal(base) {
			t.Fatalf("a restart from another streak moved it to %v", got)
		}
		if err := s.RestartStreak(ctx, r, base, later); err != nil {
			t.Fatal(err)
		}
		if got := fail(t, s, r, later.Add(time.Minute)); !got.Since.Equal(later) || got.Failures != 2 {
			t.Fatalf("after the restart: %+v, want since %v with 2 failures", got, later)
		}
	})

	t.Run("a failing webhook is disabled once, with its reason, growing its version", func(t *testing.T) {
		s := newStore(t)
		w := create(t, s, "tenant-a", "wh_1")
		r := ref("tenant-a", "wh_1")
		for i := range 5 {
			fail(t, s, r, base.Add(time.Duration(i)*time.Hour))
		}
		if _, ok, err := s.DisableFailing(ctx, r, base.Add(time.Second), "x"); err != nil || ok {
			t.Fatalf("disable for another streak: ok %v, %v", ok, err)
		}
		reason := "every attempt failed"
		got, ok, err := s.DisableFailing(ctx, r, base, reason)
		if err != nil || !ok {
			t.Fatalf("disable: ok %v, %v", ok, err)
		}
		want := delivery.DisabledWebhook{TenantID: "tenant-a", WebhookID: "wh_1", OwnerID: w.OwnerID, URL: w.URL, Reason: reason,
			FailingSince: base, Failures: 5, DisabledAt: got.DisabledAt}
		if !got.FailingSince.Equal(base) || got.DisabledAt.IsZero() {
			t.Fatalf("disabled %+v", got)
		}
		got.FailingSince = base
		sameValue(t, "disabled webhook", got, want)
		stored, err := s.GetWebhook(ctx, "tenant-a", "wh_1")
		if err != nil || stored.Enabled || stored.DisabledReason != reason || stored.Version != w.Version+1 {
			t.Fatalf("stored after disable: %+v, %v", stored, err)
		}
		if _, ok, err := s.DisableFailing(ctx, r, base, reason); err != nil || ok {
			t.Fatalf("a second disable: ok %v, %v", ok, err)
		}
	})

	t.Run("disabling a notification's webhook grows the notification's version", func(t *testing.T) {
		s := newStore(t)
		n := NewNotification(t, "tenant-a", "ntf_1", "user-1", "QA", NewNotificationWebhook(t, "wh_n", "https://n.example/"))
		mustCreateNotification(t, s, n)
		r := ref("tenant-a", "wh_n")
		fail(t, s, r, base)
		got, ok, err := s.DisableFailing(ctx, r, base, "failing")
		if err != nil || !ok || got.NotificationID != "ntf_1" || got.URL != "https://n.example/" {
			t.Fatalf("disable: %+v, ok %v, %v", got, ok, err)
		}
		stored, err := s.GetNotification(ctx, "tenant-a", "ntf_1")
		if err != nil || stored.Version != n.Version+1 || stored.Channels.Webhooks[0].Enabled {
			t.Fatalf("notification after disable: %+v, %v", stored, err)
		}
		// Editing the notification, here to enable the webhook again, starts its health afresh.
		stored.Channels.Webhooks[0].Enabled = true
		if _, err := s.UpdateNotification(ctx, stored, stored.Version); err != nil {
			t.Fatal(err)
		}
		if got := failingSince(t, s, r); !got.IsZero() {
			t.Fatalf("after the notification's edit, failing since %v", got)
		}
	})

	t.Run("enabling a webhook again starts its health afresh", func(t *testing.T) {
		s := newStore(t)
		create(t, s, "tenant-a", "wh_1")
		r := ref("tenant-a", "wh_1")
		fail(t, s, r, base)
		fail(t, s, r, base.Add(time.Hour))
		if _, ok, err := s.DisableFailing(ctx, r, base, "failing"); err != nil || !ok {
			t.Fatalf("disable: ok %v, %v", ok, err)
		}
		stored, err := s.GetWebhook(ctx, "tenant-a", "wh_1")
		if err != nil {
			t.Fatal(err)
		}
		stored.Enabled = true
		if _, err := s.UpdateWebhook(ctx, stored, stored.Version); err != nil {
			t.Fatal(err)
		}
		if got := failingSince(t, s, r); !got.IsZero() {
			t.Fatalf("after enabling, failing since %v", got)
		}
		later := base.Add(7 * 24 * time.Hour)
		if got := fail(t, s, r, later); !got.Since.Equal(later) || got.Failures != 1 {
			t.Fatalf("the first failure after enabling: %+v", got)
		}
	})

	t.Run("streaks are the tenant's own, and a deleted webhook has none", func(t *testing.T) {
		s := newStore(t)
		create(t, s, "tenant-a", "wh_1")
		if got := fail(t, s, ref("tenant-b", "wh_1"), base); !got.Since.IsZero() {
			t.Fatalf("another tenant's failure made a streak: %+v", got)
		}
		if _, ok, err := s.DisableFailing(ctx, ref("tenant-b", "wh_1"), base, "x"); err != nil || ok {
			t.Fatalf("another tenant disabled it: ok %v, %v", ok, err)
		}
		if got := failingSince(t, s, ref("tenant-a", "wh_1")); !got.IsZero() {
			t.Fatalf("tenant-a's webhook failing since %v", got)
		}
		if got := fail(t, s, ref("tenant-a", "wh_gone"), base); !got.Since.IsZero() {
			t.Fatalf("a deleted webhook's streak: %+v", got)
		}
	})
}

// EndpointDisabledSchema compiles the schema of the "Herald Endpoint Disabled" detail.
func EndpointDisabledSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(operational.EndpointDisabledSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("endpoint-disabled.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("endpoint-disabled.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}
