package stagehooks_test

import (
	"testing"

	"github.com/heraldhq/herald/shared/stagehooks"
)

// FuzzDecodeCursor: a cursor from a client is refused unless this tenant's list made it, never
// a panic; a cursor it made decodes to what it holds.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(stagehooks.EncodeCursor("acme", "webhooks", "wh_1"), "acme", "wh_1")
	f.Add("", "acme", "")
	f.Add("bm90IGEgY3Vyc29y", "rival", "x")
	f.Fuzz(func(t *testing.T, raw, tenant, last string) {
		_, _ = stagehooks.DecodeCursor(raw, tenant, "webhooks")
		if got, err := stagehooks.DecodeCursor(raw, "another-"+tenant, "webhooks"); err == nil && raw != "" {
			if own, ownErr := stagehooks.DecodeCursor(raw, tenant, "webhooks"); ownErr == nil && own == got {
				t.Fatalf("cursor %q decodes for tenants %q and %q alike", raw, tenant, "another-"+tenant)
			}
		}
		made := stagehooks.EncodeCursor(tenant, "webhooks", last)
		if got, err := stagehooks.DecodeCursor(made, tenant, "webhooks"); err == nil && got != last {
			t.Fatalf("cursor of %q decodes to %q", last, got)
		}
	})
}
