// Package samples holds the sample events of every Herald function. The same files feed the
// tests and `sam local invoke -e events/samples/<function>/<file>.json`, so what the tests prove
// is what a developer replays by hand.
package samples

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
)

// Folders of the sample set:
//   - router: EventBridge events the router accepts.
//   - rejected: events the EventBridge rule lets through but the router rejects, with the
//     reason each must produce in rejected/expected-reasons.json.
//   - unmatched: events no EventBridge rule of template.yaml may deliver at all.
//   - notify: "Label Submitted", "Label Reviewed" and "Task Assigned" events (package
//     events/activity) the notification router accepts.
//   - notify-rejected: such events the notification router rejects, with the reason each must
//     produce in notify-rejected/expected-reasons.json.
//   - delivery: SQS events for the delivery function.
//   - scheduled: the scheduled event that starts a mailer or a digest run.
//   - api: API Gateway HTTP API (payload 2.0) events for the configuration API function, with
//     the JWT claims its authorizer passes on.
//   - payloads: the platform's documented webhook bodies, verbatim from its documentation.
//   - putevents: the router and notify samples as PutEvents entries, for `aws events put-events --entries file://...`.
//
//go:embed router rejected unmatched notify notify-rejected delivery scheduled payloads putevents api
var files embed.FS

// Read returns one sample file, e.g. Read("router/task-submitted.json").
func Read(name string) ([]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read sample %s: %w", name, err)
	}
	return b, nil
}

// Detail returns the detail of an EventBridge sample, e.g. Detail("router/task-submitted.json"):
// what a router's parser reads.
func Detail(name string) (json.RawMessage, error) {
	raw, err := Read(name)
	if err != nil {
		return nil, err
	}
	var ev struct {
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("read the detail of sample %s: %w", name, err)
	}
	return ev.Detail, nil
}

// List returns the names of the JSON samples in one folder, sorted, as paths Read accepts.
func List(folder string) ([]string, error) {
	entries, err := fs.ReadDir(files, folder)
	if err != nil {
		return nil, fmt.Errorf("list samples in %s: %w", folder, err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && path.Ext(e.Name()) == ".json" {
			names = append(names, path.Join(folder, e.Name()))
		}
	}
	sort.Strings(names)
	return names, nil
}
