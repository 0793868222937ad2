package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/qcloud-applet/applet/backup/setup"
	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/wire"
	"github.com/qcloud-applet/applet/serve"
	"github.com/spf13/cobra"
)

// appNames are the apps in the order they start.
var appNames = []string{"album", "game", "session", "video"}

type serveOptions struct {
	IO      IOStreams
	Config  func(overrides map[string]string) (*config.Loaded, error)
	Logger  func(*config.Config) *slog.Logger
	App     string // one of appNames or "all"
	Listen  string
	DataDir string
	Migrate bool
	Dev     bool
	// OnListen is told each bound address (tests use port 0).
	OnListen func(addr net.Addr, apps []string)
}

func newCmdServe(f *Factory, runF func(*serveOptions) error) *cobra.Command {
	opts := &serveOptions{IO: f.IO, Config: f.Config, Logger: f.Logger}
	cmd := &cobra.Command{
		Use:   "serve <album|game|session|video|all>",
		Short: "Run a backend, or all four",
		Long: `Run one backend, or all four. Each app listens on its own address (album :9993, game :9595,
session :5757, video :9994, set by <app>.listen); --listen puts the chosen app, or all of them routed by
path, on one address. Health is at /healthz and /readyz (also under each app's base path), metrics at
/metrics. SIGTERM or SIGINT drains in-flight requests and closes WebSockets before exiting.`,
		Example:   "  applet serve all\n  applet serve album --listen 127.0.0.1:8080\n  applet serve all --listen :8080",
		ValidArgs: append(append([]string{}, appNames...), "all"),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &FlagError{Err: fmt.Errorf("serve needs one app: album, game, session, video or all"), Command: cmd.CommandPath()}
			}
			if args[0] != "all" && !slices.Contains(appNames, args[0]) {
				return &FlagError{Err: fmt.Errorf("unknown app %q: choose album, game, session, video or all", args[0]), Command: cmd.CommandPath()}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.App = args[0]
			if runF != nil {
				return runF(opts)
			}
			return serveRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", "", "address for the chosen app, or for all apps routed by path (e.g. :8080)")
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "directory for the embedded defaults' data (overrides data_dir)")
	cmd.Flags().BoolVar(&opts.Dev, "dev", false, "answer logins from a built-in WeChat stand-in when no wechat.app_id is set (local development only)")
	cmd.Flags().BoolVar(&opts.Migrate, "migrate", false, "apply pending MySQL migrations for video instead of refusing to start (overrides video.migrate)")
	return cmd
}

func serveRun(ctx context.Context, opts *serveOptions) error {
	overrides := map[string]string{}
	if opts.DataDir != "" {
		overrides["data_dir"] = opts.DataDir
	}
	if opts.Listen != "" && opts.App != "all" {
		overrides[opts.App+".listen"] = opts.Listen
	}
	if opts.Migrate {
		overrides["video.migrate"] = "true"
	}
	if opts.Dev {
		overrides["session.dev"] = "true"
	}
	loaded, err := opts.Config(overrides)
	if err != nil {
		return err
	}
	cfg := loaded.Config
	log := opts.Logger(cfg)
	release, err := setup.LockDataDir(cfg.DataDir, false) // a restore takes it exclusively
	if err != nil {
		return &HintError{Err: fmt.Errorf("data_dir %s: %w", cfg.DataDir, err), Hint: "a restore is writing it: wait for applet restore to finish"}
	}
	defer release()
	if loaded.File != "" {
		log.Info("config loaded", "file", loaded.File)
	} else {
		log.Info("no config file: running on embedded defaults")
	}

	names := appNames
	if opts.App != "all" {
		names = []string{opts.App}
	}
	if cfg.Album.OwnerCheck && cfg.Redis.Addr == "" && opts.App == "album" {
		return &HintError{Err: fmt.Errorf("album.owner_check: the album alone cannot see logins made on serve session without a shared Redis"),
			Hint: "set redis.addr, or run applet serve all"}
	}
	shared, listeners := "", len(names)
	if opts.App == "all" && opts.Listen != "" {
		shared, listeners = opts.Listen, 1
	}
	w, err := wire.New(cfg, log, listeners)
	if err != nil {
		return err
	}
	var apps []serve.App
	var addrs []string
	for _, name := range names {
		app, err := w.App(ctx, name)
		if err != nil {
			for _, a := range apps {
				_ = a.Shutdown(ctx)
			}
			return err
		}
		apps, addrs = append(apps, app), append(addrs, wire.ListenAddr(cfg, name))
		attrs := []any{"app", name, "base", app.BasePath()}
		if d, ok := app.(serve.Describer); ok {
			attrs = append(attrs, d.Describe()...)
		}
		log.Info("app configured", attrs...)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := serve.New(serve.Options{
		Listeners:       serve.Layout(apps, shared, addrs),
		Logger:          log,
		ShutdownTimeout: cfg.Serve.ShutdownTimeout,
		ReadyTimeout:    cfg.Serve.ReadyTimeout,
		OnListen:        opts.OnListen,
		Deadlines:       w.Deadlines,
		Budgets:         w.Budgets,
	})
	if err := srv.Run(ctx); err != nil {
		if strings.Contains(err.Error(), "address already in use") {
			return &HintError{Err: err, Hint: "another process holds the port: stop it, or choose another address with --listen or <app>.listen"}
		}
		return err
	}
	return nil
}
