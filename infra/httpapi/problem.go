package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/shared/stagehooks"
)

// problemBase prefixes every problem type URI (RFC 9457): clients switch on these, so they
// never change once published.
const problemBase = "https://herald.dev/problems/"

// Problem is an RFC 9457 problem detail with per-field errors.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldIssue `json:"errors,omitempty"`
}

// FieldIssue names a field of the request and what is wrong with it.
type FieldIssue struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

func problem(status int, kind, title, detail string, issues ...FieldIssue) *Problem {
	return &Problem{Type: problemBase + kind, Title: title, Status: status, Detail: detail, Errors: issues}
}

// Problem kinds.
var (
	errUnauthorized = problem(http.StatusUnauthorized, "unauthorized", "Unauthorized", "send a valid API key or token in the Authorization header")
	errNotFound     = problem(http.StatusNotFound, "not-found", "Not found", "no such resource")
	errStale        = problem(http.StatusPreconditionFailed, "precondition-failed", "Precondition failed", "the resource changed since the ETag in If-Match; fetch it again")
	errMediaType    = problem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", "send Content-Type: application/json")
)

func validation(issues ...FieldIssue) *Problem {
	return problem(http.StatusUnprocessableEntity, "validation", "Invalid request", "one or more fields are invalid", issues...)
}

func badRequest(kind, title, detail string, issues ...FieldIssue) *Problem {
	return problem(http.StatusBadRequest, kind, title, detail, issues...)
}

// writeProblem sends p as application/problem+json.
func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// fail maps an error to its problem at the edge, from its kind. Anything unclassified is our
// fault: logged with its detail, answered with a 500 that reveals nothing internal.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var p *Problem
	var fe *stagehooks.FieldError
	switch {
	case errors.As(err, &p):
	case errors.As(err, &fe):
		p = validation(issuesOf(err)...)
	case errors.Is(err, stagehooks.ErrNotFound):
		p = errNotFound
	case errors.Is(err, stagehooks.ErrVersionConflict):
		p = errStale
	case errors.Is(err, stagehooks.ErrDuplicateURL):
		p = problem(http.StatusConflict, "duplicate-url", "Duplicate URL", "this stage already has a webhook with that URL",
			FieldIssue{Field: "url", Reason: "already used by another webhook on this stage"})
	case errors.Is(err, stagehooks.ErrExists):
		p = problem(http.StatusConflict, "conflict", "Conflict", "the resource already exists")
	default:
		s.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		p = problem(http.StatusInternalServerError, "internal", "Internal error", "the request could not be completed; retry later")
	}
	writeProblem(w, p)
}

// maxBody caps request bodies: the largest legitimate body (a notification with its channels
// and triggers) is a few KiB.
const maxBody = 64 << 10

// decode reads a JSON body strictly: application/json only, capped, no unknown fields, no
// trailing data, and type errors reported against the field that has them.
func decode(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/json") {
		return errMediaType
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return problem(http.StatusRequestEntityTooLarge, "payload-too-large", "Payload too large", fmt.Sprintf("request bodies are limited to %d bytes", maxBody))
		}
		return badRequest("malformed-json", "Malformed JSON", "the request body could not be read")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonProblem(err)
	}
	if dec.More() {
		return badRequest("malformed-json", "Malformed JSON", "the body holds more than one JSON value")
	}
	return nil
}

func jsonProblem(err error) *Problem {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "(body)"
		}
		return validation(FieldIssue{Field: field, Reason: fmt.Sprintf("must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)})
	case errors.As(err, &syntaxErr):
		return badRequest("malformed-json", "Malformed JSON", fmt.Sprintf("invalid JSON at byte %d", syntaxErr.Offset))
	case errors.Is(err, io.EOF):
		return badRequest("malformed-json", "Malformed JSON", "the request body is empty")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return validation(FieldIssue{Field: field, Reason: "unknown field"})
	default:
		return badRequest("malformed-json", "Malformed JSON", "the request body is not valid JSON")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	default:
		return "a number"
	}
}

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// discardLogger is used when a Server is built without one.
var discardLogger = slog.New(slog.DiscardHandler)
