package console_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/infra/console"
)

func get(t *testing.T, h http.Handler, path string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestServesTheConsoleUnderAStrictPolicy(t *testing.T) {
	h, err := console.Handler(console.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res := get(t, h, "/", nil)
	body, _ := io.ReadAll(res.Body)
	csp := res.Header.Get("Content-Security-Policy")
	if res.StatusCode != 200 || !strings.Contains(string(body), `<script type="module" src="/console/app.js">`) ||
		!strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("index: %d %v\n%s", res.StatusCode, res.Header, body)
	}
	if strings.Contains(string(body), "<script>") || strings.Contains(string(body), " style=") {
		t.Fatal("index.html has an inline script or style, which the policy refuses")
	}
	for path, kind := range map[string]string{"/console/app.js": "text/javascript", "/console/app.css": "text/css", "/console/vendor/pico.min.css": "text/css", "/console/config.json": "application/json"} {
		res := get(t, h, path, nil)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), kind) {
			t.Errorf("%s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		// An unchanged asset is revalidated for nothing.
		if again := get(t, h, path, http.Header{"If-None-Match": {res.Header.Get("ETag")}}); again.StatusCode != http.StatusNotModified {
			t.Errorf("%s again with its ETag: %d", path, again.StatusCode)
		}
	}
	for _, path := range []string{"/console/nope.js", "/console/index.html", "/console/../console.go"} {
		if res := get(t, h, path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
	}
	cfg, _ := io.ReadAll(get(t, h, "/console/config.json", nil).Body)
	if string(cfg) != `{"auth":{"mode":"api_key"}}` {
		t.Fatalf("config %s", cfg)
	}
}

func TestOIDCConfiguration(t *testing.T) {
	h, err := console.Handler(console.Config{OIDC: console.OIDC{Issuer: "https://auth.example.com/", ClientID: "herald-console", Scopes: []string{"openid", "herald/read"}}})
	if err != nil {
		t.Fatal(err)
	}
	res := get(t, h, "/", nil)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' https://auth.example.com") {
		t.Fatalf("the policy does not let the page reach the issuer: %s", csp)
	}
	cfg, _ := io.ReadAll(get(t, h, "/console/config.json", nil).Body)
	if !strings.Contains(string(cfg), `"mode":"oidc"`) || !strings.Contains(string(cfg), `"client_id":"herald-console"`) {
		t.Fatalf("config %s", cfg)
	}
	for _, bad := range []console.OIDC{{Issuer: "http://auth.example.com", ClientID: "c"}, {Issuer: "https://auth.example.com"}} {
		if _, err := console.Handler(console.Config{OIDC: bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// The vendored front-end libraries are the npm registry's files of the versions package.json
// pins (make console-vendor copies them).
func TestVendoredLibrariesMatchTheirPackages(t *testing.T) {
	for vendored, installed := range map[string]string{
		"assets/vendor/pico.min.css":    "node_modules/@picocss/pico/css/pico.min.css",
		"assets/vendor/pico.LICENSE.md": "node_modules/@picocss/pico/LICENSE.md",
	} {
		want, err := os.ReadFile(filepath.FromSlash(installed))
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s: %v (npm ci in infra/console; make test does it)", installed, err)
			}
			t.Skipf("the npm packages are not installed: %v", err)
		}
		got, err := os.ReadFile(filepath.FromSlash(vendored))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s: run make console-vendor", vendored, installed)
		}
	}
}
