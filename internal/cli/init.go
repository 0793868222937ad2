package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/qcloud-applet/applet/internal/atomicfile"
	"github.com/qcloud-applet/applet/internal/config"
	"github.com/spf13/cobra"
)

type initOptions struct {
	IO     IOStreams
	Path   string
	Force  bool
	Stdout bool
}

func newCmdInit(f *Factory, runF func(*initOptions) error) *cobra.Command {
	opts := &initOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "init [PATH]",
		Short: "Write a commented config file with every key and its default",
		Long: `Write a config file (default: --config, $APPLET_CONFIG or ./applet.yaml) listing every key with its
default value, the environment variable that overrides it and what it is for. Secrets are left empty:
set them in the environment or in a file named by <NAME>_FILE. The file is created with mode 0600.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return &FlagError{Err: fmt.Errorf("init takes at most one path, got %d", len(args)), Command: cmd.CommandPath()}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Path = f.ConfigPath
			if len(args) == 1 {
				opts.Path = args[0]
			}
			if opts.Path == "" {
				if p, ok := f.LookupEnv(config.EnvConfig); ok && p != "" {
					opts.Path = p
				} else {
					opts.Path = config.DefaultFile
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return initRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite an existing file")
	cmd.Flags().BoolVar(&opts.Stdout, "stdout", false, "print the file instead of writing it")
	return cmd
}

func initRun(opts *initOptions) error {
	data := config.Render(config.Default())
	if opts.Stdout {
		_, err := opts.IO.Out.Write(data)
		return err
	}
	if _, err := os.Stat(opts.Path); err == nil && !opts.Force {
		return &HintError{Err: fmt.Errorf("%s already exists", opts.Path), Hint: "applet init --force " + opts.Path + " to overwrite it"}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking %s: %w", opts.Path, err)
	}
	if dir := filepath.Dir(opts.Path); dir != "." {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return &HintError{Err: fmt.Errorf("cannot write %s: directory %s does not exist", opts.Path, dir), Hint: "mkdir -p " + dir}
		}
	}
	if err := atomicfile.Write(opts.Path, data, 0o600); err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	fmt.Fprintf(opts.IO.Out, "Wrote %s with every key and its default.\nNext: edit it (or set the APPLET_* variables it names), then run: applet serve all\n", opts.Path)
	fmt.Fprintf(opts.IO.Out, "Mini program: set host in miniprogram/config.js to https://<domain>, or http://127.0.0.1:<port> to try it locally with applet serve all --listen :<port> --dev\n")
	return nil
}
