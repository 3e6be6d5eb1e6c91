// Package contract is the behaviour every storage and queue adapter of Herald must show,
// written once and run against each implementation (DynamoDB and SQS on the local stand-ins
// today; the embedded single-machine adapters beside them), so that they cannot drift.
package contract

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// WebhookStore is the surface of a stage-webhook store the domain and the tests use.
type WebhookStore interface {
	stagehooks.TargetFinder
	delivery.EndpointStore
	CreateWebhook(ctx context.Context, w stagehooks.Webhook) error
	GetWebhook(ctx context.Context, tenant, id string) (stagehooks.Webhook, error)
}

// AttemptLog is the surface of a delivery log.
type AttemptLog interface {
	delivery.AttemptLog
	AttemptsOfDelivery(ctx context.Context, tenant, deliveryID string) ([]delivery.Attempt, error)
}

// NewWebhook returns a valid webhook for tests.
func NewWebhook(t testing.TB, tenant, id, project, stage string, typ stagehooks.StageType, url string) stagehooks.Webhook {
	t.Helper()
	secret, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	return stagehooks.Webhook{
		ID: id, TenantID: tenant, OwnerID: "user-1", ProjectHash: project, StageUUID: stage, StageType: typ,
		URL: url, Secrets: []string{secret}, Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
}

// TestWebhookStore runs the webhook-store contract against a fresh, empty store per subtest.
func TestWebhookStore(t *testing.T, newStore func(t *testing.T) WebhookStore) {
	ctx := context.Background()

	t.Run("create and get round-trips every field", func(t *testing.T) {
		s := newStore(t)
		w := NewWebhook(t, "tenant-a", "wh_1", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://example.com/hook")
		if err := s.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetWebhook(ctx, "tenant-a", "wh_1")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Fatalf("got  %+v\nwant %+v", got, w)
		}
	})

	t.Run("duplicate id in a tenant is refused", func(t *testing.T) {
		s := newStore(t)
		w := NewWebhook(t, "tenant-a", "wh_1", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://example.com/hook")
		if err := s.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateWebhook(ctx, w); !errors.Is(err, stagehooks.ErrExists) {
			t.Fatalf("second create with the same id: %v, want ErrExists", err)
		}
	})

	t.Run("invalid webhook is refused before storage", func(t *testing.T) {
		s := newStore(t)
		w := NewWebhook(t, "tenant-a", "wh_1", "proj-1", "stage-1", "review", "https://example.com/hook")
		if err := s.CreateWebhook(ctx, w); !errors.Is(err, stagehooks.ErrInvalid) {
			t.Fatalf("error %v, want ErrInvalid", err)
		}
		// The URL rule every webhook shares; a 60,000-byte URL was once saved.
		long := NewWebhook(t, "tenant-a", "wh_2", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://example.com/"+strings.Repeat("a", 60_000))
		if err := s.CreateWebhook(ctx, long); !errors.Is(err, stagehooks.ErrInvalid) {
			t.Fatalf("a 60,000-byte URL: %v, want ErrInvalid", err)
		}
	})

	t.Run("get is scoped to the tenant", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateWebhook(ctx, NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageAnnotate, "https://a.example/")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetWebhook(ctx, "tenant-b", "wh_1"); !errors.Is(err, stagehooks.ErrNotFound) {
			t.Fatalf("tenant-b reading tenant-a's webhook: %v, want ErrNotFound", err)
		}
		eps, err := s.Endpoints(ctx, []delivery.EndpointRef{{TenantID: "tenant-b", WebhookID: "wh_1"}})
		if err != nil || len(eps) != 0 {
			t.Fatalf("endpoints across tenants: %v, %v", eps, err)
		}
	})

	t.Run("targets of a stage are exactly its webhooks", func(t *testing.T) {
		s := newStore(t)
		for _, w := range []stagehooks.Webhook{
			NewWebhook(t, "tenant-a", "wh_1", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://a.example/1"),
			NewWebhook(t, "tenant-a", "wh_2", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://a.example/2"),
			NewWebhook(t, "tenant-a", "wh_3", "proj-1", "stage-2", stagehooks.StageComplete, "https://a.example/3"),
			NewWebhook(t, "tenant-a", "wh_4", "proj-2", "stage-1", stagehooks.StageAnnotate, "https://a.example/4"),
		} {
			if err := s.CreateWebhook(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		targets, err := s.TargetsForStage(ctx, "tenant-a", "proj-1", "stage-1")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, tg := range targets {
			if tg.TenantID != "tenant-a" || !tg.Enabled {
				t.Fatalf("target %+v", tg)
			}
			ids = append(ids, tg.WebhookID)
		}
		sort.Strings(ids)
		if fmt.Sprint(ids) != "[wh_1 wh_2]" {
			t.Fatalf("targets %v, want [wh_1 wh_2]", ids)
		}
		none, err := s.TargetsForStage(ctx, "tenant-a", "proj-9", "stage-1")
		if err != nil || len(none) != 0 {
			t.Fatalf("unknown stage: %v, %v", none, err)
		}
	})

	// The attack this guards against: tenant B registers a webhook on tenant A's project hash
	// and stage uuid (hashes are the platform's; anyone can name them) and waits for A's events.
	t.Run("targets of a stage are only the asking tenant's, on the same project and stage", func(t *testing.T) {
		s := newStore(t)
		for _, w := range []stagehooks.Webhook{
			NewWebhook(t, "tenant-a", "wh_a", "shared-proj", "shared-stage", stagehooks.StageAnnotate, "https://a.example/hook"),
			NewWebhook(t, "tenant-b", "wh_b", "shared-proj", "shared-stage", stagehooks.StageAnnotate, "https://b.example/hook"),
			// The same webhook id in both tenants: ids are only unique within a tenant.
			NewWebhook(t, "tenant-b", "wh_a", "shared-proj", "shared-stage", stagehooks.StageAnnotate, "https://b.example/other"),
		} {
			if err := s.CreateWebhook(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		for tenant, want := range map[string]string{"tenant-a": "[tenant-a/wh_a]", "tenant-b": "[tenant-b/wh_a tenant-b/wh_b]", "tenant-c": "[]"} {
			targets, err := s.TargetsForStage(ctx, tenant, "shared-proj", "shared-stage")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tg := range targets {
				got = append(got, tg.TenantID+"/"+tg.WebhookID)
			}
			sort.Strings(got)
			if fmt.Sprint(got) != want {
				t.Fatalf("targets of %s: %v, want %s", tenant, got, want)
			}
		}
	})

	t.Run("endpoints carry URL, secrets and state; missing ones are absent", func(t *testing.T) {
		s := newStore(t)
		w := NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageComplete, "https://a.example/hook?token=x")
		if err := s.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		refs := []delivery.EndpointRef{{TenantID: "tenant-a", WebhookID: "wh_1"}, {TenantID: "tenant-a", WebhookID: "wh_missing"}}
		eps, err := s.Endpoints(ctx, refs)
		if err != nil {
			t.Fatal(err)
		}
		ep, ok := eps[refs[0]]
		if !ok || ep.URL != w.URL || !ep.Enabled || fmt.Sprint(ep.Secrets) != fmt.Sprint(w.Secrets) {
			t.Fatalf("endpoint %+v (found %v), want URL, secrets and enabled of %+v", ep, ok, w)
		}
		if _, ok := eps[refs[1]]; ok || len(eps) != 1 {
			t.Fatalf("endpoints %v, want only wh_1", eps)
		}
	})

	t.Run("endpoints read more than one batch", func(t *testing.T) {
		s := newStore(t)
		var refs []delivery.EndpointRef
		for i := range 130 { // DynamoDB's BatchGetItem takes 100 keys
			id := fmt.Sprintf("wh_%03d", i)
			if err := s.CreateWebhook(ctx, NewWebhook(t, "tenant-a", id, "p", "s", stagehooks.StageAnnotate, "https://a.example/"+id)); err != nil {
				t.Fatal(err)
			}
			refs = append(refs, delivery.EndpointRef{TenantID: "tenant-a", WebhookID: id})
		}
		eps, err := s.Endpoints(ctx, refs)
		if err != nil || len(eps) != 130 {
			t.Fatalf("read %d of 130 endpoints: %v", len(eps), err)
		}
	})

	t.Run("disable turns a webhook off everywhere", func(t *testing.T) {
		s := newStore(t)
		w := NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageAnnotate, "https://a.example/")
		if err := s.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		ref := delivery.EndpointRef{TenantID: "tenant-a", WebhookID: "wh_1"}
		if err := s.DisableWebhook(ctx, ref, "receiver answered 410 Gone"); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetWebhook(ctx, "tenant-a", "wh_1")
		if err != nil || got.Enabled || got.DisabledReason == "" {
			t.Fatalf("after disable: %+v, %v", got, err)
		}
		targets, _ := s.TargetsForStage(ctx, "tenant-a", "p", "s")
		if len(targets) != 1 || targets[0].Enabled {
			t.Fatalf("targets after disable: %+v", targets)
		}
		eps, _ := s.Endpoints(ctx, []delivery.EndpointRef{ref})
		if eps[ref].Enabled {
			t.Fatal("endpoint still enabled")
		}
		if err := s.DisableWebhook(ctx, delivery.EndpointRef{TenantID: "tenant-a", WebhookID: "wh_gone"}, "x"); err != nil {
			t.Fatalf("disabling a deleted webhook: %v", err)
		}
	})
}

// TestAttemptLog runs the attempt-log contract against a fresh, empty log per subtest.
func TestAttemptLog(t *testing.T, newLog func(t *testing.T) AttemptLog) {
	ctx := context.Background()
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

	t.Run("attempts of a delivery come back in order with every field", func(t *testing.T) {
		l := newLog(t)
		var written []delivery.Attempt
		for i := 1; i <= 3; i++ {
			a := delivery.Attempt{
				TenantID: "tenant-a", WebhookID: "wh_1", DeliveryID: "d-1", EventType: "task_submitted_event",
				Number: i, At: base.Add(time.Duration(i) * time.Minute), StatusCode: 500, Latency: 42 * time.Millisecond,
				ErrorClass: delivery.ClassHTTP5xx, ResponseSnippet: "oops", Outcome: delivery.OutcomeRetrying,
				NextAttemptAt: base.Add(time.Hour), Payload: []byte(`{"uid":"d-1","version":1}`),
			}
			written = append(written, a)
		}
		written[2].StatusCode, written[2].ErrorClass, written[2].Outcome, written[2].NextAttemptAt = 200, delivery.ClassNone, delivery.OutcomeSucceeded, time.Time{}
		// Written out of order and together with another delivery's attempt.
		other := written[0]
		other.DeliveryID = "d-2"
		if err := l.RecordAttempts(ctx, []delivery.Attempt{written[2], written[0], other, written[1]}); err != nil {
			t.Fatal(err)
		}
		got, err := l.AttemptsOfDelivery(ctx, "tenant-a", "d-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("%d attempts, want 3", len(got))
		}
		for i := range got {
			if fmt.Sprint(got[i]) != fmt.Sprint(written[i]) {
				t.Fatalf("attempt %d\n got  %+v\n want %+v", i+1, got[i], written[i])
			}
		}
		if other, _ := l.AttemptsOfDelivery(ctx, "tenant-b", "d-1"); len(other) != 0 {
			t.Fatal("another tenant sees the attempts")
		}
	})

	t.Run("more attempts than one batch write", func(t *testing.T) {
		l := newLog(t)
		var many []delivery.Attempt
		for i := 1; i <= 60; i++ { // BatchWriteItem takes 25
			many = append(many, delivery.Attempt{TenantID: "t", WebhookID: "w", DeliveryID: "d-many", EventType: "e",
				Number: i, At: base.Add(time.Duration(i) * time.Second), Outcome: delivery.OutcomeRetrying})
		}
		if err := l.RecordAttempts(ctx, many); err != nil {
			t.Fatal(err)
		}
		got, err := l.AttemptsOfDelivery(ctx, "t", "d-many")
		if err != nil || len(got) != 60 {
			t.Fatalf("read %d of 60: %v", len(got), err)
		}
	})
}
