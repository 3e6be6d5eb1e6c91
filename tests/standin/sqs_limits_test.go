package standin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/heraldhq/herald/tests/standin"
)

// The SQS stand-in refuses what SQS refuses: a visibility past 12 h counted from the receive
// (not from the call), and a delay over 15 minutes.
func TestSQSStandInRefusesWhatSQSRefuses(t *testing.T) {
	t.Parallel()
	q := standin.SQS(t)
	c := ctx(t)
	created, err := q.CreateQueue(c, &sqs.CreateQueueInput{QueueName: aws.String(standin.UniqueName("standin-limits"))})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	url := created.QueueUrl
	t.Cleanup(func() { _, _ = q.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: url}) })
	invalidParameter := func(what string, err error) {
		t.Helper()
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "InvalidParameterValue" {
			t.Fatalf("%s: %v, want InvalidParameterValue", what, err)
		}
	}

	_, err = q.SendMessage(c, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("late"), DelaySeconds: 901})
	invalidParameter("DelaySeconds 901", err)

	for range 2 {
		if _, err := q.SendMessage(c, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("m")}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := q.ReceiveMessage(c, &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil || len(got.Messages) != 2 {
		t.Fatalf("receive: %d messages, %v", len(got.Messages), err)
	}
	time.Sleep(2 * time.Second)
	_, err = q.ChangeMessageVisibility(c, &sqs.ChangeMessageVisibilityInput{QueueUrl: url, ReceiptHandle: got.Messages[0].ReceiptHandle, VisibilityTimeout: 43199})
	invalidParameter("43199 s, 2 s after the receive", err)
	if _, err := q.ChangeMessageVisibility(c, &sqs.ChangeMessageVisibilityInput{QueueUrl: url, ReceiptHandle: got.Messages[0].ReceiptHandle, VisibilityTimeout: 43190}); err != nil {
		t.Fatalf("43190 s, 2 s after the receive: %v", err)
	}
	batch, err := q.ChangeMessageVisibilityBatch(c, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: url, Entries: []sqstypes.ChangeMessageVisibilityBatchRequestEntry{
		{Id: aws.String("over"), ReceiptHandle: got.Messages[1].ReceiptHandle, VisibilityTimeout: 43199},
	}})
	if err != nil || len(batch.Failed) != 1 || aws.ToString(batch.Failed[0].Code) != "InvalidParameterValue" || !batch.Failed[0].SenderFault {
		t.Fatalf("batch entry of 43199 s: %+v, %v; want it failed with InvalidParameterValue", batch, err)
	}
}
