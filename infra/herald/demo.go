package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/infra/localrun"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// The sample project and stages of events/samples/router, so the sample events fire the demo
// webhooks.
const (
	demoTenant        = defaultTenant
	demoProject       = "751a3a3e-46b6-4aad-b0b8-19b169f91266"
	demoAnnotateStage = "a1b2c3d4-0000-4000-8000-00000000a001"
	demoCompleteStage = "a1b2c3d4-0000-4000-8000-00000000c001"
)

// startDemo configures a webhook on the sample project's Annotate and Complete stages, pointing
// at a receiver in this process that verifies each delivery with the Standard Webhooks
// reference library and prints it.
func startDemo(ctx context.Context, h *localrun.Herald, addr string, out io.Writer) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("demo receiver: listen on %s: %w", addr, err)
	}
	url := "http://" + l.Addr().String() + "/webhooks"
	for _, hook := range []struct {
		id, stage string
		typ       stagehooks.StageType
	}{{"wh_demo_annotate", demoAnnotateStage, stagehooks.StageAnnotate}, {"wh_demo_complete", demoCompleteStage, stagehooks.StageComplete}} {
		w, err := h.Store.GetWebhook(ctx, demoTenant, hook.id)
		if errors.Is(err, stagehooks.ErrNotFound) {
			secret, serr := signing.NewSecret()
			if serr != nil {
				return "", serr
			}
			now := time.Now().UTC()
			w = stagehooks.Webhook{ID: hook.id, TenantID: demoTenant, OwnerID: "demo", ProjectHash: demoProject, StageUUID: hook.stage,
				StageType: hook.typ, URL: url, Secrets: []string{secret}, Enabled: true, CreatedAt: now, UpdatedAt: now}
			err = h.Store.CreateWebhook(ctx, w)
		}
		if err != nil {
			l.Close()
			return "", fmt.Errorf("demo webhook %s: %w", hook.id, err)
		}
		if w.URL != url {
			l.Close()
			return "", fmt.Errorf("demo webhook %s points at %s from an earlier run; start with -demo-receiver-addr %s", hook.id, w.URL, strings.TrimPrefix(strings.TrimSuffix(w.URL, "/webhooks"), "http://"))
		}
	}
	r := &demoReceiver{out: out, store: h.Store, url: url}
	// Herald's sender gives up after 15 s and the handler only prints: these bound a slow or
	// idle client without ever cutting a delivery short.
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 20 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 16 << 10}
	go func() { _ = srv.Serve(l) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	return fmt.Sprintf("  demo receiver       %s  (webhooks wh_demo_annotate, wh_demo_complete on project %s, tenant %s)\n"+
		"Try, from the Herald checkout:\n  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws events put-events --region us-east-1 --endpoint-url %s --entries file://events/samples/putevents/task-submitted.json\n",
		url, demoProject, demoTenant, h.EventsURL), nil
}

// demoReceiver prints what it receives, verified against the signing secrets of every webhook
// of the default tenant that points at it: the demo's own and any made since with the API or
// webhook-add, read when each delivery arrives.
type demoReceiver struct {
	mu    sync.Mutex
	out   io.Writer
	store *sqlitestore.Store
	url   string
}

// secrets returns the live signing secrets of the default tenant's webhooks that point at the
// receiver, stage webhooks and notifications' webhooks alike, by webhook id. The lists carry
// the secrets, so two reads per delivery are all it takes, which suits a demo.
func (d *demoReceiver) secrets(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	now := time.Now()
	keep := func(id, url string, secrets []string, previousExpires time.Time) {
		if strings.HasPrefix(url, d.url) {
			out[id] = stagehooks.LiveSecrets(secrets, previousExpires, now)
		}
	}
	page := stagehooks.PageRequest{Limit: stagehooks.MaxPageLimit}
	for {
		hooks, err := d.store.ListWebhooks(ctx, demoTenant, page)
		if err != nil {
			return nil, err
		}
		for _, w := range hooks.Items {
			keep(w.ID, w.URL, w.Secrets, w.PreviousSecretExpiresAt)
		}
		if page.Cursor = hooks.NextCursor; page.Cursor == "" {
			break
		}
	}
	q := notifications.Query{Page: stagehooks.PageRequest{Limit: stagehooks.MaxPageLimit}}
	for {
		ns, err := d.store.ListNotifications(ctx, demoTenant, q)
		if err != nil {
			return nil, err
		}
		for _, n := range ns.Items {
			for _, w := range n.Channels.Webhooks {
				keep(w.ID, w.URL, w.Secrets, w.PreviousSecretExpiresAt)
			}
		}
		if q.Page.Cursor = ns.NextCursor; q.Page.Cursor == "" {
			break
		}
	}
	return out, nil
}

func (d *demoReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		// A browser or curl opening the URL is not a webhook: say where the webhooks show.
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Herald's demo receiver takes webhooks as POST requests and prints each one in Herald's output.", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	verified := "NOT VERIFIED: no webhook of tenant " + demoTenant + " pointing here has a secret that signed it"
	secrets, err := d.secrets(r.Context())
	if err != nil {
		verified = "NOT VERIFIED: " + err.Error()
	}
	ids := make([]string, 0, len(secrets))
	for id := range secrets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
verify:
	for _, id := range ids {
		for _, secret := range secrets[id] {
			if wh, err := standardwebhooks.NewWebhook(secret); err == nil && wh.Verify(body, r.Header) == nil {
				verified = "signature verified for " + id
				break verify
			}
		}
	}
	d.mu.Lock()
	fmt.Fprintf(d.out, "\n== webhook received (%s)\nwebhook-id: %s\nwebhook-timestamp: %s\nwebhook-signature: %s\n%s\n",
		verified, r.Header.Get(signing.HeaderID), r.Header.Get(signing.HeaderTimestamp), r.Header.Get(signing.HeaderSignature), body)
	d.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
