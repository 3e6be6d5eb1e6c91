// Package oidcstandin is a local stand-in of an OpenID Connect issuer for tests: discovery, an
// authorization endpoint that signs the chosen user in at once, and a token endpoint that
// gives a signed JWT access token for an authorization code, checking the client, the
// redirect URI and the PKCE verifier (S256) as a real issuer does. Verify checks a token as
// API Gateway's JWT authorizer would: signature, issuer, audience and expiry.
package oidcstandin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Config registers the one public client the stand-in knows.
type Config struct {
	ClientID    string
	RedirectURI string
	Audience    string
}

// User is who signs in at the authorization endpoint: the claims of their token.
type User struct {
	Subject string
	Claims  map[string]string
}

// Server is the stand-in.
type Server struct {
	cfg  Config
	srv  *httptest.Server
	key  []byte
	mu   sync.Mutex
	user User
	// codes are the authorization codes not yet used, with what they were given for.
	codes map[string]grant
}

type grant struct {
	user      User
	challenge string
	redirect  string
	scope     string
}

// New starts the stand-in; it stops with the test.
func New(t *testing.T, cfg Config) *Server {
	t.Helper()
	s := &Server{cfg: cfg, key: make([]byte, 32), codes: map[string]grant{}}
	_, _ = rand.Read(s.key)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /token", s.token)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// Issuer is the issuer's URL, as tokens name it.
func (s *Server) Issuer() string { return s.srv.URL }

// SignIn chooses who the next authorization signs in.
func (s *Server) SignIn(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = u
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, map[string]string{
		"issuer": s.Issuer(), "authorization_endpoint": s.Issuer() + "/authorize", "token_endpoint": s.Issuer() + "/token",
	})
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.cfg.ClientID || q.Get("redirect_uri") != s.cfg.RedirectURI {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(s.cfg.RedirectURI)
	out := url.Values{"state": {q.Get("state")}}
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		out.Set("error", "invalid_request")
		out.Set("error_description", "authorization code with PKCE (S256) only")
	} else {
		code := random()
		s.mu.Lock()
		s.codes[code] = grant{user: s.user, challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), scope: q.Get("scope")}
		s.mu.Unlock()
		out.Set("code", code)
	}
	back.RawQuery = out.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	s.mu.Lock()
	g, ok := s.codes[r.PostForm.Get("code")]
	delete(s.codes, r.PostForm.Get("code"))
	s.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("client_id") != s.cfg.ClientID:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_client"})
	case !ok || g.redirect != r.PostForm.Get("redirect_uri"):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "unknown or used code"})
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "code_verifier does not match"})
	default:
		claims := map[string]any{"iss": s.Issuer(), "sub": g.user.Subject, "aud": s.cfg.Audience, "scope": g.scope,
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
		for k, v := range g.user.Claims {
			claims[k] = v
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": s.sign(claims), "token_type": "Bearer", "expires_in": 3600})
	}
}

func (s *Server) sign(claims map[string]any) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, _ := json.Marshal(claims)
	signed := header + "." + base64.RawURLEncoding.EncodeToString(body)
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks a token as API Gateway's JWT authorizer does (signature, issuer, audience,
// expiry) and returns its claims as strings, as the authorizer hands them to the function.
func (s *Server) Verify(token string) (map[string]string, []string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("not a JWT")
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, nil, errors.New("bad signature")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, nil, err
	}
	exp, _ := claims["exp"].(float64)
	if claims["iss"] != s.Issuer() || claims["aud"] != s.cfg.Audience || time.Now().Unix() > int64(exp) {
		return nil, nil, errors.New("wrong issuer or audience, or expired")
	}
	out := map[string]string{}
	for k, v := range claims {
		if str, ok := v.(string); ok {
			out[k] = str
		}
	}
	return out, strings.Fields(out["scope"]), nil
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
