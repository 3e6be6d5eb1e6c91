package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/infra/idempotency"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/signing"
)

// StoredResponse is a create's response kept under its Idempotency-Key.
type StoredResponse = idempotency.StoredResponse

// IdempotencyStore keeps responses by tenant and Idempotency-Key.
type IdempotencyStore interface {
	// Begin claims the key for a request with fingerprint. When the key is already known it
	// returns what is stored for it instead (claimed false).
	Begin(ctx context.Context, tenant, key, fingerprint string) (prior StoredResponse, claimed bool, err error)
	// Finish stores the response of a claimed key; Abandon releases the claim so the client
	// can retry (our own failure must not pin a 500 to the key).
	Finish(ctx context.Context, tenant, key string, resp StoredResponse) error
	Abandon(ctx context.Context, tenant, key string) error
}

// IdempotencyTTL is how long a key is remembered: clients retry within minutes, and Stripe's
// 24 hours is the convention clients expect.
const IdempotencyTTL = 24 * time.Hour

// maxIdempotencyKey bounds the header, as Stripe does (255).
const maxIdempotencyKey = 255

// idempotent runs a create under the request's Idempotency-Key, if it has one: the same key
// with the same request replays the first response; with a different request it is refused.
//
// Keys belong to the user who sent them, within their tenant: another user's identical key is
// another request. A create that shows a signing secret reports it with revealSecret, and the
// stored response keeps a reference in its place (the webhook's id and a SHA-256 of the
// secret), never the secret: a replay reads the secret back from the webhook's own record,
// and only while it is still the webhook's current secret. After a delete or a rotation the
// replay is refused with 409 rather than showing a secret again.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, p Principal, create http.HandlerFunc) {
	rawKey := r.Header.Get("Idempotency-Key")
	if rawKey == "" {
		create(w, r)
		return
	}
	if len(rawKey) > maxIdempotencyKey {
		s.fail(w, r, badRequest("invalid-header", "Invalid header", "Idempotency-Key is limited to 255 characters"))
		return
	}
	key := userScopedKey(p.UserID, rawKey)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.fail(w, r, problem(http.StatusRequestEntityTooLarge, "payload-too-large", "Payload too large", "request bodies are limited to 65536 bytes"))
		return
	}
	sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
	fingerprint := hex.EncodeToString(sum[:])
	prior, claimed, err := s.Idempotency.Begin(r.Context(), p.TenantID, key, fingerprint)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !claimed {
		switch {
		case prior.Fingerprint != fingerprint:
			s.fail(w, r, problem(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key reused",
				"this Idempotency-Key was used with a different request"))
		case !prior.Done:
			s.fail(w, r, problem(http.StatusConflict, "idempotency-in-progress", "Request in progress",
				"a request with this Idempotency-Key is still being processed; retry shortly"))
		default:
			replay, err := s.restoreSecrets(r.Context(), p.TenantID, prior.Body)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			for k, v := range prior.Header {
				w.Header()[k] = v
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(prior.Status)
			_, _ = w.Write(replay)
		}
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	shown := &revealedSecrets{}
	r = r.WithContext(context.WithValue(r.Context(), revealedKey{}, shown))
	rec := httptest.NewRecorder()
	create(rec, r)
	res := rec.Result()
	stored := redactSecrets(rec.Body.Bytes(), shown.list)
	switch {
	case res.StatusCode >= 500:
		_ = s.Idempotency.Abandon(r.Context(), p.TenantID, key)
	case bytes.Contains(stored, []byte(signing.SecretPrefix)):
		// A secret the handler did not report: better a retry that creates again than a
		// secret kept outside its record.
		s.logger.ErrorContext(r.Context(), "idempotent response not stored: it holds an unreported signing secret", "path", r.URL.Path)
		_ = s.Idempotency.Abandon(r.Context(), p.TenantID, key)
	default:
		resp := StoredResponse{Fingerprint: fingerprint, Done: true, Status: res.StatusCode, Header: res.Header.Clone(), Body: stored}
		if err := s.Idempotency.Finish(r.Context(), p.TenantID, key, resp); err != nil {
			s.logger.ErrorContext(r.Context(), "store idempotent response", "error", err)
		}
	}
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(rec.Body.Bytes())
}

// userScopedKey makes a client's key the user's own: the length prefix keeps "ab"+"c" and
// "a"+"bc" apart whatever the characters.
func userScopedKey(user, key string) string {
	return strconv.Itoa(len(user)) + ":" + user + ":" + key
}

// revealedSecrets collects the signing secrets a create shows in its response.
type revealedSecrets struct{ list []revealedSecret }

type revealedSecret struct{ webhookID, secret string }

type revealedKey struct{}

// revealSecret tells an idempotent create's wrapper that the response shows webhookID's
// secret, so that what is stored under the key holds a reference instead. Outside an
// idempotent request it does nothing.
func revealSecret(ctx context.Context, webhookID, secret string) {
	if shown, ok := ctx.Value(revealedKey{}).(*revealedSecrets); ok {
		shown.list = append(shown.list, revealedSecret{webhookID: webhookID, secret: secret})
	}
}

// secretRefPrefix starts the reference that takes a secret's place in a stored response:
// secretRefPrefix + webhook id + ":" + hex SHA-256 of the secret. The digest of a 256-bit
// random secret cannot be turned back into it, and a reference planted in a body by a client
// can only ever restore a secret whose digest the client already knew.
const secretRefPrefix = "herald-redacted-secret:"

var secretRef = regexp.MustCompile(secretRefPrefix + `([A-Za-z0-9_-]{1,128}):([0-9a-f]{64})`)

func secretDigest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func redactSecrets(body []byte, shown []revealedSecret) []byte {
	for _, s := range shown {
		body = bytes.ReplaceAll(body, []byte(s.secret), []byte(secretRefPrefix+s.webhookID+":"+secretDigest(s.secret)))
	}
	return body
}

var errSecretGone = problem(http.StatusConflict, "idempotency-secret-unavailable", "Secret no longer shown",
	"the webhook this Idempotency-Key created has since been deleted or its signing secret rotated, and a secret is shown only once; read the webhook, or rotate its secret to get a new one")

// restoreSecrets puts back the secrets a stored response refers to, each read from its
// webhook's own record in tenant, or fails with errSecretGone when one is no longer that
// webhook's current secret.
func (s *Server) restoreSecrets(ctx context.Context, tenant string, body []byte) ([]byte, error) {
	refs := secretRef.FindAllSubmatch(body, -1)
	if len(refs) == 0 {
		return body, nil
	}
	ids := make([]delivery.EndpointRef, 0, len(refs))
	for _, m := range refs {
		ids = append(ids, delivery.EndpointRef{TenantID: tenant, WebhookID: string(m[1])})
	}
	endpoints, err := s.Endpoints.Endpoints(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read webhooks to replay an idempotent create: %w", err)
	}
	out := body
	for i, m := range refs {
		ep, ok := endpoints[ids[i]]
		if !ok || len(ep.Secrets) == 0 || secretDigest(ep.Secrets[0]) != string(m[2]) {
			return nil, errSecretGone
		}
		out = bytes.ReplaceAll(out, m[0], []byte(ep.Secrets[0]))
	}
	return out, nil
}

// MemoryIdempotency keeps keys in this process. It serves the single-machine runtime, where
// there is one process; on Lambda each warm instance has its own, so a retry that lands on
// another instance is not recognised (a shared store is the follow-up).
type MemoryIdempotency struct {
	mu      sync.Mutex
	max     int
	entries map[string]memoryEntry
	now     func() time.Time
}

type memoryEntry struct {
	resp    StoredResponse
	expires time.Time
}

// NewMemoryIdempotency keeps up to max keys.
func NewMemoryIdempotency(max int) *MemoryIdempotency {
	return &MemoryIdempotency{max: max, entries: map[string]memoryEntry{}, now: time.Now}
}

func memoryKey(tenant, key string) string { return tenant + "\x00" + key }

// Begin implements IdempotencyStore.
func (m *MemoryIdempotency) Begin(_ context.Context, tenant, key, fingerprint string) (StoredResponse, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if e, ok := m.entries[memoryKey(tenant, key)]; ok && now.Before(e.expires) {
		return e.resp, false, nil
	}
	if len(m.entries) >= m.max {
		for k, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, k)
			}
		}
	}
	if len(m.entries) >= m.max {
		return StoredResponse{}, false, problem(http.StatusServiceUnavailable, "busy", "Busy", "too many requests in flight; retry shortly")
	}
	m.entries[memoryKey(tenant, key)] = memoryEntry{resp: StoredResponse{Fingerprint: fingerprint}, expires: now.Add(IdempotencyTTL)}
	return StoredResponse{}, true, nil
}

// Finish implements IdempotencyStore.
func (m *MemoryIdempotency) Finish(_ context.Context, tenant, key string, resp StoredResponse) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[memoryKey(tenant, key)] = memoryEntry{resp: resp, expires: m.now().Add(IdempotencyTTL)}
	return nil
}

// Abandon implements IdempotencyStore.
func (m *MemoryIdempotency) Abandon(_ context.Context, tenant, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, memoryKey(tenant, key))
	return nil
}
