// Package memo keeps values that are set up once per key and then read on a hot path by many
// goroutines: parsed webhook URLs, signing keys.
package memo

import (
	"sync"
	"sync/atomic"
)

// Map maps keys to values with reads that take no lock (a sync.Map). It stays bounded without
// an eviction list: storing past a limit forgets every entry, and each forgotten one costs a
// single setup again when next used. The zero value is empty and ready to use.
type Map[K comparable, V any] struct {
	m     sync.Map
	count atomic.Int64
}

// Load returns key's value.
func (m *Map[K, V]) Load(key K) (V, bool) {
	v, ok := m.m.Load(key)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

// LoadOrStore returns key's value, storing value first when key has none (loaded is then
// false). When that store would make the map hold more than limit entries, everything else is
// forgotten first.
func (m *Map[K, V]) LoadOrStore(key K, value V, limit int) (actual V, loaded bool) {
	if got, loaded := m.m.LoadOrStore(key, value); loaded {
		return got.(V), true
	}
	if m.count.Add(1) > int64(limit) {
		m.m.Clear()
		m.count.Store(0)
		m.m.Store(key, value)
		m.count.Add(1)
	}
	return value, false
}
