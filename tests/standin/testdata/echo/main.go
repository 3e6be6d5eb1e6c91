// Command echo is a tiny Lambda handler used to check the Runtime Interface
// Emulator stand-in (tests/standin).
package main

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

type in struct {
	Name string `json:"name"`
}

type out struct {
	Greeting string `json:"greeting"`
}

func handle(_ context.Context, e in) (out, error) {
	if e.Name == "" {
		return out{}, errors.New("name is empty")
	}
	return out{Greeting: os.Getenv("ECHO_GREETING") + " " + e.Name}, nil
}

func main() { lambda.Start(handle) }
