// Package idempotency is the record the configuration API keeps under a client's
// Idempotency-Key, shared by the API (infra/httpapi), which decides what it holds, and the
// stores that keep it (infra/dynamo, infra/sqlitestore). It is its own package so that a store
// linked into a Lambda function that serves no API does not link the API with it.
package idempotency

import "net/http"

// StoredResponse is a create's response kept under its Idempotency-Key.
type StoredResponse struct {
	Fingerprint string
	Done        bool
	Status      int
	Header      http.Header
	Body        []byte
}
