package samtemplate_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/infra/console"
	"github.com/heraldhq/herald/infra/lambdafn/apifn"
)

// The console is served by the API function on public routes (its pages hold nothing; the
// /v1 routes it calls keep their authorizer), and, given a client id, signs in through the
// JWT authorizer's own issuer with the API's read and write scopes.
func TestConsoleIsPublicAndSignsInThroughTheJWTIssuer(t *testing.T) {
	t.Parallel()
	routes := map[string]bool{}
	for id, ev := range eventsOfType(t, "ApiFunction", "HttpApi") {
		auth, _ := ev["Auth"].(map[string]any)
		if ev["Path"] == "/" || ev["Path"] == "/console/{proxy+}" {
			routes[fmt.Sprint(ev["Path"])] = true
			if ev["Method"] != "GET" || auth["Authorizer"] != "NONE" {
				t.Errorf("%s (%v %v): want a public GET", id, ev["Method"], ev["Path"])
			}
		}
	}
	if !routes["/"] || !routes["/console/{proxy+}"] {
		t.Fatalf("ApiFunction routes %v: want / and /console/{proxy+}", routes)
	}
	r := newResolver(tpl(t))
	values := map[string]string{}
	for name, v := range environment(t, "ApiFunction") {
		s, err := r.value(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// A !Sub of parameters, with their defaults.
		if sub, ok := strings.CutPrefix(s, "sub:"); ok {
			s = os.Expand(sub, func(name string) string { return fmt.Sprint(tpl(t).Parameters()[name].Default) })
		}
		values[name] = s
	}
	if o := apifn.LoadConsoleOIDC(func(k string) string { return values[k] }); o.ClientID != "" {
		t.Fatalf("a plain deploy serves a console signing in as %q; want none without ConsoleOidcClientId", o.ClientID)
	}
	values[apifn.EnvConsoleClientID] = "herald-console"
	o := apifn.LoadConsoleOIDC(func(k string) string { return values[k] })
	if o.Issuer != deployValues["JwtIssuer"] || !slices.Equal(o.Scopes, []string{"openid", "herald/read", "herald/write"}) {
		t.Fatalf("console OIDC %+v: want the JWT issuer and the API's scopes", o)
	}
	if _, err := console.Handler(console.Config{OIDC: o}); err != nil {
		t.Fatalf("the template's console configuration is refused: %v", err)
	}
}
