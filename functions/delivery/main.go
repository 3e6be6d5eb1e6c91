// Command delivery is the Lambda function fed by the delivery queue; it makes signed webhook
// attempts and reports the messages that must come back as batch item failures.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/heraldhq/herald/infra/lambdafn"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := lambdafn.LoadConfig(os.Getenv)
	if err != nil {
		logger.Error("delivery configuration", "error", err)
		os.Exit(1)
	}
	awsCfg, err := lambdafn.LoadAWS(context.Background())
	if err != nil {
		logger.Error("delivery AWS configuration", "error", err)
		os.Exit(1)
	}
	h, err := lambdafn.NewDelivery(cfg, lambdafn.NewClients(awsCfg), lambdafn.NewEMF(os.Stdout), logger)
	if err != nil {
		logger.Error("wire delivery", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
