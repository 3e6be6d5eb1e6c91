package lambdafn

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

// Builder wires one function's handler from its configuration, clients and metrics.
type Builder func(cfg Config, clients Clients, metrics *EMF, logger *slog.Logger) (handler any, err error)

// Main is the whole of a function's main: read the environment, build the clients once per
// execution environment, wire the handler, hand it to the Lambda runtime. A configuration
// error ends the process at init, where Lambda reports it, rather than failing every event.
func Main(name string, build Builder) {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: LogLevel(os.Getenv)})).With("function", name)
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
	metrics := NewEMF(os.Stdout)
	handler, err := build(cfg, NewClients(awsCfg), metrics, logger)
	if err != nil {
		logger.Error("wire handler", "error", err)
		os.Exit(1)
	}
	lambda.Start(flushing{next: lambda.NewHandler(handler), metrics: metrics})
}

// flushing writes an invocation's metrics when it returns, failed or not.
type flushing struct {
	next    lambda.Handler
	metrics *EMF
}

func (f flushing) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	defer f.metrics.Flush()
	return f.next.Invoke(ctx, payload)
}

// EnvLambdaLogLevel is set by Lambda from the function's LoggingConfig.ApplicationLogLevel.
const EnvLambdaLogLevel = "AWS_LAMBDA_LOG_LEVEL"

// LogLevel is the level the function logs at: Lambda's ApplicationLogLevel, so that lines
// Lambda would drop are not even formatted; INFO when it is unset or unknown.
func LogLevel(getenv func(string) string) slog.Level {
	// Lambda's levels are slog's plus TRACE, below DEBUG, and FATAL, above ERROR.
	switch v := getenv(EnvLambdaLogLevel); v {
	case "TRACE":
		return slog.LevelDebug
	case "FATAL":
		return slog.LevelError
	default:
		var level slog.Level
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return slog.LevelInfo
		}
		return level
	}
}
