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
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
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
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return res.StatusCode, out
}
