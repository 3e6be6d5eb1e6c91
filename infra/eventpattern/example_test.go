package eventpattern_test

import (
	"errors"
	"fmt"

	"github.com/heraldhq/herald/infra/eventpattern"
)

func Example() {
	p, err := eventpattern.Compile([]byte(`{
	  "source": ["aws.ec2"],
	  "detail": {"state": [{"anything-but": "pending"}]}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ev := range []string{
		`{"source": "aws.ec2", "detail": {"state": "running"}}`,
		`{"source": "aws.ec2", "detail": {"state": "pending"}}`,
	} {
		ok, err := p.Match([]byte(ev))
		fmt.Println(ok, err)
	}
	// Output:
	// true <nil>
	// false <nil>
}

func ExampleCompile_error() {
	_, err := eventpattern.Compile([]byte(`{"detail": {"c-count": [{"numeric": [">", "5"]}]}}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, eventpattern.ErrInvalidPattern))
	// Output:
	// eventpattern: invalid pattern at detail.c-count[0].numeric[1]: numeric operand for ">" must be a number, got string
	// true
}
