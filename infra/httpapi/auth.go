package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/shared/stagehooks"
)

// Principal is who is calling: every record the API touches belongs to Principal.TenantID.
type Principal struct {
	TenantID string
	UserID   string
}

// Authenticator establishes the caller of a request.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

type principalKey struct{}

func principalOf(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// ClaimsAuthenticator trusts claims that API Gateway's JWT authorizer has already verified
// (signature, issuer, audience, expiry); the Lambda adapter puts them in the request context.
// It only maps them to a tenant and a user.
type ClaimsAuthenticator struct {
	// TenantClaim names the claim holding the organisation, e.g. "org_id".
	TenantClaim string
	// UserClaim names the claim holding the user; default "sub".
	UserClaim string
}

type claimsKey struct{}

// WithClaims returns ctx carrying verified JWT claims.
func WithClaims(ctx context.Context, claims map[string]string) context.Context {
	return context.WithValue(ctx, claimsKey{}, claims)
}

// Authenticate implements Authenticator.
func (c ClaimsAuthenticator) Authenticate(r *http.Request) (Principal, error) {
	claims, _ := r.Context().Value(claimsKey{}).(map[string]string)
	userClaim := c.UserClaim
	if userClaim == "" {
		userClaim = "sub"
	}
	p := Principal{TenantID: claims[c.TenantClaim], UserID: claims[userClaim]}
	if c.TenantClaim == "" || !validID(p.TenantID) || !validID(p.UserID) {
		return Principal{}, errUnauthorized
	}
	return p, nil
}

// APIKey is a stored API key of the single-machine runtime. Only a hash of its secret is kept:
// a leaked database does not leak working keys.
type APIKey struct {
	ID        string
	TenantID  string
	UserID    string
	Hash      []byte
	CreatedAt time.Time
}

// APIKeyStore finds API keys by their public id.
type APIKeyStore interface {
	APIKey(ctx context.Context, id string) (APIKey, error)
}

// apiKeyPrefix marks Herald API keys, so secret scanners can recognise a leaked one.
const apiKeyPrefix = "hk_"

// ErrInvalidPrincipal is a tenant or user id that breaks stagehooks.ValidID.
var ErrInvalidPrincipal = errors.New("tenant and user must be 1 to 128 letters, digits, '-' or '_'")

// NewAPIKey makes a key for tenant and user. The plaintext is shown once; store the APIKey.
// The secret has 256 bits of entropy, which is why one SHA-256 is a sound hash for it: slow
// password hashes exist to protect guessable secrets, and these are not guessable.
func NewAPIKey(tenant, user string, now time.Time) (plaintext string, key APIKey, err error) {
	if !validID(tenant) || !validID(user) {
		return "", APIKey{}, ErrInvalidPrincipal
	}
	id := make([]byte, 8)
	secret := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return "", APIKey{}, fmt.Errorf("generate API key: %w", err)
	}
	if _, err := rand.Read(secret); err != nil {
		return "", APIKey{}, fmt.Errorf("generate API key: %w", err)
	}
	key = APIKey{ID: hex.EncodeToString(id), TenantID: tenant, UserID: user, CreatedAt: now.UTC()}
	encoded := base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(encoded))
	key.Hash = sum[:]
	return apiKeyPrefix + key.ID + "_" + encoded, key, nil
}

// APIKeyAuthenticator checks "Authorization: Bearer hk_<id>_<secret>" against stored hashes.
type APIKeyAuthenticator struct {
	Keys APIKeyStore
}

// Authenticate implements Authenticator.
func (a APIKeyAuthenticator) Authenticate(r *http.Request) (Principal, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return Principal{}, errUnauthorized
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(token), apiKeyPrefix)
	id, secret, found := strings.Cut(rest, "_")
	if !ok || !found || len(id) != 16 || secret == "" {
		return Principal{}, errUnauthorized
	}
	key, err := a.Keys.APIKey(r.Context(), id)
	if err != nil {
		return Principal{}, errUnauthorized
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], key.Hash) != 1 {
		return Principal{}, errUnauthorized
	}
	return Principal{TenantID: key.TenantID, UserID: key.UserID}, nil
}

func validID(s string) bool { return stagehooks.ValidID(s) }
