package cli

import (
	"bufio"
	"errors"
	"fmt"
	stdio "io"
	"strings"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/hint"
)

// Exit codes. Scripts may rely on them.
const (
	ExitOK     = 0
	ExitError  = 1 // the command ran and failed
	ExitUsage  = 2 // bad command line: unknown command or flag, wrong arguments
	ExitConfig = 3 // the configuration is invalid
)

// FlagError is a command-line mistake; it is printed with a pointer to the command's help.
type FlagError struct {
	Err     error
	Command string // e.g. "applet serve"
}

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// HintError is a failure with the one thing to try next.
type HintError = hint.Error

// CodeError ends a command with an exit code; its Err, when set, is printed.
type CodeError struct {
	Code int
	Err  error
}

func (e *CodeError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}
func (e *CodeError) Unwrap() error { return e.Err }

// exitCode maps an error to the process exit code and the hint printed below it.
func exitCode(err error) (int, string) {
	var fe *FlagError
	var ce config.Errors
	var cfe *config.Error
	var he *HintError
	var code *CodeError
	switch {
	case err == nil:
		return ExitOK, ""
	case errors.As(err, &code):
		return code.Code, ""
	case errors.As(err, &fe):
		return ExitUsage, fmt.Sprintf("%s --help", fe.Command)
	case errors.As(err, &ce), errors.As(err, &cfe):
		return ExitConfig, "fix the keys above in the config file, the environment or the flags; `applet init --stdout` shows every key"
	case errors.As(err, &he):
		return ExitError, he.Hint
	case strings.HasPrefix(err.Error(), "unknown command"):
		return ExitUsage, "applet --help"
	case strings.HasPrefix(err.Error(), "config file "):
		return ExitConfig, ""
	default:
		return ExitError, ""
	}
}

// confirmTyped asks the question and wants the answer typed back; yes (--yes) skips it, and without a
// terminal nobody can answer, so it refuses with noTTY.
func confirmTyped(io IOStreams, yes bool, question, answer, noTTY, refused string) error {
	if yes {
		return nil
	}
	if !io.InIsTerminal {
		return &HintError{Err: errors.New(noTTY), Hint: "add --yes to confirm in scripts"}
	}
	fmt.Fprint(io.ErrOut, question)
	line, err := bufio.NewReader(io.In).ReadString('\n')
	if err != nil && !errors.Is(err, stdio.EOF) {
		return err
	}
	if strings.TrimSpace(line) != answer {
		return errors.New(refused)
	}
	return nil
}
