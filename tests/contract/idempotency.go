package contract

import (
	"context"
	"net/http"
	"testing"

	"github.com/heraldhq/herald/infra/httpapi"
)

// TestIdempotencyStore runs the Idempotency-Key contract against a fresh store per subtest.
func TestIdempotencyStore(t *testing.T, newStore func(t *testing.T) httpapi.IdempotencyStore) {
	ctx := context.Background()
	t.Run("first claims, later ones read, finish replays, abandon frees", func(t *testing.T) {
		s := newStore(t)
		if _, claimed, err := s.Begin(ctx, "tenant-a", "k1", "fp1"); err != nil || !claimed {
			t.Fatalf("first Begin: claimed %v, %v", claimed, err)
		}
		prior, claimed, err := s.Begin(ctx, "tenant-a", "k1", "fp1")
		if err != nil || claimed || prior.Fingerprint != "fp1" || prior.Done {
			t.Fatalf("Begin while in progress: %+v claimed %v, %v", prior, claimed, err)
		}
		resp := httpapi.StoredResponse{Fingerprint: "fp1", Done: true, Status: 201,
			Header: http.Header{"Content-Type": {"application/json"}, "Etag": {`"1"`}}, Body: []byte(`{"id":"wh_1"}`)}
		if err := s.Finish(ctx, "tenant-a", "k1", resp); err != nil {
			t.Fatal(err)
		}
		prior, claimed, err = s.Begin(ctx, "tenant-a", "k1", "fp-other")
		if err != nil || claimed || !prior.Done || prior.Status != 201 || string(prior.Body) != `{"id":"wh_1"}` ||
			prior.Fingerprint != "fp1" || prior.Header.Get("Etag") != `"1"` {
			t.Fatalf("Begin after Finish: %+v claimed %v, %v", prior, claimed, err)
		}
		if _, claimed, _ := s.Begin(ctx, "tenant-b", "k1", "fp1"); !claimed {
			t.Fatal("tenant-b's key is tenant-a's")
		}
		if _, claimed, _ := s.Begin(ctx, "tenant-a", "k2", "fp2"); !claimed {
			t.Fatal("a new key was not claimed")
		}
		if err := s.Abandon(ctx, "tenant-a", "k2"); err != nil {
			t.Fatal(err)
		}
		if _, claimed, _ := s.Begin(ctx, "tenant-a", "k2", "fp2"); !claimed {
			t.Fatal("an abandoned key was not free again")
		}
	})

	t.Run("a claim finished without a body (a Slack post, a digest email) reads back as done", func(t *testing.T) {
		s := newStore(t)
		if _, claimed, err := s.Begin(ctx, "tenant-a", "slack-post:d1", "slack-post"); err != nil || !claimed {
			t.Fatalf("Begin: %v %v", claimed, err)
		}
		if err := s.Finish(ctx, "tenant-a", "slack-post:d1", httpapi.StoredResponse{Status: http.StatusOK}); err != nil {
			t.Fatalf("Finish without a body: %v", err)
		}
		prior, claimed, err := s.Begin(ctx, "tenant-a", "slack-post:d1", "slack-post")
		if err != nil || claimed || !prior.Done {
			t.Fatalf("after Finish: %+v claimed %v, %v", prior, claimed, err)
		}
	})
}
