package browser_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald/infra/console"
	"github.com/heraldhq/herald/infra/lambdafn/apifn"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/oidcstandin"
)

type lambdaHandler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// gateway serves a Lambda handler as API Gateway's HTTP API with template.yaml's JWT
// authorizer does: the console's pages and the unsubscribe routes are public; any other /v1
// route needs a token the issuer signed for the API's audience, with the read scope for GET
// and the write scope for anything else, and the function gets its claims.
func gateway(handler lambdaHandler, issuer *oidcstandin.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RawPath: r.URL.Path, RawQueryString: r.URL.RawQuery, Headers: map[string]string{}, Body: string(body),
		}
		for k := range r.Header {
			req.Headers[strings.ToLower(k)] = r.Header.Get(k)
		}
		req.RequestContext.HTTP.Method, req.RequestContext.HTTP.Path, req.RequestContext.DomainName = r.Method, r.URL.Path, r.Host
		if strings.HasPrefix(r.URL.Path, "/v1/") && r.URL.Path != "/v1/unsubscribe" {
			claims, scopes, err := issuer.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
			if err != nil {
				http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
				return
			}
			need := "herald/write"
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/v1/slack/oauth/") {
				need = "herald/read"
			}
			if !slices.Contains(scopes, need) && !slices.Contains(scopes, "herald/write") {
				http.Error(w, `{"message":"Forbidden"}`, http.StatusForbidden)
				return
			}
			req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: scopes},
			}
		}
		res, err := handler(r.Context(), req)
		if err != nil {
			http.Error(w, `{"message":"Internal Server Error"}`, http.StatusInternalServerError)
			return
		}
		for k, v := range res.Headers {
			w.Header().Set(k, v)
		}
		for k, vs := range res.MultiValueHeaders {
			w.Header()[http.CanonicalHeaderKey(k)] = vs
		}
		out := []byte(res.Body)
		if res.IsBase64Encoded {
			out, _ = base64.StdEncoding.DecodeString(res.Body)
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(out)
	})
}

// On AWS the console is served by the API function and signs in through the issuer that the
// JWT authorizer trusts, with the authorization code flow and PKCE: the issuer's stand-in
// checks the verifier, the gateway's stand-in checks the token on every API call, and the
// console then works as the token's tenant, over DynamoDB and SQS (the stand-ins). Another
// tenant's user sees none of it; a redirect with a state the tab did not send is refused.
func TestConsoleSignsInThroughOIDCOnAWS(t *testing.T) {
	b := awsfixture.New(t, awsfixture.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	issuer := oidcstandin.New(t, oidcstandin.Config{ClientID: "herald-console", RedirectURI: base + "/", Audience: "herald-api"})
	issuer.SignIn(oidcstandin.User{Subject: "alice", Claims: map[string]string{"org_id": "acme"}})
	cfg := b.Config(t, "")
	cfg.JWTTenantClaim = "org_id"
	cfg.AllowLoopback = true // the issuer's and the receiver's stand-ins listen on loopback
	handler, err := apifn.New(cfg, b.Clients(nil), slog.New(slog.NewTextHandler(io.Discard, nil)), apifn.WithConsole(console.OIDC{
		Issuer: issuer.Issuer(), ClientID: "herald-console", Scopes: []string{"openid", "herald/read", "herald/write"}, Audience: "herald-api",
	}))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: gateway(handler, issuer)}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	hook := newHookReceiver(t)

	br := newBrowser(t)
	br.run("open the console", chromedp.Navigate(base+"/"), visible("#oidc-sign-in"))
	br.page("oidc-sign-in")
	br.run("sign in through the issuer", click("#oidc-sign-in"))
	br.waitText("#who", "alice · acme")
	if address := evaluate[string](br, "read the address bar", "location.href"); strings.Contains(address, "code=") {
		t.Fatalf("the authorization code stayed in the address bar: %s", address)
	}
	br.run("open the stage webhooks", click(`a[data-tab="webhooks"]`))
	br.run("add a webhook", keys("#wh-project", project), keys("#wh-stage", annotateStage), keys("#wh-url", hook.srv.URL+"/hooks"), click("#add-webhook-submit"))
	if secret := br.text("#secret-box .secret"); !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q", secret)
	}
	br.run("send a test event", click(`button[aria-label^="Send a test event"]`))
	br.waitText("#notice", "on its way")
	br.page("oidc-stage-webhooks")

	issuer.SignIn(oidcstandin.User{Subject: "mallory", Claims: map[string]string{"org_id": "rival"}})
	br.run("sign out", click("#sign-out"), visible("#oidc-sign-in"))
	br.run("sign in as another tenant's user", click("#oidc-sign-in"))
	br.waitText("#who", "mallory · rival")
	br.run("open the stage webhooks", click(`a[data-tab="webhooks"]`))
	br.waitText("#stage-webhooks", "No stage webhooks yet")

	br.run("sign out", click("#sign-out"), visible("#oidc-sign-in"))
	br.run("come back with a forged state", chromedp.Navigate(base+"/?code=stolen&state=forged"))
	br.waitText("main", "state this tab did not send")
	br.page("oidc-forged-state")
}
