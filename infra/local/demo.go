package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/infra/localrun"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// The sample project and stages of events/samples/router, so the sample events fire the demo
// webhooks.
const (
	demoTenant        = "demo"
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
	secrets := map[string]string{}
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
		secrets[hook.id] = w.Secrets[0]
	}
	r := &demoReceiver{out: out, secrets: secrets}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	return fmt.Sprintf("  demo receiver       %s  (webhooks wh_demo_annotate, wh_demo_complete on project %s)\n"+
		"Try: aws events put-events --endpoint-url %s --region us-east-1 --entries file://events/samples/putevents/task-submitted.json\n",
		url, demoProject, h.EventsURL), nil
}

type demoReceiver struct {
	mu      sync.Mutex
	out     io.Writer
	secrets map[string]string
}

func (d *demoReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	verified := "NOT VERIFIED"
	for id, secret := range d.secrets {
		if wh, err := standardwebhooks.NewWebhook(secret); err == nil && wh.Verify(body, r.Header) == nil {
			verified = "signature verified for " + id
			break
		}
	}
	d.mu.Lock()
	fmt.Fprintf(d.out, "\n== webhook received (%s)\nwebhook-id: %s\nwebhook-timestamp: %s\nwebhook-signature: %s\n%s\n",
		verified, r.Header.Get(signing.HeaderID), r.Header.Get(signing.HeaderTimestamp), r.Header.Get(signing.HeaderSignature), body)
	d.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
