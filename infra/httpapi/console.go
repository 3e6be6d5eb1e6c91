package httpapi

import (
	"context"
	"errors"
	"net/http"
)

// ConsoleSignIn turns the one-time code of a console sign-in link (what `herald -demo`
// prints) into an API key for the browser; nil where the console signs in through the OIDC
// issuer that the API's JWT authorizer trusts.
type ConsoleSignIn interface {
	RedeemSignInCode(ctx context.Context, code string) (SignedIn, error)
}

// SignedIn is a redeemed sign-in code: a new API key, shown this once, and whose it is.
type SignedIn struct {
	APIKey   string `json:"api_key"`
	TenantID string `json:"tenant_id"`
	UserID   string `json:"user_id"`
}

// ErrSignInCodeInvalid is a sign-in code that is unknown, used or expired.
var ErrSignInCodeInvalid = errors.New("sign-in code unknown, used or expired")

// me answers who the caller is: the console shows it, and checks a pasted API key with it.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{"tenant_id": p.TenantID, "user_id": p.UserID})
}

func (s *Server) consoleSignIn(w http.ResponseWriter, r *http.Request) {
	if s.SignIn == nil {
		s.fail(w, r, problem(http.StatusServiceUnavailable, "sign-in-links-not-configured", "Sign-in links not configured",
			"this installation signs the console in through its identity provider"))
		return
	}
	var in struct {
		Code string `json:"code"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Code == "" || len(in.Code) > 128 {
		s.fail(w, r, validation(FieldIssue{Field: "code", Reason: "is required: the code after #sign-in= in the link"}))
		return
	}
	signed, err := s.SignIn.RedeemSignInCode(r.Context(), in.Code)
	if errors.Is(err, ErrSignInCodeInvalid) {
		s.fail(w, r, problem(http.StatusUnauthorized, "sign-in-link-invalid", "Sign-in link used or expired",
			"a sign-in link works once, within 15 minutes; run `go run ./infra/herald signin-link` in the Herald checkout for a new one, or sign in with an API key"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, signed)
}
