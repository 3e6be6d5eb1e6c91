package lambdafn_test

import (
	"log/slog"
	"testing"

	"github.com/heraldhq/herald/infra/lambdafn"
)

func TestLogLevelFollowsLambdasApplicationLogLevel(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]slog.Level{"": slog.LevelInfo, "DEBUG": slog.LevelDebug, "WARN": slog.LevelWarn, "TRACE": slog.LevelDebug, "FATAL": slog.LevelError, "LOUD": slog.LevelInfo} {
		got := lambdafn.LogLevel(func(k string) string {
			if k == lambdafn.EnvLambdaLogLevel {
				return env
			}
			return ""
		})
		if got != want {
			t.Errorf("AWS_LAMBDA_LOG_LEVEL=%q: level %v, want %v", env, got, want)
		}
	}
}
