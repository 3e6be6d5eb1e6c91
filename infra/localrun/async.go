package localrun

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/events"

	"github.com/heraldhq/herald/infra/eventsource"
)

// asyncHandler runs an EventBridge-triggered handler over its invocation queue: each message
// is one event, and a failed invocation stays queued to be retried, as Lambda retries an
// asynchronous invocation. An event that is not even JSON would fail forever, so it goes
// straight to the failure destination via the queue's redrive after its retries.
func asyncHandler(handle func(context.Context, events.EventBridgeEvent) error) eventsource.Handler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
		for _, rec := range ev.Records {
			var e events.EventBridgeEvent
			err := json.Unmarshal([]byte(rec.Body), &e)
			if err == nil {
				err = handle(ctx, e)
			}
			if err != nil {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			}
		}
		return resp, nil
	}
}
