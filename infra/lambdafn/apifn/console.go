package apifn

import (
	"strings"

	"github.com/heraldhq/herald/infra/console"
)

// The console's sign-in through the OIDC issuer that the API's JWT authorizer trusts, from
// template.yaml's Console* parameters. Without a client id the console is not served.
const (
	EnvConsoleIssuer                = "HERALD_CONSOLE_OIDC_ISSUER"
	EnvConsoleClientID              = "HERALD_CONSOLE_OIDC_CLIENT_ID"
	EnvConsoleScopes                = "HERALD_CONSOLE_OIDC_SCOPES"
	EnvConsoleAudience              = "HERALD_CONSOLE_OIDC_AUDIENCE"
	EnvConsoleAuthorizationEndpoint = "HERALD_CONSOLE_OIDC_AUTHORIZATION_ENDPOINT"
	EnvConsoleTokenEndpoint         = "HERALD_CONSOLE_OIDC_TOKEN_ENDPOINT"
)

// LoadConsoleOIDC reads the console's OIDC client from the environment; an empty client id
// means no console.
func LoadConsoleOIDC(getenv func(string) string) console.OIDC {
	o := console.OIDC{
		Issuer: getenv(EnvConsoleIssuer), ClientID: getenv(EnvConsoleClientID), Audience: getenv(EnvConsoleAudience),
		AuthorizationEndpoint: getenv(EnvConsoleAuthorizationEndpoint), TokenEndpoint: getenv(EnvConsoleTokenEndpoint),
		Scopes: strings.Fields(getenv(EnvConsoleScopes)),
	}
	if o.ClientID == "" {
		return console.OIDC{}
	}
	if len(o.Scopes) == 0 {
		o.Scopes = []string{"openid"}
	}
	return o
}

// WithConsole serves the browser console at / and /console/, signing in through the OIDC
// client o (LoadConsoleOIDC); an OIDC without a client id serves none.
func WithConsole(o console.OIDC) Option {
	return func(opts *apiOptions) { opts.console = o }
}
