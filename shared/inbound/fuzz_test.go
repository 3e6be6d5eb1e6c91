package inbound_test

import (
	"testing"

	"github.com/heraldhq/herald/shared/inbound"
)

// FuzzAfter: a cursor from a client is refused unless it is one of this tenant's list, never
// a panic; the cursor a page made gives back its key.
func FuzzAfter(f *testing.F) {
	f.Add(inbound.Cursor("acme", "2026-12-05T09:00:00.000000000Z#e1#stage_webhooks"), "acme", "k")
	f.Add("", "acme", "k")
	f.Fuzz(func(t *testing.T, raw, tenant, key string) {
		if got, err := inbound.After(tenant, raw); err == nil {
			if _, err := inbound.After(tenant+"x", raw); err == nil {
				t.Fatalf("cursor %q (key %q) is accepted for %q and %q", raw, got, tenant, tenant+"x")
			}
		}
		if key == "" {
			return
		}
		if got, err := inbound.After(tenant, inbound.Cursor(tenant, key)); err != nil || got != key {
			t.Fatalf("cursor of %q gives %q, %v", key, got, err)
		}
	})
}

// FuzzSubject: an event detail, whatever it holds, gives a valid tenant or none.
func FuzzSubject(f *testing.F) {
	f.Add([]byte(`{"tenant_id":"acme","project_hash":"p","task_id":"t"}`))
	f.Add([]byte(`{"tenant_id":7}`))
	f.Fuzz(func(t *testing.T, detail []byte) {
		tenant, project, task := inbound.Subject(detail)
		if tenant != "" && !inbound.ValidTenant(tenant) || len(project) > 128 || len(task) > 128 {
			t.Fatalf("Subject(%q) = %q, %q, %q", detail, tenant, project, task)
		}
	})
}
