package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/serve"
	"golang.org/x/term"
)

// IOStreams are the command's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// ErrIsTerminal says whether ErrOut is a terminal (text logs) or not (JSON logs).
	ErrIsTerminal bool
	// InIsTerminal says whether a person can answer a prompt.
	InIsTerminal bool
	// OutIsTerminal says whether Out is a terminal (colour in tables).
	OutIsTerminal bool
}

// progress prints a line of a long command's progress on ErrOut.
func (s IOStreams) progress(format string, args ...any) { fmt.Fprintf(s.ErrOut, format+"\n", args...) }

// Factory creates what commands need, lazily: `--help`, `version` and `init` never read the
// configuration or need credentials.
type Factory struct {
	IO        IOStreams
	LookupEnv func(string) (string, bool)

	// Set from the root's persistent flags.
	ConfigPath string
	LogLevel   string
	LogFormat  string

	loaded *config.Loaded
}

func newFactory() *Factory {
	return &Factory{
		IO: IOStreams{
			In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
			ErrIsTerminal: isTerminal(os.Stderr),
			InIsTerminal:  isTerminal(os.Stdin),
			OutIsTerminal: isTerminal(os.Stdout),
		},
		LookupEnv: os.LookupEnv,
	}
}

// Config loads the configuration once: file < environment < flags. overrides are the command's own
// flags by dotted key.
func (f *Factory) Config(overrides map[string]string) (*config.Loaded, error) {
	if f.loaded != nil {
		return f.loaded, nil
	}
	flags := map[string]string{}
	for k, v := range overrides {
		flags[k] = v
	}
	if f.LogLevel != "" {
		flags["log.level"] = f.LogLevel
	}
	if f.LogFormat != "" {
		flags["log.format"] = f.LogFormat
	}
	l, err := config.Load(config.LoadOptions{Path: f.ConfigPath, LookupEnv: f.LookupEnv, Flags: flags})
	if err != nil {
		return nil, err
	}
	f.loaded = l
	return l, nil
}

// Logger builds the servers' logger from the configuration.
func (f *Factory) Logger(c *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	text := c.Log.Format == "text" || (c.Log.Format == "auto" && f.IO.ErrIsTerminal)
	var h slog.Handler = slog.NewJSONHandler(f.IO.ErrOut, opts)
	if text {
		h = slog.NewTextHandler(f.IO.ErrOut, opts)
	}
	// A warning repeated by many requests (one hostile client) is one line per interval with a count.
	return slog.New(serve.QuietRepeats(h, 10*time.Second))
}

// isTerminal asks the terminal driver: /dev/null is a character device but no terminal.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// getenv reads one variable through lookup (nil: an empty environment).
func getenv(lookup func(string) (string, bool)) func(string) string {
	return func(k string) string {
		if lookup == nil {
			return ""
		}
		v, _ := lookup(k)
		return v
	}
}
