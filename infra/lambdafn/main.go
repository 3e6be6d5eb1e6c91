package lambdafn

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

// Builder wires one function's handler from its configuration and clients.
type Builder func(cfg Config, clients Clients, logger *slog.Logger) (handler any, err error)

// Main is the whole of a function's main: read the environment, build the clients once per
// execution environment, wire the handler, hand it to the Lambda runtime. A configuration
// error ends the process at init, where Lambda reports it, rather than failing every event.
func Main(name string, build Builder) {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", name)
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		logger.Error("read configuration", "error", err)
		os.Exit(1)
	}
	awsCfg, err := LoadAWS(context.Background())
	if err != nil {
		logger.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	handler, err := build(cfg, NewClients(awsCfg), logger)
	if err != nil {
		logger.Error("wire handler", "error", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
