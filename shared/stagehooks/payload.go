package stagehooks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/events/stagetransition"
)

// Event types of the platform's stage webhooks.
const (
	EventTaskSubmitted = "task_submitted_event"
	EventTaskCompleted = "task_completed_event"
)

// PayloadVersion is the major version of the payload format; it changes only with a
// backwards-incompatible change.
const PayloadVersion = 1

// PayloadSource is always "Encord": receivers built against the platform check it.
const PayloadSource = "Encord"

// timestampLayout renders 2024-03-25T15:18:55.406529+00:00 as in the documented examples:
// always six fractional digits and a numeric offset, never "Z".
const timestampLayout = "2006-01-02T15:04:05.000000-07:00"

// Field order in these structs is the documented order; encoding/json keeps it, so bodies
// read like the documentation's examples.
type envelope[T any] struct {
	UID                   string `json:"uid"`
	Version               int    `json:"version"`
	Source                string `json:"source"`
	EventType             string `json:"event_type"`
	EventCreatedTimestamp string `json:"event_created_timestamp"`
	Payload               T      `json:"payload"`
}

type taskSubmitted struct {
	ProjectHash string   `json:"project_hash"`
	DataHashes  []string `json:"data_hashes"`
	LabelHashes []string `json:"label_hashes"`
}

type taskCompleted struct {
	LabelHash   string `json:"label_hash"`
	ProjectHash string `json:"project_hash"`
	DataHash    string `json:"data_hash"`
}

// uidNamespace scopes Herald's name-based payload uids.
var uidNamespace = uuid.MustParse("5b0b4c1e-8f55-4b8e-9d4a-2c6f1e0a7d31")

// PayloadUID derives the payload uid from the transition and the webhook, not from the
// EventBridge envelope: EventBridge redelivers with the same envelope id, but a producer that
// retries PutEvents publishes a new one. Either way the same transition gives each webhook the
// same uid, so receivers can deduplicate on webhook-id.
func PayloadUID(d stagetransition.Detail, webhookID, eventType string) string {
	from := ""
	if d.FromStage != nil {
		from = d.FromStage.UUID
	}
	name := fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", d.ProjectHash, d.TaskID, from, d.ToStage.UUID,
		d.OccurredAt.UTC().Format(time.RFC3339Nano), webhookID, eventType)
	return uuid.NewSHA1(uidNamespace, []byte(name)).String()
}

// BuildPayload renders the documented JSON body of eventType for one transition.
func BuildPayload(d stagetransition.Detail, eventType, uid string) ([]byte, error) {
	created := d.OccurredAt.UTC().Format(timestampLayout)
	switch eventType {
	case EventTaskSubmitted:
		return json.Marshal(envelope[taskSubmitted]{
			UID: uid, Version: PayloadVersion, Source: PayloadSource, EventType: eventType, EventCreatedTimestamp: created,
			Payload: taskSubmitted{ProjectHash: d.ProjectHash, DataHashes: d.DataHashes, LabelHashes: d.LabelHashes},
		})
	case EventTaskCompleted:
		if len(d.DataHashes) != 1 || len(d.LabelHashes) != 1 {
			return nil, &stagetransition.InvalidError{Reason: stagetransition.ReasonMissingHashes,
				Detail: fmt.Sprintf("a completed task has one data unit and one label row; got %d data hashes and %d label hashes", len(d.DataHashes), len(d.LabelHashes))}
		}
		return json.Marshal(envelope[taskCompleted]{
			UID: uid, Version: PayloadVersion, Source: PayloadSource, EventType: eventType, EventCreatedTimestamp: created,
			Payload: taskCompleted{LabelHash: d.LabelHashes[0], ProjectHash: d.ProjectHash, DataHash: d.DataHashes[0]},
		})
	default:
		return nil, fmt.Errorf("build payload: unknown event type %q", eventType)
	}
}
