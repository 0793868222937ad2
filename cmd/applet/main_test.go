package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/cli"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"applet": func() { os.Exit(cli.Main()) },
	})
}

// TestScript runs the CLI scenarios in testdata/script/*.txtar against the real command.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Scripts must not depend on the developer's credentials or config.
			for _, k := range []string{"APPLET_CONFIG", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"} {
				env.Setenv(k, "")
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport": cmdFreeport,
			"httpget":  cmdHTTPGet,
		},
	})
}

// freeport NAME sets $NAME to a loopback port nothing listens on.
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: freeport NAME")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	ts.Check(l.Close())
	ts.Setenv(args[0], strconv.Itoa(port))
}

// httpget URL STATUS [BODY-REGEXP] waits up to 10s for the URL to answer with STATUS and a body
// matching the regexp; the body is written to stdout.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: httpget URL STATUS [BODY-REGEXP]")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	var re *regexp.Regexp
	if len(args) == 3 {
		re = regexp.MustCompile(args[2])
	}
	var last string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(args[0])
		if err != nil {
			last = err.Error()
			time.Sleep(50 * time.Millisecond)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ok := resp.StatusCode == want && (re == nil || re.Match(body))
		if ok == !neg {
			fmt.Fprintf(ts.Stdout(), "%s", body)
			return
		}
		last = fmt.Sprintf("status %d, body %s", resp.StatusCode, body)
		if neg {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("GET %s: want status %d%s, got %s", args[0], want, map[bool]string{true: " and " + args[len(args)-1], false: ""}[re != nil], last)
}
