// Package api_test drives the configuration API over HTTP on both backends: the embedded
// default (SQLite, API keys, a real local port) and AWS (DynamoDB Local, SQS stand-in, the
// Lambda handler invoked with API Gateway HTTP API events carrying verified JWT claims).
package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/infra/httpapi"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/apifn"
	"github.com/heraldhq/herald/infra/localqueue"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/inbound"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/slack"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/slackstandin"
)

// response is what a call returned.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %s", r.status, r.body)
	}
	return m
}

// backend is the API on one set of adapters.
type backend struct {
	name string
	// call sends a request as the given tenant and user ("" tenant: no credentials).
	call func(t *testing.T, tenant, user, method, path string, body []byte, header http.Header) response
	// jobs returns the delivery jobs queued so far.
	jobs func(t *testing.T) []delivery.Job
	// endpoints reads the delivery path's view of a webhook.
	endpoints delivery.EndpointSource
	// attempts is the attempt log the delivery path writes and the API reads.
	attempts delivery.AttemptLog
	// channels stores Slack channels as the OAuth callback does.
	channels channelSaver
	// slack is the stand-in of Slack the API's Slack app talks to.
	slack *slackstandin.Server
	// idempotencyRecords returns every stored Idempotency-Key record, whole, as text.
	idempotencyRecords func(t *testing.T) []string
	// activity is where the notification router records what digests summarise.
	activity digest.ActivityStore
	// schedules says when notifications' digests are next due.
	schedules digest.ScheduleStore
	// signInCode makes the code of a console sign-in link for tenant and user; nil where the
	// console signs in through OIDC (on AWS).
	signInCode func(t *testing.T, tenant, user string) string
	// inbound records what became of inbound events, as the routers do.
	inbound inbound.Recorder
	// baseURL is where the embedded API listens, for calls with credentials of the test's own.
	baseURL string
}

type channelSaver interface {
	SaveChannel(ctx context.Context, ch slack.Channel) error
}

// backendOptions vary the API's surroundings; the zero value is the usual set-up.
type backendOptions struct {
	// slack is how the API's Slack app is configured: "" for the stand-in, "none" for not
	// at all, "unreachable" for a Web API nothing listens on.
	slack string
}

// unsubscribeKey signs the unsubscribe links of the tests' emails, on both backends.
const unsubscribeKey = "0123456789abcdef0123456789abcdef"

// unsubscribeToken is the token of the link that removes address from tenant's notifications.
func unsubscribeToken(tenant, address string, ids ...string) string {
	link := mailbatch.Links{BaseURL: "https://herald.example", Key: []byte(unsubscribeKey)}.URL(tenant, address, ids)
	_, token, _ := strings.Cut(link, "token=")
	return token
}

// The Slack app of the tests, registered with the stand-in.
const (
	slackClientID     = "1234.5678"
	slackClientSecret = "s3cr3t-client-secret-value"
	slackRedirectURL  = "https://herald.example.com/slack/callback"
)

// slackConfig is the Slack app as the runtimes take it, pointed at the stand-in.
func slackConfig(s *slackstandin.Server, opts backendOptions) lambdafn.SlackConfig {
	c := lambdafn.SlackConfig{
		ClientID: slackClientID, ClientSecret: slackClientSecret, RedirectURL: slackRedirectURL,
		StateKey:     "0123456789abcdef0123456789abcdef",
		AuthorizeURL: s.AuthorizeURL(), APIURL: s.APIURL(), WebhookURLPrefix: s.WebhookPrefix(),
	}
	switch opts.slack {
	case "none":
		return lambdafn.SlackConfig{}
	case "unreachable":
		c.APIURL = "http://127.0.0.1:1/api/" // port 1: nothing listens, the dial is refused
	}
	return c
}

func newSlackStandin(t *testing.T) *slackstandin.Server {
	return slackstandin.New(t, slackstandin.Config{ClientID: slackClientID, ClientSecret: slackClientSecret, RedirectURL: slackRedirectURL})
}

func backends(t *testing.T, opts backendOptions) []func(t *testing.T) backend {
	return []func(t *testing.T) backend{
		func(t *testing.T) backend { return embedded(t, opts) },
		func(t *testing.T) backend { return onAWS(t, opts) },
	}
}

// noRedirects hands redirects back to the test instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// embeddedStores are the embedded runtime's stores over one fresh database, and the API's
// dependencies on them.
type embeddedStores struct {
	db        *sql.DB
	channels  *sqlitestore.SlackChannels
	store     *sqlitestore.Store
	keys      *sqlitestore.APIKeys
	queue     *localqueue.Queue
	activity  *sqlitestore.Activity
	schedules *sqlitestore.Schedules
	inbound   *sqlitestore.Inbound
	deps      httpapi.Deps
}

func newEmbeddedStores(tb testing.TB) embeddedStores {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, tb.TempDir(), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	e := embeddedStores{db: db}
	e.store, err = sqlitestore.New(ctx, db, sqlitestore.Options{})
	must(err)
	e.keys, err = sqlitestore.NewAPIKeys(ctx, db)
	must(err)
	e.queue, err = localqueue.New(ctx, db, "DeliveryQueue", localqueue.Options{})
	must(err)
	e.channels, err = sqlitestore.NewSlackChannels(ctx, db)
	must(err)
	idempotency, err := sqlitestore.NewIdempotency(ctx, db, httpapi.IdempotencyTTL)
	must(err)
	e.activity, err = sqlitestore.NewActivity(ctx, db)
	must(err)
	e.schedules, err = sqlitestore.NewSchedules(ctx, db)
	must(err)
	e.inbound, err = sqlitestore.NewInbound(ctx, db)
	must(err)
	e.deps = httpapi.Deps{
		Inbound: e.inbound,
		Auth:    httpapi.APIKeyAuthenticator{Keys: e.keys}, Webhooks: e.store, Endpoints: e.store, Log: e.store, Jobs: e.queue,
		Notifications: e.store, Slack: e.channels, Idempotency: idempotency,
		URLs:        httpapi.URLPolicy{Resolver: noDNS()},
		Unsubscribe: mailbatch.Links{Key: []byte(unsubscribeKey)},
		Activity:    e.activity,
		Digests:     e.schedules,
		SignIn:      e.keys,
	}
	return e
}

// embedded serves the API on a real local port with API keys, as `go run ./infra/herald` does.
func embedded(t *testing.T, opts backendOptions) backend {
	t.Helper()
	ctx := context.Background()
	e := newEmbeddedStores(t)
	db, store, keys, queue, channels := e.db, e.store, e.keys, e.queue, e.channels
	slackStandin := newSlackStandin(t)
	// The stand-in listens on loopback, as deliveries' receivers in tests do.
	flow, err := apifn.SlackFlow(slackConfig(slackStandin, opts), true)
	if err != nil {
		t.Fatal(err)
	}
	deps := e.deps
	if flow != nil {
		deps.SlackOAuth = flow
	}
	srv := httptest.NewServer(httpapi.New(deps))
	t.Cleanup(srv.Close)
	apiKeys := map[string]string{}
	return backend{
		name:      "embedded",
		baseURL:   srv.URL,
		inbound:   e.inbound,
		activity:  e.activity,
		schedules: e.schedules,
		signInCode: func(t *testing.T, tenant, user string) string {
			t.Helper()
			code, err := keys.CreateSignInCode(ctx, tenant, user, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return code
		},
		call: func(t *testing.T, tenant, user, method, path string, body []byte, header http.Header) response {
			t.Helper()
			req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range header {
				req.Header[k] = v
			}
			if tenant != "" {
				key, ok := apiKeys[tenant+"/"+user]
				if !ok {
					plaintext, rec, err := httpapi.NewAPIKey(tenant, user, time.Now())
					if err != nil {
						t.Fatal(err)
					}
					if err := keys.CreateAPIKey(ctx, rec); err != nil {
						t.Fatal(err)
					}
					key, apiKeys[tenant+"/"+user] = plaintext, plaintext
				}
				req.Header.Set("Authorization", "Bearer "+key)
			}
			res, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return response{status: res.StatusCode, header: res.Header, body: b}
		},
		jobs: func(t *testing.T) []delivery.Job {
			t.Helper()
			msgs, err := queue.Receive(ctx, 10, 0)
			if err != nil {
				t.Fatal(err)
			}
			return decodeJobs(t, msgs)
		},
		endpoints: store,
		attempts:  store,
		channels:  channels,
		slack:     slackStandin,
		idempotencyRecords: func(t *testing.T) []string {
			t.Helper()
			rows, err := db.QueryContext(ctx, `SELECT tenant_id || ' ' || key_hash || ' ' || fingerprint || ' ' || coalesce(header, '') || ' ' || coalesce(CAST(body AS TEXT), '') FROM idempotency_keys`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var rec string
				if err := rows.Scan(&rec); err != nil {
					t.Fatal(err)
				}
				out = append(out, rec)
			}
			return out
		},
	}
}

// onAWS invokes the API function's Lambda handler as API Gateway's HTTP API does, with the
// claims its JWT authorizer would have verified, over DynamoDB Local and the SQS stand-in.
func onAWS(t *testing.T, opts backendOptions) backend {
	t.Helper()
	b := awsfixture.New(t, awsfixture.Options{})
	cfg := b.Config(t, "")
	cfg.JWTTenantClaim = "org_id"
	slackStandin := newSlackStandin(t)
	// The deployed URL policy (https, public addresses), although the stand-ins' loopback
	// addresses are allowed for the calls to Slack.
	handler, err := apifn.New(cfg, b.Admin(), nil, apifn.WithSlack(slackConfig(slackStandin, opts)), apifn.WithUnsubscribeKey(unsubscribeKey),
		apifn.WithURLPolicy(httpapi.URLPolicy{Resolver: noDNS()}))
	if err != nil {
		t.Fatal(err)
	}
	queue := sqsqueue.New(b.Admin().SQS, b.QueueURL, b.DLQURL)
	return backend{
		name:    "aws",
		inbound: dynamo.NewInbound(b.Admin().DynamoDB, b.AttemptsTable),
		call: func(t *testing.T, tenant, user, method, path string, body []byte, header http.Header) response {
			t.Helper()
			u, err := url.Parse(path)
			if err != nil {
				t.Fatal(err)
			}
			req := events.APIGatewayV2HTTPRequest{
				Version: "2.0", RouteKey: method + " " + u.Path, RawPath: u.Path, RawQueryString: u.RawQuery,
				Headers: map[string]string{}, Body: string(body),
			}
			req.RequestContext.HTTP.Method = method
			req.RequestContext.HTTP.Path = u.Path
			req.RequestContext.DomainName = "api.example.com"
			for k, v := range header {
				req.Headers[strings.ToLower(k)] = strings.Join(v, ",")
			}
			if tenant != "" {
				req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
					JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
						Claims: map[string]string{"org_id": tenant, "sub": user, "iss": "https://auth.example.com/"},
					},
				}
			}
			res, err := handler(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			for k, v := range res.Headers {
				h.Set(k, v)
			}
			for k, vs := range res.MultiValueHeaders {
				for _, v := range vs {
					h.Add(k, v)
				}
			}
			return response{status: res.StatusCode, header: h, body: []byte(res.Body)}
		},
		jobs: func(t *testing.T) []delivery.Job {
			t.Helper()
			msgs, err := queue.Receive(context.Background(), 10, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return decodeJobs(t, msgs)
		},
		endpoints: dynamoEndpoints(b),
		attempts:  dynamo.NewAttemptLog(b.Admin().DynamoDB, b.AttemptsTable, 0),
		channels:  dynamo.NewSlackChannels(b.Admin().DynamoDB, b.WebhooksTable),
		activity:  dynamo.NewActivity(b.Admin().DynamoDB, b.ActivityTable),
		schedules: dynamo.NewSchedules(b.Admin().DynamoDB, b.WebhooksTable),
		slack:     slackStandin,
		idempotencyRecords: func(t *testing.T) []string {
			t.Helper()
			out, err := b.Admin().DynamoDB.Scan(context.Background(), &dynamodb.ScanInput{
				TableName: aws.String(b.WebhooksTable), FilterExpression: aws.String("begins_with(sk, :idem)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":idem": &types.AttributeValueMemberS{Value: "IDEM#"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			var recs []string
			for _, item := range out.Items {
				var rec strings.Builder
				for k, v := range item {
					rec.WriteString(k + "=")
					switch v := v.(type) {
					case *types.AttributeValueMemberS:
						rec.WriteString(v.Value)
					case *types.AttributeValueMemberB:
						rec.Write(v.Value)
					case *types.AttributeValueMemberN:
						rec.WriteString(v.Value)
					}
					rec.WriteString(" ")
				}
				recs = append(recs, rec.String())
			}
			return recs
		},
	}
}

func decodeJobs(t *testing.T, msgs []eventsource.Received) []delivery.Job {
	t.Helper()
	var jobs []delivery.Job
	for _, m := range msgs {
		j, err := delivery.DecodeJob([]byte(m.Body))
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	return jobs
}
