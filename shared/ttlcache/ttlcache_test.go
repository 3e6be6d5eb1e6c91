package ttlcache

import (
	"testing"
	"time"
)

func TestExpiryAndBound(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	c := New[string, int](time.Minute, 2)
	c.now = func() time.Time { return now }
	c.Put("a", 1)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %d, %v", v, ok)
	}
	now = now.Add(time.Minute)
	if _, ok := c.Get("a"); ok {
		t.Fatal("entry outlived its ttl")
	}
	c.Put("b", 2)
	c.Put("c", 3) // "a" is expired and swept, so b and c fit
	c.Put("d", 4) // full of live entries: swept entirely
	if len(c.entries) > 2 {
		t.Fatalf("cache holds %d entries, bound is 2", len(c.entries))
	}
	if v, ok := c.Get("d"); !ok || v != 4 {
		t.Fatal("newest entry lost")
	}
	c.Delete("d")
	if _, ok := c.Get("d"); ok {
		t.Fatal("deleted entry still served")
	}
}

func TestZeroTTLDisables(t *testing.T) {
	t.Parallel()
	c := New[string, int](0, 10)
	c.Put("a", 1)
	if _, ok := c.Get("a"); ok {
		t.Fatal("ttl 0 cached")
	}
}
