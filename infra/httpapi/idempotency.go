package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// StoredResponse is a create's response kept under its Idempotency-Key.
type StoredResponse struct {
	Fingerprint string
	Done        bool
	Status      int
	Header      http.Header
	Body        []byte
}

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
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, p Principal, create http.HandlerFunc) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		create(w, r)
		return
	}
	if len(key) > maxIdempotencyKey {
		s.fail(w, r, badRequest("invalid-header", "Invalid header", "Idempotency-Key is limited to 255 characters"))
		return
	}
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
			for k, v := range prior.Header {
				w.Header()[k] = v
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(prior.Status)
			_, _ = w.Write(prior.Body)
		}
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	create(rec, r)
	res := rec.Result()
	if res.StatusCode >= 500 {
		_ = s.Idempotency.Abandon(r.Context(), p.TenantID, key)
	} else {
		stored := StoredResponse{Fingerprint: fingerprint, Done: true, Status: res.StatusCode, Header: res.Header.Clone(), Body: rec.Body.Bytes()}
		if err := s.Idempotency.Finish(r.Context(), p.TenantID, key, stored); err != nil {
			s.logger.ErrorContext(r.Context(), "store idempotent response", "error", err)
		}
	}
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(rec.Body.Bytes())
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
