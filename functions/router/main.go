// Command router is the Lambda function that EventBridge invokes with every task stage
// transition; it enqueues one delivery job per stage webhook the transition fires.
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
		logger.Error("router configuration", "error", err)
		os.Exit(1)
	}
	awsCfg, err := lambdafn.LoadAWS(context.Background())
	if err != nil {
		logger.Error("router AWS configuration", "error", err)
		os.Exit(1)
	}
	h, err := lambdafn.NewRouter(cfg, lambdafn.NewClients(awsCfg), lambdafn.NewEMF(os.Stdout), logger)
	if err != nil {
		logger.Error("wire router", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
