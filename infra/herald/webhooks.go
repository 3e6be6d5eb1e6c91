package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/outbound"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
)

type webhookSpec struct {
	id, tenant, owner, project, stage, stageType, url string
	allowLoopback                                     bool
	// ordered delivers the webhook's events one at a time, in the order they were accepted.
	ordered bool
}

// createWebhook stores a stage webhook the way the configuration API will: the stage type
// checked, the URL checked for safety, a fresh signing secret.
func createWebhook(ctx context.Context, s settings, spec webhookSpec) (stagehooks.Webhook, error) {
	typ, err := stagehooks.ParseStageType(spec.stageType)
	if err != nil {
		return stagehooks.Webhook{}, err
	}
	// The API's URL policy under the same flag (localrun: AllowInsecure and AllowLoopback both
	// follow -allow-loopback).
	if err := outbound.CheckURL(ctx, spec.url, spec.allowLoopback, spec.allowLoopback, nil); err != nil {
		return stagehooks.Webhook{}, err
	}
	secret, err := signing.NewSecret()
	if err != nil {
		return stagehooks.Webhook{}, err
	}
	if spec.id == "" {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return stagehooks.Webhook{}, fmt.Errorf("generate webhook id: %w", err)
		}
		spec.id = "wh_" + hex.EncodeToString(b)
	}
	now := time.Now().UTC()
	w := stagehooks.Webhook{
		ID: spec.id, TenantID: spec.tenant, OwnerID: spec.owner, ProjectHash: spec.project, StageUUID: spec.stage,
		StageType: typ, URL: spec.url, Secrets: []string{secret}, Enabled: true, Ordered: spec.ordered, CreatedAt: now, UpdatedAt: now,
	}
	db, err := sqlitedb.Open(ctx, s.dataDir, sqlitedb.Options{Synchronous: s.synchronous})
	if err != nil {
		return stagehooks.Webhook{}, err
	}
	defer db.Close()
	store, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		return stagehooks.Webhook{}, err
	}
	if err := store.CreateWebhook(ctx, w); err != nil {
		return stagehooks.Webhook{}, err
	}
	return w, nil
}
