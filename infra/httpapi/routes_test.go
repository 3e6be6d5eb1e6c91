package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
)

// TestEveryRouteIsDocumentedAndEveryDocumentedRouteIsServed keeps openapi.json and routes()
// the same list, both ways.
func TestEveryRouteIsDocumentedAndEveryDocumentedRouteIsServed(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	documented := map[string]string{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				OperationID string `json:"operationId"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			documented[strings.ToUpper(method)+" "+path] = op.OperationID
		}
	}
	served := map[string]string{}
	for _, rt := range routes() {
		served[rt.method+" "+rt.pattern] = rt.operationID
	}
	var missing, extra []string
	for k, id := range served {
		if documented[k] != id {
			missing = append(missing, k+" ("+id+")")
		}
	}
	for k := range documented {
		if _, ok := served[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("routes not documented (or with another operationId): %v\ndocumented but not served: %v", missing, extra)
	}

	// Every documented route reaches a handler: the mux answers neither 404 nor 405. Without
	// credentials a protected route must say 401, which proves it was matched.
	h := New(Deps{Auth: ClaimsAuthenticator{TenantClaim: "org_id"}})
	for k := range documented {
		method, path, _ := strings.Cut(k, " ")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, strings.ReplaceAll(path, "{id}", "wh_x"), nil))
		if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
			t.Errorf("%s answered %d: documented but not routed", k, rec.Code)
		}
	}
}

func TestUnknownRoutesAnswerProblemDetails(t *testing.T) {
	t.Parallel()
	h := New(Deps{Auth: ClaimsAuthenticator{TenantClaim: "org_id"}})
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/nothing", http.StatusNotFound},
		{"PUT", "/v1/webhooks", http.StatusMethodNotAllowed},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %s, want %d problem+json", c.method, c.path, rec.Code, rec.Header().Get("Content-Type"), c.status)
		}
	}
}
