package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/cli"
	"github.com/qcloud-applet/applet/internal/fakes/cosfake"
	"github.com/qcloud-applet/applet/internal/fakes/tcfake"
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
			"cloud":    cmdCloud,
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

// cloud starts the Tencent Cloud and COS stand-ins for the script (zone example.com, 100ms boots) and
// sets the environment a provision run needs: deployment prod, domain applet.example.com, a bucket,
// and credentials. "cloud writes N" checks how many calls changed state since the last check.
func cmdCloud(ts *testscript.TestScript, neg bool, args []string) {
	const id, key = "AKIDscript0000000000000000000000000001", "script-secret-key-000000000000001"
	if len(args) == 2 && args[0] == "writes" {
		c, ok := clouds.Load(ts)
		if !ok {
			ts.Fatalf("cloud writes: no cloud started")
		}
		tc, cs := c.(*scriptCloud).tc, c.(*scriptCloud).cos
		n := len(tc.Writes()) + cs.Writes()
		prev, _ := strconv.Atoi(ts.Getenv("CLOUD_WRITES_SEEN"))
		want, err := strconv.Atoi(args[1])
		ts.Check(err)
		if (n-prev == want) == neg {
			ts.Fatalf("%d writes since the last check, want %d", n-prev, want)
		}
		ts.Setenv("CLOUD_WRITES_SEEN", strconv.Itoa(n))
		return
	}
	if len(args) != 1 || args[0] != "start" {
		ts.Fatalf("usage: cloud start | cloud writes N")
	}
	tc, err := tcfake.New(id, key)
	ts.Check(err)
	ts.Defer(func() { tc.Close() })
	tc.SetBootDelay(100 * time.Millisecond)
	tc.SetTerminateDelay(50 * time.Millisecond)
	tc.AddDomain("example.com")
	cs, err := cosfake.New(id, key)
	ts.Check(err)
	ts.Defer(func() { cs.Close() })
	ts.Setenv("CLOUD_WRITES_SEEN", "0")
	for k, v := range map[string]string{
		"APPLET_DEPLOYMENT": "prod", "APPLET_DOMAIN": "applet.example.com",
		"APPLET_TENCENTCLOUD_REGION": "ap-guangzhou", "APPLET_TENCENTCLOUD_ZONE": "ap-guangzhou-3",
		"APPLET_TENCENTCLOUD_ENDPOINT": "http://" + tc.Addr, "TENCENTCLOUD_SECRET_ID": id, "TENCENTCLOUD_SECRET_KEY": key,
		"APPLET_COS_BUCKET": "album-1250000000", "APPLET_COS_REGION": "ap-guangzhou", "APPLET_COS_ENDPOINT": cs.Addr,
		"APPLET_PROVISION_POLL_INTERVAL": "20ms", "APPLET_PROVISION_CLOUD_ONLY": "true",
	} {
		ts.Setenv(k, v)
	}
	clouds.Store(ts, &scriptCloud{tc, cs})
	ts.Defer(func() { clouds.Delete(ts) })
}

// clouds holds each script's stand-ins (commands cannot store values on the script).
var clouds sync.Map

type scriptCloud struct {
	tc  *tcfake.Server
	cos *cosfake.Server
}
