package cli

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/wire"
	"github.com/qcloud-applet/applet/serve"
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

// wiredServer builds the named apps as one `applet serve all` run would (sharing the session parts)
// and serves them on one test listener.
func wiredServer(t *testing.T, cfg *config.Config, names ...string) (*httptest.Server, *wire.Wiring) {
	t.Helper()
	w := testWiring(t, cfg)
	var apps []serve.App
	for _, name := range names {
		app, err := w.App(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, app)
		t.Cleanup(func() { app.Shutdown(context.Background()) })
	}
	ts := httptest.NewServer(serve.New(serve.Options{}).Handler(apps))
	t.Cleanup(ts.Close)
	return ts, w
}

// testWiring is the wiring of one serve run on cfg.
func testWiring(t *testing.T, cfg *config.Config) *wire.Wiring {
	t.Helper()
	w, err := wire.New(cfg, discard(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
