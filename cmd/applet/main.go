// Command applet provisions and serves the mini program backends.
package main

import (
	"os"

	"github.com/qcloud-applet/applet/internal/cli"
)

func main() { os.Exit(cli.Main()) }
