// Command api is the Lambda function behind the configuration API (API Gateway HTTP API with a
// JWT authorizer): stage webhooks and, as they land, notifications, Slack channels and the
// delivery log.
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
		logger.Error("API configuration", "error", err)
		os.Exit(1)
	}
	awsCfg, err := lambdafn.LoadAWS(context.Background())
	if err != nil {
		logger.Error("API AWS configuration", "error", err)
		os.Exit(1)
	}
	handler, err := lambdafn.NewAPI(cfg, lambdafn.NewClients(awsCfg), logger)
	if err != nil {
		logger.Error("wire API", "error", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
