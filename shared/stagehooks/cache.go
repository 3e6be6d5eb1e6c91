package stagehooks

import (
	"context"
	"time"

	"github.com/heraldhq/herald/shared/ttlcache"
)

// CachedTargets remembers each stage's webhooks, including "none", for ttl. Most transitions
// hit stages without webhooks; caching the empty answer is what keeps the router at well under
// one DynamoDB read per event. The price is that a webhook created or disabled takes up to ttl
// to take effect in a warm function.
type CachedTargets struct {
	next  TargetFinder
	cache *ttlcache.Cache[stageKey, []Target]
}

type stageKey struct{ tenant, project, stage string }

// maxCachedStages bounds memory: a Target is under 100 bytes, so 10,000 stages stay under a few MB.
const maxCachedStages = 10_000

// NewCachedTargets wraps next with a cache of the given ttl (0 disables it).
func NewCachedTargets(next TargetFinder, ttl time.Duration) *CachedTargets {
	return &CachedTargets{next: next, cache: ttlcache.New[stageKey, []Target](ttl, maxCachedStages)}
}

// TargetsForStage implements TargetFinder.
func (c *CachedTargets) TargetsForStage(ctx context.Context, tenant, projectHash, stageUUID string) ([]Target, error) {
	key := stageKey{tenant, projectHash, stageUUID}
	if t, ok := c.cache.Get(key); ok {
		return t, nil
	}
	t, err := c.next.TargetsForStage(ctx, tenant, projectHash, stageUUID)
	if err != nil {
		return nil, err
	}
	c.cache.Put(key, t)
	return t, nil
}
