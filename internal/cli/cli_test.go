package cli

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// runCLI runs applet in-process with only the given environment; it returns the exit code and output.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := &Factory{
		IO:        IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut},
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}
	code := run(context.Background(), f, args)
	return code, out.String(), errOut.String()
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
