// Package ttlcache is a small, bounded, time-limited cache. Lambda keeps an execution
// environment warm between invocations, so a cache here saves a DynamoDB read per event for
// as long as the configuration may be stale.
package ttlcache

import (
	"sync"
	"time"
)

// Cache maps keys to values for at most ttl each. The zero value is not usable; use New.
type Cache[K comparable, V any] struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	entries map[K]entry[V]
	now     func() time.Time
}

type entry[V any] struct {
	value   V
	expires time.Time
}

// New returns a cache holding up to max entries for ttl each. A ttl of zero disables caching.
func New[K comparable, V any](ttl time.Duration, max int) *Cache[K, V] {
	return &Cache[K, V]{ttl: ttl, max: max, entries: map[K]entry[V]{}, now: time.Now}
}

// Get returns the live value of key.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !c.now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Put stores value under key. When the cache is full it first drops expired entries and, if
// still full, everything: a cache this small refills in one round of reads, and a full sweep
// keeps Put O(1) amortised without an eviction list.
func (c *Cache[K, V]) Put(key K, value V) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = entry[V]{value: value, expires: now.Add(c.ttl)}
}

// Delete forgets key, e.g. after this process changed what it maps to.
func (c *Cache[K, V]) Delete(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}
