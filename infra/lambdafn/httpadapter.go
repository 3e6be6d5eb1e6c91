package lambdafn

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// ClaimsContext puts the JWT claims API Gateway verified into the request's context, where
// the API's authenticator reads them.
type ClaimsContext func(ctx context.Context, claims map[string]string) context.Context

// HTTPHandler adapts an http.Handler to an API Gateway HTTP API (payload format 2.0) Lambda
// handler: the request is rebuilt as net/http sees it, so the handler serves Lambda and a local
// port alike.
func HTTPHandler(h http.Handler, withClaims ClaimsContext) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r, err := toRequest(ctx, req)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest, Body: `{"title":"Bad request"}`,
				Headers: map[string]string{"Content-Type": "application/problem+json"}}, nil
		}
		if jwt := req.RequestContext.Authorizer; jwt != nil && jwt.JWT != nil && withClaims != nil {
			r = r.WithContext(withClaims(r.Context(), jwt.JWT.Claims))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return toResponse(rec), nil
	}
}

func toRequest(ctx context.Context, req events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
		body = decoded
	}
	target := req.RawPath
	if target == "" {
		target = "/"
	}
	if req.RawQueryString != "" {
		target += "?" + req.RawQueryString
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, fmt.Errorf("parse request path: %w", err)
	}
	method := req.RequestContext.HTTP.Method
	r, err := http.NewRequestWithContext(ctx, method, u.String(), strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range req.Headers {
		// API Gateway joins repeated headers with commas, which is how HTTP combines them too.
		r.Header.Set(k, v)
	}
	if len(req.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(req.Cookies, "; "))
	}
	r.Host = req.RequestContext.DomainName
	r.RemoteAddr = req.RequestContext.HTTP.SourceIP
	r.ContentLength = int64(len(body))
	return r, nil
}

func toResponse(rec *httptest.ResponseRecorder) events.APIGatewayV2HTTPResponse {
	res := events.APIGatewayV2HTTPResponse{StatusCode: rec.Code, Headers: map[string]string{}, MultiValueHeaders: map[string][]string{}}
	for k, v := range rec.Header() {
		if len(v) == 1 {
			res.Headers[k] = v[0]
		} else {
			res.MultiValueHeaders[k] = v
		}
	}
	if b := rec.Body.Bytes(); utf8.Valid(b) {
		res.Body = string(b)
	} else {
		res.Body = base64.StdEncoding.EncodeToString(b)
		res.IsBase64Encoded = true
	}
	return res
}
