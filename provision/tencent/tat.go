package tencent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
)

// CommandResult is how a command ended on an instance.
type CommandResult struct {
	Status   string // SUCCESS, FAILED, TIMEOUT, ...
	ExitCode int
	Output   string
}

// RunCommand runs a shell script on an instance through TAT (no SSH needed) and waits for it. The
// command service records the script: it must hold no secret.
func (c *Client) RunCommand(ctx context.Context, instanceID, script string, timeout time.Duration) (CommandResult, error) {
	content := base64.StdEncoding.EncodeToString([]byte(script))
	if len(content) > 64<<10 {
		return CommandResult{}, fmt.Errorf("tat: the command is %d bytes encoded, over the 64 KB limit", len(content))
	}
	var inv struct {
		Response struct{ InvocationId string }
	}
	err := c.do(ctx, op{service: "tat", action: "RunCommand", write: true, where: c.cfg.Region}, func(ctx context.Context) error {
		req := tchttp.NewCommonRequest("tat", "2020-10-28", "RunCommand")
		req.SetContext(ctx)
		if err := req.SetActionParameters(map[string]any{
			"Content": content, "InstanceIds": []string{instanceID}, "CommandType": "SHELL",
			"Timeout": int(timeout / time.Second), "WorkingDirectory": "/root",
		}); err != nil {
			return err
		}
		resp := tchttp.NewCommonResponse()
		if err := c.common.Send(req, resp); err != nil {
			return err
		}
		return json.Unmarshal(resp.GetBody(), &inv)
	})
	if err != nil {
		return CommandResult{}, err
	}
	deadline := time.Now().Add(timeout + time.Minute)
	for {
		var tasks struct {
			Response struct {
				InvocationTaskSet []struct {
					TaskStatus string
					TaskResult struct {
						ExitCode int
						Output   string
					}
				}
			}
		}
		err := c.do(ctx, op{service: "tat", action: "DescribeInvocationTasks", where: c.cfg.Region}, func(ctx context.Context) error {
			req := tchttp.NewCommonRequest("tat", "2020-10-28", "DescribeInvocationTasks")
			req.SetContext(ctx)
			if err := req.SetActionParameters(map[string]any{
				"Filters": []map[string]any{{"Name": "invocation-id", "Values": []string{inv.Response.InvocationId}}},
			}); err != nil {
				return err
			}
			resp := tchttp.NewCommonResponse()
			if err := c.common.Send(req, resp); err != nil {
				return err
			}
			return json.Unmarshal(resp.GetBody(), &tasks)
		})
		if err != nil {
			return CommandResult{}, err
		}
		if set := tasks.Response.InvocationTaskSet; len(set) > 0 {
			t := set[0]
			switch t.TaskStatus {
			case "SUCCESS", "FAILED", "TIMEOUT", "CANCELLED", "TERMINATED", "START_FAILED":
				out, _ := base64.StdEncoding.DecodeString(t.TaskResult.Output)
				return CommandResult{Status: t.TaskStatus, ExitCode: t.TaskResult.ExitCode, Output: string(out)}, nil
			}
		}
		if time.Now().After(deadline) {
			return CommandResult{}, fmt.Errorf("tat: invocation %s did not finish within %s", inv.Response.InvocationId, timeout)
		}
		select {
		case <-ctx.Done():
			return CommandResult{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
