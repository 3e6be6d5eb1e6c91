package lambdafn_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/slackoauth"
)

func TestMinSlackStateKeyIsSlackOAuths(t *testing.T) {
	if lambdafn.MinSlackStateKey != slackoauth.MinStateKeyLen {
		t.Fatalf("MinSlackStateKey %d, slackoauth.MinStateKeyLen %d", lambdafn.MinSlackStateKey, slackoauth.MinStateKeyLen)
	}
}

// Each function's bootstrap links what that function uses: a library's package initialisation
// runs at every cold start whether the function calls it or not (the JSON Schema library's
// alone is about 8 ms).
func TestEachFunctionLinksOnlyWhatItUses(t *testing.T) {
	t.Parallel()
	heavy := map[string]string{
		"github.com/santhosh-tekuri/jsonschema/v6": "the JSON Schema library (only the router validates events)",
		"github.com/slack-go/slack":                "Slack's client (the API connects channels, notify builds messages, delivery posts them)",
		"github.com/heraldhq/herald/infra/httpapi": "the configuration API",
		"modernc.org/sqlite":                       "SQLite (the embedded runtime's, never Lambda's)",
	}
	allowed := map[string][]string{
		"router":   {"github.com/santhosh-tekuri/jsonschema/v6"},
		"notify":   {"github.com/santhosh-tekuri/jsonschema/v6", "github.com/slack-go/slack"},
		"delivery": {"github.com/slack-go/slack"},
		"mailer":   nil,
		"api":      {"github.com/slack-go/slack", "github.com/heraldhq/herald/infra/httpapi"},
	}
	for fn, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "github.com/heraldhq/herald/functions/"+fn).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", fn, err, out)
		}
		deps := map[string]bool{}
		for _, p := range strings.Fields(string(out)) {
			deps[p] = true
		}
		for pkg, what := range heavy {
			want := false
			for _, a := range ok {
				want = want || a == pkg
			}
			if deps[pkg] != want {
				t.Errorf("functions/%s links %s: %v, want %v", fn, what, deps[pkg], want)
			}
		}
	}
}
