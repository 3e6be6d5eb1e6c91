package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/shared/ttlcache"
)

// maxCachedEndpoints bounds memory at a few MB of URLs and secrets.
const maxCachedEndpoints = 10_000

// EndpointStore is what CachedEndpoints wraps: the lookup and the 410 switch-off, so that a
// webhook this process disables is forgotten at once.
type EndpointStore interface {
	EndpointSource
	WebhookDisabler
}

// CachedEndpoints remembers webhooks for ttl, so a warm delivery function reads each webhook
// about once per ttl instead of once per batch. A URL change, a disable or a secret rotation
// made elsewhere reaches a warm function within ttl.
type CachedEndpoints struct {
	next  EndpointStore
	cache *ttlcache.Cache[EndpointRef, cachedEndpoint]
}

type cachedEndpoint struct {
	ep    Endpoint
	found bool
}

// NewCachedEndpoints wraps next with a cache of the given ttl (0 disables it).
func NewCachedEndpoints(next EndpointStore, ttl time.Duration) *CachedEndpoints {
	return &CachedEndpoints{next: next, cache: ttlcache.New[EndpointRef, cachedEndpoint](ttl, maxCachedEndpoints)}
}

// Endpoints implements EndpointSource, reading only the refs it does not hold.
func (c *CachedEndpoints) Endpoints(ctx context.Context, refs []EndpointRef) (map[EndpointRef]Endpoint, error) {
	out := make(map[EndpointRef]Endpoint, len(refs))
	var missing []EndpointRef
	for _, ref := range refs {
		if ce, ok := c.cache.Get(ref); ok {
			if ce.found {
				out[ref] = ce.ep
			}
			continue
		}
		missing = append(missing, ref)
	}
	if len(missing) == 0 {
		return out, nil
	}
	fresh, err := c.next.Endpoints(ctx, missing)
	if err != nil {
		return nil, err
	}
	for _, ref := range missing {
		// A miss is never cached: the job of a webhook created a moment ago must not be
		// dropped as deleted for a whole ttl because an earlier read came too soon.
		ep, found := fresh[ref]
		if !found {
			continue
		}
		out[ref] = ep
		// Nor is a disabled webhook: its owner enables it and recovers its deliveries at once,
		// and those must not be dropped again for a ttl. Only its stragglers (retries queued
		// before it was disabled) come here, so reading it each time costs little.
		if ep.Enabled {
			c.cache.Put(ref, cachedEndpoint{ep: ep, found: true})
		}
	}
	return out, nil
}

// cached returns ref's endpoint if the cache holds it (only found, enabled ones are held).
func (c *CachedEndpoints) cached(ref EndpointRef) (Endpoint, bool) {
	ce, ok := c.cache.Get(ref)
	return ce.ep, ok && ce.found
}

// DisableWebhook implements WebhookDisabler and forgets the cached copy.
func (c *CachedEndpoints) DisableWebhook(ctx context.Context, ref EndpointRef, reason string) error {
	c.cache.Delete(ref)
	return c.next.DisableWebhook(ctx, ref, reason)
}

// EndpointsByKind looks up each ref in the store of its kind: webhooks in the webhook store,
// Slack channels in the channel store. A ref of a kind it has no store for is not found.
type EndpointsByKind map[Kind]EndpointStore

// Endpoints implements EndpointSource with one lookup per kind present in refs.
func (b EndpointsByKind) Endpoints(ctx context.Context, refs []EndpointRef) (map[EndpointRef]Endpoint, error) {
	byKind := map[Kind][]EndpointRef{}
	for _, ref := range refs {
		byKind[ref.Kind] = append(byKind[ref.Kind], ref)
	}
	out := make(map[EndpointRef]Endpoint, len(refs))
	for kind, group := range byKind {
		store, ok := b[kind]
		if !ok {
			continue
		}
		found, err := store.Endpoints(ctx, group)
		if err != nil {
			return nil, err
		}
		for ref, ep := range found {
			out[ref] = ep
		}
	}
	return out, nil
}

// DisableWebhook implements WebhookDisabler through the store of ref's kind.
func (b EndpointsByKind) DisableWebhook(ctx context.Context, ref EndpointRef, reason string) error {
	store, ok := b[ref.Kind]
	if !ok {
		return fmt.Errorf("disable endpoint %s of kind %q: no store for the kind", ref.WebhookID, ref.Kind)
	}
	return store.DisableWebhook(ctx, ref, reason)
}

// Health wraps next so that this cache follows the streaks it keeps: a failure marks the
// cached webhook failing, so that the next success here ends the streak, an ended streak marks
// it failing no more, and a restart or a disable forgets it. Another process's changes reach
// the cache within its ttl.
func (c *CachedEndpoints) Health(next HealthStore) HealthStore {
	return cachedHealth{cache: c, next: next}
}

type cachedHealth struct {
	cache *CachedEndpoints
	next  HealthStore
}

func (h cachedHealth) AddFailure(ctx context.Context, ref EndpointRef, at time.Time) (FailureStreak, error) {
	s, err := h.next.AddFailure(ctx, ref, at)
	if err == nil {
		h.cache.markFailing(ref, s.Since)
	}
	return s, err
}

func (h cachedHealth) RestartStreak(ctx context.Context, ref EndpointRef, since, at time.Time) error {
	h.cache.cache.Delete(ref)
	return h.next.RestartStreak(ctx, ref, since, at)
}

func (h cachedHealth) EndStreak(ctx context.Context, ref EndpointRef, since time.Time) error {
	if err := h.next.EndStreak(ctx, ref, since); err != nil {
		h.cache.cache.Delete(ref)
		return err
	}
	// Not failing, as far as this process knows, without reading the webhook again.
	h.cache.markFailing(ref, time.Time{})
	return nil
}

func (h cachedHealth) DisableFailing(ctx context.Context, ref EndpointRef, since time.Time, reason string) (DisabledWebhook, bool, error) {
	h.cache.cache.Delete(ref)
	return h.next.DisableFailing(ctx, ref, since, reason)
}

// markFailing sets the cached copy's FailingSince, if the cache holds ref.
func (c *CachedEndpoints) markFailing(ref EndpointRef, since time.Time) {
	if ce, ok := c.cache.Get(ref); ok && ce.found && !ce.ep.FailingSince.Equal(since) {
		ce.ep.FailingSince = since
		c.cache.Put(ref, ce)
	}
}
