// Package apicall calls Herald's configuration API over HTTP as a client with an API key
// would, for the tests that drive a running Herald.
package apicall

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// JSON sends method path with body (marshalled, when not nil) to the API at baseURL with key,
// and decodes a JSON object answer; the status is returned whatever the answer.
func JSON(t testing.TB, baseURL, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var raw []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		raw = b
	}
	status, answer := Raw(t, baseURL, key, method, path, raw)
	var out map[string]any
	_ = json.Unmarshal(answer, &out)
	return status, out
}

// Raw sends method path with body (none when nil) as JSON to the API at baseURL with key, and
// returns the status and the answer as it came.
func Raw(t testing.TB, baseURL, key, method, path string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, baseURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	return res.StatusCode, answer
}
