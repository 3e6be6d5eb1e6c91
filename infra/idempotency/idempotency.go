// Package idempotency is the record the configuration API keeps under a client's
// Idempotency-Key, shared by the API (infra/httpapi), which decides what it holds, and the
// stores that keep it (infra/dynamo, infra/sqlitestore). It is its own package so that a store
// linked into a Lambda function that serves no API does not link the API with it.
package idempotency

import (
	"context"
	"fmt"
	"net/http"
)

// StoredResponse is a create's response kept under its Idempotency-Key.
type StoredResponse struct {
	Fingerprint string
	Done        bool
	Status      int
	Header      http.Header
	Body        []byte
}

// Store is what both runtimes' idempotency stores offer (see httpapi.IdempotencyStore).
type Store interface {
	Begin(ctx context.Context, tenant, key, fingerprint string) (prior StoredResponse, claimed bool, err error)
	Finish(ctx context.Context, tenant, key string, resp StoredResponse) error
	Abandon(ctx context.Context, tenant, key string) error
}

// PostClaims keeps the delivery path from posting one Slack message twice at once
// (delivery.PostClaims) with the same records: a claim is a key whose time-to-live is the
// lease a crashed poster holds it for. Digests claim their emails the same way.
type PostClaims struct {
	Store Store
	// Kind names what is claimed, in the keys and records: "slack-post" when empty.
	Kind string
}

func (c PostClaims) kind() string {
	if c.Kind == "" {
		return "slack-post"
	}
	return c.Kind
}

func (c PostClaims) key(id string) string { return c.kind() + ":" + id }

// Claim implements delivery.PostClaims.
func (c PostClaims) Claim(ctx context.Context, tenant, id string) (claimed, done bool, err error) {
	prior, claimed, err := c.Store.Begin(ctx, tenant, c.key(id), c.kind())
	if err != nil {
		return false, false, fmt.Errorf("claim %s %s: %w", c.kind(), id, err)
	}
	return claimed, prior.Done, nil
}

// Posted implements delivery.PostClaims.
func (c PostClaims) Posted(ctx context.Context, tenant, id string) error {
	if err := c.Store.Finish(ctx, tenant, c.key(id), StoredResponse{Status: http.StatusOK}); err != nil {
		return fmt.Errorf("record %s %s: %w", c.kind(), id, err)
	}
	return nil
}

// Release implements delivery.PostClaims.
func (c PostClaims) Release(ctx context.Context, tenant, id string) error {
	if err := c.Store.Abandon(ctx, tenant, c.key(id)); err != nil {
		return fmt.Errorf("release %s %s: %w", c.kind(), id, err)
	}
	return nil
}
