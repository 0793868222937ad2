package tencent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
)

// AgentWait bounds the wait for an instance's TAT agent to come online.
var AgentWait = 5 * time.Minute

var taskStatusMeaning = map[string]string{
	"DELIVER_FAILED": "DELIVER_FAILED: the command could not be delivered to the agent",
	"TASK_TIMEOUT":   "TASK_TIMEOUT: the agent stopped answering",
}

func (c *Client) agentPoll() time.Duration { return max(c.cfg.BaseDelay*4, 200*time.Millisecond) }

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
	run := func(ctx context.Context) error {
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
	}
	// Right after a first boot the agent may not be online yet: RunCommand is refused until it is.
	agentDeadline := time.Now().Add(min(timeout, AgentWait))
	var err error
	for {
		err = c.do(ctx, op{service: "tat", action: "RunCommand", write: true, where: c.cfg.Region}, run)
		if !isCode(err, "ResourceUnavailable.AgentStatusNotOnline") || time.Now().After(agentDeadline) {
			break
		}
		select {
		case <-ctx.Done():
			return CommandResult{}, ctx.Err()
		case <-time.After(c.agentPoll()):
		}
	}
	if isCode(err, "ResourceUnavailable.AgentStatusNotOnline") {
		var ae *APIError
		errors.As(err, &ae)
		ae.Fix = fmt.Sprintf("the TAT agent of %s did not come online within %s: check the instance in the console (its TAT agent must run), then run applet provision again", instanceID, min(timeout, AgentWait))
		return CommandResult{}, ae
	}
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
			// HideOutput defaults to true: without false here every output would come back empty.
			if err := req.SetActionParameters(map[string]any{
				"Filters":    []map[string]any{{"Name": "invocation-id", "Values": []string{inv.Response.InvocationId}}},
				"HideOutput": false,
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
			case "DELIVER_FAILED", "TASK_TIMEOUT":
				// The command never ran, or its agent stopped answering: waiting longer changes nothing.
				return CommandResult{}, &APIError{Service: "tat", Action: "RunCommand", Code: t.TaskStatus,
					Message: fmt.Sprintf("invocation %s on %s ended %s", inv.Response.InvocationId, instanceID, taskStatusMeaning[t.TaskStatus]),
					Fix:     "check that " + instanceID + " runs and its TAT agent is online (the console's TAT page, or DescribeAutomationAgentStatus), then run applet provision again"}
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
