// Package console is Herald's browser console: static assets embedded in the binary and
// served by the configuration API's own handler, at / and /console/, on AWS (through API
// Gateway, from the API function) and on one machine alike. The console is a client of the
// API and nothing else: it calls only Herald's own routes, with the caller's API key (on one
// machine) or the OIDC access token the API's JWT authorizer verifies (on AWS).
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Config says how the console signs in.
type Config struct {
	// OIDC, when its Issuer is set, signs in through that issuer (authorization code with
	// PKCE); otherwise the console asks for an API key, or takes a sign-in link's code.
	OIDC OIDC
	// AllowLoopbackIssuer accepts an http:// issuer on a loopback address: a stand-in in
	// tests, under the same local-only flag as loopback webhooks.
	AllowLoopbackIssuer bool
}

// OIDC is the identity provider the API's JWT authorizer trusts.
type OIDC struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	// Scopes are requested with the token: openid and the API's read and write scopes.
	Scopes []string `json:"scopes"`
	// Audience, when the issuer needs it asked for (Auth0 does), is the API's audience.
	Audience string `json:"audience,omitempty"`
	// AuthorizationEndpoint and TokenEndpoint, when set, are used instead of the issuer's
	// discovery document: Cognito, for one, serves them from another host than its issuer.
	AuthorizationEndpoint string `json:"authorization_endpoint,omitempty"`
	TokenEndpoint         string `json:"token_endpoint,omitempty"`
}

// Validate reports what an OIDC configuration lacks; allowLoopback accepts http:// URLs on
// loopback addresses.
func (o OIDC) Validate(allowLoopback bool) error {
	if o.Issuer == "" {
		return nil
	}
	secure := func(raw string) bool {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return false
		}
		if u.Scheme == "https" {
			return true
		}
		ip := net.ParseIP(u.Hostname())
		return allowLoopback && u.Scheme == "http" && ip != nil && ip.IsLoopback()
	}
	if !secure(o.Issuer) {
		return fmt.Errorf("console OIDC issuer %q: must be an https URL", o.Issuer)
	}
	if o.ClientID == "" {
		return fmt.Errorf("console OIDC: a client id is needed with issuer %s", o.Issuer)
	}
	for name, e := range map[string]string{"authorization endpoint": o.AuthorizationEndpoint, "token endpoint": o.TokenEndpoint} {
		if e == "" {
			continue
		}
		if !secure(e) {
			return fmt.Errorf("console OIDC %s %q: must be an https URL", name, e)
		}
	}
	return nil
}

// Handler serves the console: index.html at /, the assets under /console/, and
// /console/config.json, which tells the page how to sign in.
func Handler(cfg Config) (http.Handler, error) {
	if err := cfg.OIDC.Validate(cfg.AllowLoopbackIssuer); err != nil {
		return nil, err
	}
	root, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("console assets: %w", err)
	}
	h := &handler{files: map[string]file{}, csp: contentSecurityPolicy(cfg.OIDC)}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		h.add(name, body)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console assets: %w", err)
	}
	auth := map[string]any{"mode": "api_key"}
	if cfg.OIDC.Issuer != "" {
		auth = map[string]any{"mode": "oidc", "oidc": cfg.OIDC}
	}
	body, err := json.Marshal(map[string]any{"auth": auth})
	if err != nil {
		return nil, fmt.Errorf("console config: %w", err)
	}
	h.add("config.json", body)
	return h, nil
}

type file struct {
	body        []byte
	contentType string
	etag        string
}

type handler struct {
	files map[string]file
	csp   string
}

func (h *handler) add(name string, body []byte) {
	sum := sha256.Sum256(body)
	h.files[name] = file{body: body, contentType: contentType(name), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".md":
		return "text/markdown; charset=utf-8"
	}
	return "application/octet-stream"
}

// contentSecurityPolicy allows the console's own scripts, styles and API, and the OIDC
// issuer's discovery and token endpoints: no inline script, no other origin, no framing.
func contentSecurityPolicy(o OIDC) string {
	connect := "'self'"
	seen := map[string]bool{}
	for _, e := range []string{o.Issuer, o.TokenEndpoint} {
		if u, err := url.Parse(e); e != "" && err == nil && !seen[u.Host] {
			seen[u.Host] = true
			connect += " " + u.Scheme + "://" + u.Host
		}
	}
	return strings.Join([]string{
		"default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "font-src 'self'",
		"connect-src " + connect, "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
	}, "; ")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/console/")
	if r.URL.Path == "/" {
		name = "index.html"
	}
	f, ok := h.files[name]
	if !ok || name == "index.html" && r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", h.csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Content-Type", f.contentType)
	// Revalidated on every load: a deploy shows at once, and an unchanged asset costs a 304.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
