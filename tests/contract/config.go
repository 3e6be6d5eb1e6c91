package contract

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// ConfigStore is what the configuration API stores: stage webhooks with their whole CRUD,
// notifications with their webhooks, and the delivery path's reads of both.
type ConfigStore interface {
	WebhookStore
	ListWebhooks(ctx context.Context, tenant string, page stagehooks.PageRequest) (stagehooks.WebhookPage, error)
	UpdateWebhook(ctx context.Context, w stagehooks.Webhook, expectedVersion int64) (stagehooks.Webhook, error)
	DeleteWebhook(ctx context.Context, tenant, id string) error

	CreateNotification(ctx context.Context, n notifications.Notification) error
	GetNotification(ctx context.Context, tenant, id string) (notifications.Notification, error)
	ListNotifications(ctx context.Context, tenant string, q notifications.Query) (notifications.Page, error)
	UpdateNotification(ctx context.Context, n notifications.Notification, expectedVersion int64) (notifications.Notification, error)
	DeleteNotification(ctx context.Context, tenant, id string) error
	SubscriptionsForProject(ctx context.Context, tenant, project string) ([]notifications.Subscription, error)
}

// NewNotificationWebhook returns an enabled notification webhook with a fresh secret.
func NewNotificationWebhook(t testing.TB, id, url string) notifications.Webhook {
	t.Helper()
	secret, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return notifications.Webhook{ID: id, URL: url, Secrets: []string{secret}, Enabled: true}
}

// NewNotification returns a valid notification for tests: one project, one email, the
// given webhooks, one event and one daily digest.
func NewNotification(t testing.TB, tenant, id, owner, title string, hooks ...notifications.Webhook) notifications.Notification {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	return notifications.Notification{
		ID: id, TenantID: tenant, OwnerID: owner, Title: title, Projects: []string{"proj-1"},
		Channels: notifications.Channels{Emails: []string{"qa@example.com"}, Webhooks: hooks},
		Triggers: notifications.Triggers{
			Events:  []notifications.EventType{notifications.TaskSubmitted},
			Digests: []notifications.Digest{{TimesOfDay: []string{"09:00"}, TimeZone: "Europe/London", Period: 24 * time.Hour}},
		},
		Version: 1, CreatedAt: now, UpdatedAt: now,
	}
}

func ref(tenant, id string) delivery.EndpointRef {
	return delivery.EndpointRef{TenantID: tenant, WebhookID: id}
}

func mustCreate(t *testing.T, s ConfigStore, ws ...stagehooks.Webhook) {
	t.Helper()
	for _, w := range ws {
		if err := s.CreateWebhook(context.Background(), w); err != nil {
			t.Fatalf("create webhook %s: %v", w.ID, err)
		}
	}
}

func mustCreateNotification(t *testing.T, s ConfigStore, ns ...notifications.Notification) {
	t.Helper()
	for _, n := range ns {
		if err := s.CreateNotification(context.Background(), n); err != nil {
			t.Fatalf("create notification %s: %v", n.ID, err)
		}
	}
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: %v, want %v", what, err, kind)
	}
}

func sameValue(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
		t.Fatalf("%s\n got  %s\n want %s", what, g, w)
	}
}

// allWebhookIDs pages through a tenant's stage webhooks and returns the ids in order, and the
// size of each page.
func allWebhookIDs(t *testing.T, s ConfigStore, tenant string, limit int) (ids []string, sizes []int) {
	t.Helper()
	page := stagehooks.PageRequest{Limit: limit}
	for range 100 {
		res, err := s.ListWebhooks(context.Background(), tenant, page)
		if err != nil {
			t.Fatalf("list webhooks of %s after %v: %v", tenant, ids, err)
		}
		for _, w := range res.Items {
			ids = append(ids, w.ID)
		}
		sizes = append(sizes, len(res.Items))
		if res.NextCursor == "" {
			return ids, sizes
		}
		page.Cursor = res.NextCursor
	}
	t.Fatal("more than 100 pages")
	return nil, nil
}

// allNotificationIDs pages through a query's notifications.
func allNotificationIDs(t *testing.T, s ConfigStore, tenant string, q notifications.Query) (ids []string, sizes []int) {
	t.Helper()
	for range 100 {
		res, err := s.ListNotifications(context.Background(), tenant, q)
		if err != nil {
			t.Fatalf("list notifications of %s (%+v) after %v: %v", tenant, q, ids, err)
		}
		for _, n := range res.Items {
			ids = append(ids, n.ID)
		}
		sizes = append(sizes, len(res.Items))
		if res.NextCursor == "" {
			return ids, sizes
		}
		q.Page.Cursor = res.NextCursor
	}
	t.Fatal("more than 100 pages")
	return nil, nil
}

// TestConfigStore runs the configuration-store contract against a fresh, empty store per
// subtest.
func TestConfigStore(t *testing.T, newStore func(t *testing.T) ConfigStore) {
	ctx := context.Background()

	t.Run("update replaces what it may, keeps the rest and bumps the version", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := NewWebhook(t, "tenant-a", "wh_1", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://a.example/1")
		mustCreate(t, s, w)

		// The caller's copy also claims another owner, project, stage and creation time: an
		// update must not move a webhook or rewrite its history.
		change := w
		change.URL, change.Enabled, change.Ordered = "https://a.example/2", false, true
		change.Secrets = []string{"whsec_new", w.Secrets[0]}
		change.PreviousSecretExpiresAt = time.Now().UTC().Add(time.Hour).Truncate(time.Millisecond)
		change.OwnerID, change.ProjectHash, change.StageUUID, change.StageType = "intruder", "proj-9", "stage-9", stagehooks.StageComplete
		change.CreatedAt = w.CreatedAt.Add(-time.Hour)
		change.UpdatedAt = w.UpdatedAt.Add(time.Minute)
		got, err := s.UpdateWebhook(ctx, change, 1)
		if err != nil {
			t.Fatal(err)
		}
		want := w
		want.URL, want.Enabled, want.Secrets, want.PreviousSecretExpiresAt = change.URL, false, change.Secrets, change.PreviousSecretExpiresAt
		want.Ordered, want.Version, want.UpdatedAt = true, 2, change.UpdatedAt
		sameValue(t, "returned by update", got, want)
		stored, err := s.GetWebhook(ctx, "tenant-a", "wh_1")
		if err != nil {
			t.Fatal(err)
		}
		sameValue(t, "stored after update", stored, want)
		targets, err := s.TargetsForStage(ctx, "tenant-a", "proj-1", "stage-1")
		if err != nil || len(targets) != 1 || targets[0].Enabled || !targets[0].Ordered {
			t.Fatalf("targets after update: %+v, %v; want wh_1, disabled and ordered", targets, err)
		}

		// Without an UpdatedAt the store stamps its own clock.
		before := time.Now()
		change = stored
		change.UpdatedAt = time.Time{}
		change.Enabled = true
		got, err = s.UpdateWebhook(ctx, change, 2)
		if err != nil || got.Version != 3 || got.UpdatedAt.Before(before.Add(-time.Second)) || got.UpdatedAt.Location() != time.UTC {
			t.Fatalf("update without UpdatedAt: %+v, %v", got, err)
		}
	})

	t.Run("disable bumps the version; enabling again clears the reason", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageAnnotate, "https://a.example/")
		mustCreate(t, s, w)
		if err := s.DisableWebhook(ctx, ref("tenant-a", "wh_1"), "receiver answered 410 Gone"); err != nil {
			t.Fatal(err)
		}
		disabled, err := s.GetWebhook(ctx, "tenant-a", "wh_1")
		if err != nil || disabled.Version != 2 || disabled.Enabled || disabled.DisabledReason == "" {
			t.Fatalf("after disable: %+v, %v; want version 2, disabled with a reason", disabled, err)
		}
		// An update made from the version read before the disable must not enable it again
		// unseen.
		wantKind(t, "update from the version before the disable", func() error { _, err := s.UpdateWebhook(ctx, w, 1); return err }(), stagehooks.ErrVersionConflict)

		keepOff := disabled
		keepOff.URL = "https://a.example/moved"
		got, err := s.UpdateWebhook(ctx, keepOff, 2)
		if err != nil || got.DisabledReason != disabled.DisabledReason || got.Enabled {
			t.Fatalf("update that leaves it disabled: %+v, %v; want the reason kept", got, err)
		}
		on := got
		on.Enabled = true
		got, err = s.UpdateWebhook(ctx, on, 3)
		if err != nil || !got.Enabled || got.DisabledReason != "" || got.Version != 4 {
			t.Fatalf("enable: %+v, %v", got, err)
		}
		if stored, _ := s.GetWebhook(ctx, "tenant-a", "wh_1"); stored.DisabledReason != "" || !stored.Enabled {
			t.Fatalf("stored after enable: %+v", stored)
		}
		eps, err := s.Endpoints(ctx, []delivery.EndpointRef{ref("tenant-a", "wh_1")})
		if err != nil || !eps[ref("tenant-a", "wh_1")].Enabled || eps[ref("tenant-a", "wh_1")].URL != "https://a.example/moved" {
			t.Fatalf("endpoint after enable: %+v, %v", eps, err)
		}
	})

	// The router reads ordered from the stage lookup (on DynamoDB, the by_stage index's
	// projection) and the event path from the subscriptions, so both must see what the API
	// saved, and an update that changes only ordered must not be taken for no change.
	t.Run("ordered reaches the router and the event path, and an update changes it", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ordered := NewWebhook(t, "tenant-a", "wh_o", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://a.example/o")
		ordered.Ordered = true
		mustCreate(t, s, ordered, NewWebhook(t, "tenant-a", "wh_p", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://a.example/p"))
		stageOrdering := func(what string, want map[string]bool) {
			t.Helper()
			targets, err := s.TargetsForStage(ctx, "tenant-a", "proj-1", "stage-1")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, tg := range targets {
				got[tg.WebhookID] = tg.Ordered
			}
			sameValue(t, what+": targets' ordered", got, want)
			for id, o := range want {
				if w, err := s.GetWebhook(ctx, "tenant-a", id); err != nil || w.Ordered != o {
					t.Fatalf("%s: stored %s ordered=%t, %v; want %t", what, id, w.Ordered, err, o)
				}
			}
		}
		stageOrdering("after create", map[string]bool{"wh_o": true, "wh_p": false})
		for _, id := range []string{"wh_o", "wh_p"} {
			w, _ := s.GetWebhook(ctx, "tenant-a", id)
			w.Ordered = !w.Ordered
			if got, err := s.UpdateWebhook(ctx, w, w.Version); err != nil || got.Ordered != w.Ordered || got.Version != 2 {
				t.Fatalf("update of only ordered of %s: %+v, %v", id, got, err)
			}
		}
		stageOrdering("after update", map[string]bool{"wh_o": false, "wh_p": true})

		on := NewNotificationWebhook(t, "nwh_o", "https://n.example/o")
		on.Ordered = true
		n := NewNotification(t, "tenant-a", "notif_1", "user-1", "Ordered", on, NewNotificationWebhook(t, "nwh_p", "https://n.example/p"))
		mustCreateNotification(t, s, n)
		notificationOrdering := func(what, wantOrdered string) {
			t.Helper()
			got, err := s.GetNotification(ctx, "tenant-a", "notif_1")
			if err != nil {
				t.Fatal(err)
			}
			var stored []string
			for _, w := range got.Channels.Webhooks {
				if w.Ordered {
					stored = append(stored, w.ID)
				}
			}
			subs, err := s.SubscriptionsForProject(ctx, "tenant-a", "proj-1")
			if err != nil || len(subs) != 1 {
				t.Fatalf("%s: subscriptions %+v, %v", what, subs, err)
			}
			if fmt.Sprint(stored) != wantOrdered || fmt.Sprint(subs[0].OrderedWebhookIDs) != wantOrdered || fmt.Sprint(subs[0].WebhookIDs) != "[nwh_o nwh_p]" {
				t.Fatalf("%s: stored ordered %v, subscription's %v of %v; want %s of [nwh_o nwh_p]", what, stored, subs[0].OrderedWebhookIDs, subs[0].WebhookIDs, wantOrdered)
			}
		}
		notificationOrdering("after create", "[nwh_o]")
		change := n
		change.Channels.Webhooks = slices.Clone(n.Channels.Webhooks)
		change.Channels.Webhooks[0].Ordered, change.Channels.Webhooks[1].Ordered = false, true
		if _, err := s.UpdateNotification(ctx, change, 1); err != nil {
			t.Fatal(err)
		}
		notificationOrdering("after an update of only ordered", "[nwh_p]")
		// Nor is a change of only the rate limit taken for no change.
		change.Channels.Webhooks[0].RateLimitPerSecond = 9
		if _, err := s.UpdateNotification(ctx, change, 2); err != nil {
			t.Fatal(err)
		}
		if eps, err := s.Endpoints(ctx, []delivery.EndpointRef{ref("tenant-a", "nwh_o")}); err != nil || eps[ref("tenant-a", "nwh_o")].RateLimitPerSecond != 9 {
			t.Fatalf("rate limit after an update of only it: %+v, %v", eps, err)
		}
	})

	t.Run("a stale version is a conflict and changes nothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageAnnotate, "https://a.example/1")
		mustCreate(t, s, w)
		first := w
		first.URL = "https://a.example/first"
		if _, err := s.UpdateWebhook(ctx, first, 1); err != nil {
			t.Fatal(err)
		}
		second := w
		second.URL = "https://a.example/second"
		for _, v := range []int64{1, 3, 0} {
			_, err := s.UpdateWebhook(ctx, second, v)
			wantKind(t, fmt.Sprintf("update at version %d of a webhook at version 2", v), err, stagehooks.ErrVersionConflict)
		}
		if got, _ := s.GetWebhook(ctx, "tenant-a", "wh_1"); got.URL != first.URL || got.Version != 2 {
			t.Fatalf("after refused updates: %+v", got)
		}
	})

	t.Run("a URL is used once per stage of a tenant", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const url = "https://a.example/hook"
		mustCreate(t, s, NewWebhook(t, "tenant-a", "wh_1", "proj-1", "stage-1", stagehooks.StageAnnotate, url))
		wantKind(t, "same URL on the same stage", s.CreateWebhook(ctx, NewWebhook(t, "tenant-a", "wh_2", "proj-1", "stage-1", stagehooks.StageAnnotate, url)), stagehooks.ErrDuplicateURL)
		wantKind(t, "same id and same URL", s.CreateWebhook(ctx, NewWebhook(t, "tenant-a", "wh_1", "proj-1", "stage-1", stagehooks.StageAnnotate, url)), stagehooks.ErrExists)
		if _, err := s.GetWebhook(ctx, "tenant-a", "wh_2"); !errors.Is(err, stagehooks.ErrNotFound) {
			t.Fatalf("the refused webhook was stored: %v", err)
		}
		// Elsewhere the URL is free: another stage, another project, another tenant.
		mustCreate(t, s,
			NewWebhook(t, "tenant-a", "wh_3", "proj-1", "stage-2", stagehooks.StageComplete, url),
			NewWebhook(t, "tenant-a", "wh_4", "proj-2", "stage-1", stagehooks.StageAnnotate, url),
			NewWebhook(t, "tenant-b", "wh_1", "proj-1", "stage-1", stagehooks.StageAnnotate, url),
			NewWebhook(t, "tenant-a", "wh_5", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://a.example/other"),
		)
		// An update onto a taken URL is refused; the webhook keeps its own.
		w5, _ := s.GetWebhook(ctx, "tenant-a", "wh_5")
		onto := w5
		onto.URL = url
		_, err := s.UpdateWebhook(ctx, onto, 1)
		wantKind(t, "update onto a taken URL", err, stagehooks.ErrDuplicateURL)
		if got, _ := s.GetWebhook(ctx, "tenant-a", "wh_5"); got.URL != w5.URL || got.Version != 1 {
			t.Fatalf("after the refused update: %+v", got)
		}
		// Moving wh_1 away frees its URL; deleting wh_5 frees the other.
		w1, _ := s.GetWebhook(ctx, "tenant-a", "wh_1")
		moved := w1
		moved.URL = "https://a.example/moved"
		if _, err := s.UpdateWebhook(ctx, moved, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWebhook(ctx, "tenant-a", "wh_5"); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s,
			NewWebhook(t, "tenant-a", "wh_6", "proj-1", "stage-1", stagehooks.StageAnnotate, url),
			NewWebhook(t, "tenant-a", "wh_7", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://a.example/other"),
		)
		wantKind(t, "the moved URL is claimed", s.CreateWebhook(ctx, NewWebhook(t, "tenant-a", "wh_8", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://a.example/moved")), stagehooks.ErrDuplicateURL)
		// An update that keeps its URL is not a duplicate of itself.
		w6, _ := s.GetWebhook(ctx, "tenant-a", "wh_6")
		w6.Enabled = false
		if _, err := s.UpdateWebhook(ctx, w6, 1); err != nil {
			t.Fatalf("update keeping the URL: %v", err)
		}
	})

	t.Run("delete removes a webhook from every read", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustCreate(t, s,
			NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageAnnotate, "https://a.example/1"),
			NewWebhook(t, "tenant-a", "wh_2", "p", "s", stagehooks.StageAnnotate, "https://a.example/2"),
		)
		if err := s.DeleteWebhook(ctx, "tenant-a", "wh_1"); err != nil {
			t.Fatal(err)
		}
		wantKind(t, "get after delete", func() error { _, err := s.GetWebhook(ctx, "tenant-a", "wh_1"); return err }(), stagehooks.ErrNotFound)
		wantKind(t, "second delete", s.DeleteWebhook(ctx, "tenant-a", "wh_1"), stagehooks.ErrNotFound)
		wantKind(t, "delete of a webhook never created", s.DeleteWebhook(ctx, "tenant-a", "wh_never"), stagehooks.ErrNotFound)
		_, err := s.UpdateWebhook(ctx, NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageAnnotate, "https://a.example/1"), 1)
		wantKind(t, "update after delete", err, stagehooks.ErrNotFound)
		if targets, _ := s.TargetsForStage(ctx, "tenant-a", "p", "s"); len(targets) != 1 || targets[0].WebhookID != "wh_2" {
			t.Fatalf("targets after delete: %+v", targets)
		}
		if eps, _ := s.Endpoints(ctx, []delivery.EndpointRef{ref("tenant-a", "wh_1"), ref("tenant-a", "wh_2")}); len(eps) != 1 {
			t.Fatalf("endpoints after delete: %+v", eps)
		}
		if ids, _ := allWebhookIDs(t, s, "tenant-a", 0); fmt.Sprint(ids) != "[wh_2]" {
			t.Fatalf("list after delete: %v", ids)
		}
		// The id is free again.
		mustCreate(t, s, NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageAnnotate, "https://a.example/1"))
	})

	t.Run("another tenant can neither see nor change a webhook", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageAnnotate, "https://a.example/1")
		mustCreate(t, s, w)
		foreign := w
		foreign.TenantID, foreign.URL = "tenant-b", "https://evil.example/"
		_, err := s.UpdateWebhook(ctx, foreign, 1)
		wantKind(t, "tenant-b updating tenant-a's webhook", err, stagehooks.ErrNotFound)
		wantKind(t, "tenant-b deleting tenant-a's webhook", s.DeleteWebhook(ctx, "tenant-b", "wh_1"), stagehooks.ErrNotFound)
		res, err := s.ListWebhooks(ctx, "tenant-b", stagehooks.PageRequest{})
		if err != nil || len(res.Items) != 0 || res.NextCursor != "" {
			t.Fatalf("tenant-b's list: %+v, %v", res, err)
		}
		got, err := s.GetWebhook(ctx, "tenant-a", "wh_1")
		if err != nil {
			t.Fatal(err)
		}
		sameValue(t, "tenant-a's webhook after tenant-b's attempts", got, w)
	})

	t.Run("list pages through stage webhooks in id order", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		// Scenario: 45 stage webhooks in tenant-a, with a notification's webhooks between them
		// in id order (a store filtering them out must still fill every page) and another
		// tenant's webhooks beside them.
		var want []string
		for i := range 45 {
			id := fmt.Sprintf("wh_%03d", i)
			want = append(want, id)
			mustCreate(t, s, NewWebhook(t, "tenant-a", id, "proj-1", "stage-1", stagehooks.StageAnnotate, "https://a.example/"+id))
		}
		var hooks []notifications.Webhook
		for i := range notifications.MaxWebhooks {
			id := fmt.Sprintf("wh_%03d_n", i*4)
			hooks = append(hooks, NewNotificationWebhook(t, id, "https://n.example/"+id))
		}
		mustCreateNotification(t, s, NewNotification(t, "tenant-a", "notif_1", "user-1", "Nightly", hooks...))
		for i := range 3 {
			id := fmt.Sprintf("wh_%03d", i)
			mustCreate(t, s, NewWebhook(t, "tenant-b", id, "proj-1", "stage-1", stagehooks.StageAnnotate, "https://b.example/"+id))
		}

		ids, sizes := allWebhookIDs(t, s, "tenant-a", 20)
		if !slices.Equal(ids, want) || fmt.Sprint(sizes) != "[20 20 5]" {
			t.Fatalf("pages of 20: sizes %v, ids %v", sizes, ids)
		}
		if ids, sizes := allWebhookIDs(t, s, "tenant-a", 0); !slices.Equal(ids, want) || fmt.Sprint(sizes) != "[20 20 5]" {
			t.Fatalf("default page size: sizes %v, want [20 20 5]", sizes)
		}
		if ids, sizes := allWebhookIDs(t, s, "tenant-a", 45); !slices.Equal(ids, want) || fmt.Sprint(sizes) != "[45]" {
			t.Fatalf("a page exactly as long as the list: sizes %v, want [45] and no cursor", sizes)
		}
		if ids, sizes := allWebhookIDs(t, s, "tenant-a", 100); !slices.Equal(ids, want) || fmt.Sprint(sizes) != "[45]" {
			t.Fatalf("limit 100: sizes %v", sizes)
		}
		if ids, _ := allWebhookIDs(t, s, "tenant-b", 2); fmt.Sprint(ids) != "[wh_000 wh_001 wh_002]" {
			t.Fatalf("tenant-b's webhooks: %v", ids)
		}
		if ids, sizes := allWebhookIDs(t, s, "tenant-c", 0); len(ids) != 0 || fmt.Sprint(sizes) != "[0]" {
			t.Fatalf("empty tenant: %v %v", ids, sizes)
		}
		first, err := s.ListWebhooks(ctx, "tenant-a", stagehooks.PageRequest{Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		sameValue(t, "listed webhook", first.Items[0], func() stagehooks.Webhook { w, _ := s.GetWebhook(ctx, "tenant-a", "wh_000"); return w }())

		for _, limit := range []int{-1, 101} {
			_, err := s.ListWebhooks(ctx, "tenant-a", stagehooks.PageRequest{Limit: limit})
			wantKind(t, fmt.Sprintf("limit %d", limit), err, stagehooks.ErrInvalid)
		}
		notifCursor := stagehooks.EncodeCursor("tenant-a", stagehooks.ListNotifications, "wh_010")
		for name, cursor := range map[string]string{
			"tenant-a's cursor used by tenant-b": first.NextCursor,
			"not base64":                         "!!!",
			"base64 of garbage":                  "Z2FyYmFnZQ",
			"a notification list's cursor":       notifCursor,
		} {
			tenant := "tenant-a"
			if strings.Contains(name, "tenant-b") {
				tenant = "tenant-b"
			}
			_, err := s.ListWebhooks(ctx, tenant, stagehooks.PageRequest{Cursor: cursor})
			wantKind(t, name, err, stagehooks.ErrInvalidCursor)
			wantKind(t, name, err, stagehooks.ErrInvalid)
		}
	})

	t.Run("endpoints drop the previous secret once it has expired", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageAnnotate, "https://a.example/")
		mustCreate(t, s, w)
		r := ref("tenant-a", "wh_1")
		rotated := w
		rotated.Secrets = []string{"whsec_new", w.Secrets[0]}
		rotated.PreviousSecretExpiresAt = time.Now().Add(time.Hour)
		if _, err := s.UpdateWebhook(ctx, rotated, 1); err != nil {
			t.Fatal(err)
		}
		if eps, err := s.Endpoints(ctx, []delivery.EndpointRef{r}); err != nil || !slices.Equal(eps[r].Secrets, rotated.Secrets) {
			t.Fatalf("during the overlap: %+v, %v; want both secrets", eps[r], err)
		}
		rotated.PreviousSecretExpiresAt = time.Now().Add(-time.Second)
		if _, err := s.UpdateWebhook(ctx, rotated, 2); err != nil {
			t.Fatal(err)
		}
		if eps, err := s.Endpoints(ctx, []delivery.EndpointRef{r}); err != nil || fmt.Sprint(eps[r].Secrets) != "[whsec_new]" {
			t.Fatalf("after the overlap: %+v, %v; want only the new secret", eps[r], err)
		}
		// The stored webhook is what was written; only the delivery path's read drops it.
		if got, _ := s.GetWebhook(ctx, "tenant-a", "wh_1"); len(got.Secrets) != 2 {
			t.Fatalf("stored secrets: %v", got.Secrets)
		}
	})

	t.Run("a notification round-trips every field", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		off := NewNotificationWebhook(t, "nwh_2", "https://n.example/2")
		off.Enabled, off.DisabledReason = false, "the store ignores this"
		off.RateLimitPerSecond, off.Ordered = 7, true
		off.Secrets = append(off.Secrets, "whsec_old")
		off.PreviousSecretExpiresAt = time.Now().UTC().Add(time.Hour).Truncate(time.Millisecond)
		n := NewNotification(t, "tenant-a", "notif_1", "user-1", "Nightly QA digest",
			NewNotificationWebhook(t, "nwh_1", "https://n.example/1"), off)
		n.Description = "Everything the night shift submitted — ünïcödé included"
		n.Projects = []string{"proj-1", "proj-2"}
		n.Channels.SlackChannels = []string{"C0123ABCD"}
		n.Channels.Emails = []string{"qa@example.com", "lead@example.org"}
		n.Triggers.Events = []notifications.EventType{notifications.TaskSubmitted, notifications.LabelRejected}
		n.Triggers.Digests = []notifications.Digest{
			{TimesOfDay: []string{"09:00", "17:30"}, TimeZone: "America/New_York", Period: 12 * time.Hour},
			{TimesOfDay: []string{"08:00"}, TimeZone: "UTC"}, // the default period
		}
		n.Version = 7 // ignored: a new notification is at version 1
		mustCreateNotification(t, s, n)

		want := n.WithDefaults()
		want.Version = 1
		want.Channels.Webhooks = slices.Clone(n.Channels.Webhooks)
		want.Channels.Webhooks[1].DisabledReason = ""
		got, err := s.GetNotification(ctx, "tenant-a", "notif_1")
		if err != nil {
			t.Fatal(err)
		}
		sameValue(t, "notification", got, want)
		if got.Triggers.Digests[1].Period != 24*time.Hour {
			t.Fatalf("default period read back as %v", got.Triggers.Digests[1].Period)
		}
		page, err := s.ListNotifications(ctx, "tenant-a", notifications.Query{})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("list: %+v, %v", page, err)
		}
		sameValue(t, "listed notification", page.Items[0], want)

		wantKind(t, "same id again", s.CreateNotification(ctx, NewNotification(t, "tenant-a", "notif_1", "user-1", "Again")), notifications.ErrExists)
	})

	t.Run("invalid notifications are refused before storage", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		n := NewNotification(t, "tenant-a", "notif_1", "user-1", "")
		wantKind(t, "no title", s.CreateNotification(ctx, n), notifications.ErrInvalid)
		var many []notifications.Webhook
		for i := range notifications.MaxWebhooks + 1 {
			many = append(many, NewNotificationWebhook(t, fmt.Sprintf("nwh_%d", i), fmt.Sprintf("https://n.example/%d", i)))
		}
		wantKind(t, "too many webhooks", s.CreateNotification(ctx, NewNotification(t, "tenant-a", "notif_1", "user-1", "Many", many...)), notifications.ErrInvalid)
		if _, err := s.GetNotification(ctx, "tenant-a", "notif_1"); !errors.Is(err, notifications.ErrNotFound) {
			t.Fatalf("a refused notification was stored: %v", err)
		}
		ok := NewNotification(t, "tenant-a", "notif_2", "user-1", "Fine")
		mustCreateNotification(t, s, ok)
		bad := ok
		bad.Title = ""
		_, err := s.UpdateNotification(ctx, bad, 1)
		wantKind(t, "update without a title", err, notifications.ErrInvalid)
		if got, _ := s.GetNotification(ctx, "tenant-a", "notif_2"); got.Version != 1 || len(got.Channels.Emails) != 1 {
			t.Fatalf("after the refused update: %+v", got)
		}
		// A notification whose last email address unsubscribed is kept, inert, for its owner
		// (ValidateStored); the API refuses to save one without channels itself.
		inert := ok
		inert.Channels = notifications.Channels{}
		if got, err := s.UpdateNotification(ctx, inert, 1); err != nil || got.Version != 2 || len(got.Channels.Emails) != 0 {
			t.Fatalf("update to no channels (unsubscribed): %+v, %v", got, err)
		}
	})

	t.Run("a notification's webhooks reach the delivery path and never the stage-webhook methods", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustCreate(t, s, NewWebhook(t, "tenant-a", "wh_1", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://a.example/1"))
		hook := NewNotificationWebhook(t, "nwh_1", "https://n.example/1")
		mustCreateNotification(t, s, NewNotification(t, "tenant-a", "notif_1", "user-1", "Nightly", hook))
		r := ref("tenant-a", "nwh_1")

		eps, err := s.Endpoints(ctx, []delivery.EndpointRef{r, ref("tenant-a", "wh_1")})
		if err != nil || len(eps) != 2 || eps[r].URL != hook.URL || !eps[r].Enabled || !slices.Equal(eps[r].Secrets, hook.Secrets) {
			t.Fatalf("endpoints: %+v, %v; want the notification's webhook beside the stage one", eps, err)
		}
		_, err = s.GetWebhook(ctx, "tenant-a", "nwh_1")
		wantKind(t, "GetWebhook of a notification's webhook", err, stagehooks.ErrNotFound)
		as := NewWebhook(t, "tenant-a", "nwh_1", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://evil.example/")
		_, err = s.UpdateWebhook(ctx, as, 1)
		wantKind(t, "UpdateWebhook of a notification's webhook", err, stagehooks.ErrNotFound)
		wantKind(t, "DeleteWebhook of a notification's webhook", s.DeleteWebhook(ctx, "tenant-a", "nwh_1"), stagehooks.ErrNotFound)
		wantKind(t, "CreateWebhook over a notification's webhook id", s.CreateWebhook(ctx, as), stagehooks.ErrExists)
		if ids, _ := allWebhookIDs(t, s, "tenant-a", 0); fmt.Sprint(ids) != "[wh_1]" {
			t.Fatalf("ListWebhooks: %v, want only the stage webhook", ids)
		}
		for _, stage := range [][2]string{{"proj-1", "stage-1"}, {"", ""}} {
			targets, err := s.TargetsForStage(ctx, "tenant-a", stage[0], stage[1])
			for _, tg := range targets {
				if tg.WebhookID == "nwh_1" {
					t.Fatalf("TargetsForStage(%q, %q) returned the notification's webhook: %+v, %v", stage[0], stage[1], targets, err)
				}
			}
		}
		if eps, _ := s.Endpoints(ctx, []delivery.EndpointRef{r}); eps[r].URL != hook.URL {
			t.Fatalf("the notification's webhook changed: %+v", eps[r])
		}

		// The delivery path disables it like any webhook (a 410), and the notification's version
		// moves, so an API client holding the old one re-reads before writing.
		if err := s.DisableWebhook(ctx, r, "receiver answered 410 Gone"); err != nil {
			t.Fatal(err)
		}
		if eps, _ := s.Endpoints(ctx, []delivery.EndpointRef{r}); eps[r].Enabled {
			t.Fatal("endpoint still enabled after disable")
		}
		got, err := s.GetNotification(ctx, "tenant-a", "notif_1")
		if err != nil || got.Version != 2 || got.Channels.Webhooks[0].Enabled || got.Channels.Webhooks[0].DisabledReason != "receiver answered 410 Gone" {
			t.Fatalf("notification after its webhook was disabled: %+v, %v", got, err)
		}
		stale := NewNotification(t, "tenant-a", "notif_1", "user-1", "Nightly", hook)
		_, err = s.UpdateNotification(ctx, stale, 1)
		wantKind(t, "update from the version before the disable", err, notifications.ErrVersionConflict)
		// Re-enabling through the notification clears the reason.
		fresh, err := s.UpdateNotification(ctx, stale, 2)
		if err != nil || !fresh.Channels.Webhooks[0].Enabled || fresh.Channels.Webhooks[0].DisabledReason != "" {
			t.Fatalf("re-enable: %+v, %v", fresh, err)
		}
		if eps, _ := s.Endpoints(ctx, []delivery.EndpointRef{r}); !eps[r].Enabled {
			t.Fatal("endpoint still disabled after re-enabling")
		}
	})

	t.Run("an update diffs the notification's webhooks in one go", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w1 := NewNotificationWebhook(t, "nwh_1", "https://n.example/1")
		w2 := NewNotificationWebhook(t, "nwh_2", "https://n.example/2")
		w3 := NewNotificationWebhook(t, "nwh_3", "https://n.example/3")
		n := NewNotification(t, "tenant-a", "notif_1", "user-1", "Release watch", w1, w2, w3)
		mustCreateNotification(t, s, n)
		mustCreate(t, s, NewWebhook(t, "tenant-a", "wh_stage", "p", "s", stagehooks.StageAnnotate, "https://a.example/"))

		// w1 unchanged, w2 moved and rotated, w3 dropped, w4 new; the caller also claims
		// another owner and creation time, which an update keeps.
		w2b := w2
		w2b.URL = "https://n.example/2b"
		w2b.Secrets = []string{"whsec_rotated", w2.Secrets[0]}
		w2b.PreviousSecretExpiresAt = time.Now().UTC().Add(time.Hour).Truncate(time.Millisecond)
		w4 := NewNotificationWebhook(t, "nwh_4", "https://n.example/4")
		change := n
		change.Title, change.Description = "Release watch (QA)", "now with a description"
		change.OwnerID, change.CreatedAt = "intruder", n.CreatedAt.Add(-time.Hour)
		change.Projects = []string{"proj-2"}
		change.Channels = notifications.Channels{SlackChannels: []string{"C999"}, Webhooks: []notifications.Webhook{w4, w1, w2b}}
		change.Triggers = notifications.Triggers{Events: []notifications.EventType{notifications.TaskCompleted, notifications.LabelApproved}}
		change.UpdatedAt = n.UpdatedAt.Add(time.Minute)
		got, err := s.UpdateNotification(ctx, change, 1)
		if err != nil {
			t.Fatal(err)
		}
		want := change
		want.OwnerID, want.CreatedAt, want.Version = n.OwnerID, n.CreatedAt, 2
		sameValue(t, "returned by update", got, want)
		stored, err := s.GetNotification(ctx, "tenant-a", "notif_1")
		if err != nil {
			t.Fatal(err)
		}
		sameValue(t, "stored after update", stored, want)

		refs := []delivery.EndpointRef{ref("tenant-a", "nwh_1"), ref("tenant-a", "nwh_2"), ref("tenant-a", "nwh_3"), ref("tenant-a", "nwh_4")}
		eps, err := s.Endpoints(ctx, refs)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := eps[refs[2]]; ok || len(eps) != 3 {
			t.Fatalf("endpoints after update: %+v; want nwh_3 gone", eps)
		}
		if eps[refs[1]].URL != w2b.URL || !slices.Equal(eps[refs[1]].Secrets, w2b.Secrets) || eps[refs[3]].URL != w4.URL || eps[refs[0]].URL != w1.URL {
			t.Fatalf("endpoints after update: %+v", eps)
		}
		// nwh_3's id is free again, as a stage webhook's.
		mustCreate(t, s, NewWebhook(t, "tenant-a", "nwh_3", "p", "s", stagehooks.StageAnnotate, "https://a.example/3"))

		// A new webhook whose id is taken fails the whole update.
		taken := stored
		taken.Title = "Should not stick"
		taken.Channels.Webhooks = []notifications.Webhook{NewNotificationWebhook(t, "wh_stage", "https://n.example/x")}
		_, err = s.UpdateNotification(ctx, taken, 2)
		wantKind(t, "update adding a webhook with a taken id", err, notifications.ErrExists)
		after, _ := s.GetNotification(ctx, "tenant-a", "notif_1")
		sameValue(t, "after the refused update", after, want)
		if eps, _ := s.Endpoints(ctx, refs[:1]); len(eps) != 1 {
			t.Fatalf("the refused update removed nwh_1: %+v", eps)
		}

		_, err = s.UpdateNotification(ctx, change, 1)
		wantKind(t, "update at a stale version", err, notifications.ErrVersionConflict)
	})

	t.Run("delete removes a notification and its webhooks", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustCreateNotification(t, s,
			NewNotification(t, "tenant-a", "notif_1", "user-1", "One", NewNotificationWebhook(t, "nwh_1", "https://n.example/1"), NewNotificationWebhook(t, "nwh_2", "https://n.example/2")),
			NewNotification(t, "tenant-a", "notif_2", "user-1", "Two", NewNotificationWebhook(t, "nwh_3", "https://n.example/3")),
		)
		if err := s.DeleteNotification(ctx, "tenant-a", "notif_1"); err != nil {
			t.Fatal(err)
		}
		_, err := s.GetNotification(ctx, "tenant-a", "notif_1")
		wantKind(t, "get after delete", err, notifications.ErrNotFound)
		wantKind(t, "second delete", s.DeleteNotification(ctx, "tenant-a", "notif_1"), notifications.ErrNotFound)
		eps, err := s.Endpoints(ctx, []delivery.EndpointRef{ref("tenant-a", "nwh_1"), ref("tenant-a", "nwh_2"), ref("tenant-a", "nwh_3")})
		if err != nil || len(eps) != 1 {
			t.Fatalf("endpoints after delete: %+v, %v; want only nwh_3", eps, err)
		}
		if ids, _ := allNotificationIDs(t, s, "tenant-a", notifications.Query{}); fmt.Sprint(ids) != "[notif_2]" {
			t.Fatalf("list after delete: %v", ids)
		}
		// The ids are free again.
		mustCreateNotification(t, s, NewNotification(t, "tenant-a", "notif_1", "user-1", "One again", NewNotificationWebhook(t, "nwh_1", "https://n.example/1")))
	})

	t.Run("a notification with a taken id is refused whole", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustCreate(t, s, NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageAnnotate, "https://a.example/"))
		n := NewNotification(t, "tenant-a", "notif_1", "user-1", "Clash",
			NewNotificationWebhook(t, "nwh_1", "https://n.example/1"), NewNotificationWebhook(t, "wh_1", "https://n.example/2"))
		wantKind(t, "a webhook id taken by a stage webhook", s.CreateNotification(ctx, n), notifications.ErrExists)
		_, err := s.GetNotification(ctx, "tenant-a", "notif_1")
		wantKind(t, "the refused notification", err, notifications.ErrNotFound)
		if eps, _ := s.Endpoints(ctx, []delivery.EndpointRef{ref("tenant-a", "nwh_1")}); len(eps) != 0 {
			t.Fatalf("a webhook of the refused notification was stored: %+v", eps)
		}
		if got, _ := s.GetWebhook(ctx, "tenant-a", "wh_1"); got.URL != "https://a.example/" {
			t.Fatalf("the stage webhook changed: %+v", got)
		}
	})

	t.Run("list searches titles, filters owners and pages in id order", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		// Scenario: 45 notifications; every third is a "Nightly qa digest", owners alternate.
		var all, qa, owner2, qaOwner2 []string
		for i := range 45 {
			id := fmt.Sprintf("notif_%02d", i)
			title, owner := fmt.Sprintf("Release %d", i), "user-1"
			if i%3 == 0 {
				title = fmt.Sprintf("Nightly qa digest %d", i)
			}
			if i%2 == 1 {
				owner = "user-2"
			}
			var hooks []notifications.Webhook
			if i%5 == 0 {
				hooks = append(hooks, NewNotificationWebhook(t, "nwh_"+id, "https://n.example/"+id))
			}
			mustCreateNotification(t, s, NewNotification(t, "tenant-a", id, owner, title, hooks...))
			all = append(all, id)
			if i%3 == 0 {
				qa = append(qa, id)
			}
			if owner == "user-2" {
				owner2 = append(owner2, id)
				if i%3 == 0 {
					qaOwner2 = append(qaOwner2, id)
				}
			}
		}
		mustCreateNotification(t, s, NewNotification(t, "tenant-b", "notif_00", "user-1", "Nightly QA digest of tenant-b"))

		for _, tc := range []struct {
			name  string
			q     notifications.Query
			want  []string
			sizes string
		}{
			{"everything, by 20", notifications.Query{Page: stagehooks.PageRequest{Limit: 20}}, all, "[20 20 5]"},
			{"everything, default size", notifications.Query{}, all, "[20 20 5]"},
			{"title contains QA, any case", notifications.Query{TitleContains: "QA", Page: stagehooks.PageRequest{Limit: 4}}, qa, "[4 4 4 3]"},
			{"title contains 'ly qa d'", notifications.Query{TitleContains: "ly qa d"}, qa, "[15]"},
			{"owner user-2", notifications.Query{OwnerID: "user-2", Page: stagehooks.PageRequest{Limit: 10}}, owner2, "[10 10 2]"},
			{"QA and owner user-2", notifications.Query{TitleContains: "qa", OwnerID: "user-2", Page: stagehooks.PageRequest{Limit: 3}}, qaOwner2, "[3 3 1]"},
			{"a title nobody has", notifications.Query{TitleContains: "zebra"}, nil, "[0]"},
			{"an owner with none", notifications.Query{OwnerID: "user-9"}, nil, "[0]"},
		} {
			ids, sizes := allNotificationIDs(t, s, "tenant-a", tc.q)
			if !slices.Equal(ids, tc.want) || fmt.Sprint(sizes) != tc.sizes {
				t.Fatalf("%s: ids %v in pages %v\nwant %v in pages %s", tc.name, ids, sizes, tc.want, tc.sizes)
			}
		}
		page, err := s.ListNotifications(ctx, "tenant-a", notifications.Query{Page: stagehooks.PageRequest{Limit: 1}})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("first page: %+v, %v", page, err)
		}
		got, _ := s.GetNotification(ctx, "tenant-a", "notif_00")
		sameValue(t, "listed notification, webhooks included", page.Items[0], got)
		if len(got.Channels.Webhooks) != 1 {
			t.Fatalf("notif_00's webhooks: %+v", got.Channels.Webhooks)
		}

		if ids, _ := allNotificationIDs(t, s, "tenant-b", notifications.Query{}); fmt.Sprint(ids) != "[notif_00]" {
			t.Fatalf("tenant-b sees %v", ids)
		}
		_, err = s.ListNotifications(ctx, "tenant-b", notifications.Query{Page: stagehooks.PageRequest{Cursor: page.NextCursor}})
		wantKind(t, "tenant-a's cursor used by tenant-b", err, stagehooks.ErrInvalidCursor)
		_, err = s.ListNotifications(ctx, "tenant-a", notifications.Query{Page: stagehooks.PageRequest{Cursor: stagehooks.EncodeCursor("tenant-a", stagehooks.ListStageWebhooks, "notif_00")}})
		wantKind(t, "a webhook list's cursor", err, stagehooks.ErrInvalidCursor)
		_, err = s.ListNotifications(ctx, "tenant-a", notifications.Query{Page: stagehooks.PageRequest{Limit: 101}})
		wantKind(t, "limit 101", err, notifications.ErrInvalid)
	})

	t.Run("another tenant can neither see nor change a notification", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		n := NewNotification(t, "tenant-a", "notif_1", "user-1", "Nightly", NewNotificationWebhook(t, "nwh_1", "https://n.example/1"))
		mustCreateNotification(t, s, n)
		_, err := s.GetNotification(ctx, "tenant-b", "notif_1")
		wantKind(t, "tenant-b reading", err, notifications.ErrNotFound)
		foreign := n
		foreign.TenantID, foreign.Title = "tenant-b", "Hijacked"
		_, err = s.UpdateNotification(ctx, foreign, 1)
		wantKind(t, "tenant-b updating", err, notifications.ErrNotFound)
		wantKind(t, "tenant-b deleting", s.DeleteNotification(ctx, "tenant-b", "notif_1"), notifications.ErrNotFound)
		page, err := s.ListNotifications(ctx, "tenant-b", notifications.Query{TitleContains: "night"})
		if err != nil || len(page.Items) != 0 || page.NextCursor != "" {
			t.Fatalf("tenant-b's list: %+v, %v", page, err)
		}
		if eps, _ := s.Endpoints(ctx, []delivery.EndpointRef{ref("tenant-b", "nwh_1")}); len(eps) != 0 {
			t.Fatalf("tenant-b reaches tenant-a's notification webhook: %+v", eps)
		}
		got, err := s.GetNotification(ctx, "tenant-a", "notif_1")
		if err != nil {
			t.Fatal(err)
		}
		sameValue(t, "tenant-a's notification after tenant-b's attempts", got, n.WithDefaults())
	})

	// The notification twin of the stage-webhook attack: tenant B subscribes to a project hash
	// that tenant A uses. The event path reads a project's notifications by (tenant, project),
	// so each tenant finds only its own, through creates, updates and deletes.
	t.Run("a project's notifications are only the asking tenant's", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		subscribed := func(tenant, project string) string {
			t.Helper()
			subs, err := s.SubscriptionsForProject(ctx, tenant, project)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, sub := range subs {
				if sub.TenantID != tenant {
					t.Fatalf("%s's subscriptions on %s include %+v", tenant, project, sub)
				}
				ids = append(ids, sub.NotificationID)
			}
			return fmt.Sprint(ids)
		}
		a := NewNotification(t, "tenant-a", "notif_a", "user-a", "A's", NewNotificationWebhook(t, "nwh_a", "https://a.example/n"))
		a.Projects = []string{"shared-proj", "proj-a"}
		b := NewNotification(t, "tenant-b", "notif_b", "user-b", "B's")
		b.Projects = []string{"shared-proj"}
		// The same notification id in the other tenant: ids are unique only within one.
		b2 := NewNotification(t, "tenant-b", "notif_a", "user-b", "B's twin")
		b2.Projects = []string{"shared-proj"}
		mustCreateNotification(t, s, a, b, b2)

		if got := subscribed("tenant-a", "shared-proj"); got != "[notif_a]" {
			t.Fatalf("tenant-a on shared-proj: %s, want [notif_a]", got)
		}
		if got := subscribed("tenant-b", "shared-proj"); got != "[notif_a notif_b]" {
			t.Fatalf("tenant-b on shared-proj: %s, want its own [notif_a notif_b]", got)
		}
		if got := subscribed("tenant-b", "proj-a"); got != "[]" {
			t.Fatalf("tenant-b on A's other project: %s, want []", got)
		}
		subs, _ := s.SubscriptionsForProject(ctx, "tenant-a", "proj-a")
		if len(subs) != 1 || subs[0].OwnerID != "user-a" || fmt.Sprint(subs[0].WebhookIDs) != "[nwh_a]" ||
			fmt.Sprint(subs[0].Emails) != "[qa@example.com]" || fmt.Sprint(subs[0].Events) != "[task_submitted]" || len(subs[0].Digests) != 1 {
			t.Fatalf("tenant-a's subscription on proj-a: %+v", subs)
		}

		// Moving A off the shared project and onto another, then deleting B's.
		a.Projects = []string{"proj-a", "proj-a2"}
		if _, err := s.UpdateNotification(ctx, a, 1); err != nil {
			t.Fatal(err)
		}
		wantKind(t, "delete", s.DeleteNotification(ctx, "tenant-b", "notif_b"), nil)
		for _, c := range []struct{ tenant, project, want string }{
			{"tenant-a", "shared-proj", "[]"}, {"tenant-a", "proj-a", "[notif_a]"}, {"tenant-a", "proj-a2", "[notif_a]"},
			{"tenant-b", "shared-proj", "[notif_a]"}, {"tenant-c", "shared-proj", "[]"},
		} {
			if got := subscribed(c.tenant, c.project); got != c.want {
				t.Fatalf("%s on %s after the update and delete: %s, want %s", c.tenant, c.project, got, c.want)
			}
		}
	})

}
