package tcfake

import (
	"encoding/base64"
	"fmt"
	"sync"
	"time"
)

// CommandRunner runs a TAT command on an instance for the stand-in and returns its exit code and output.
type CommandRunner func(instanceID, workDir, script string) (exitCode int, output string)

type task struct {
	id, invocation, instance, status string
	exitCode                         int
	output                           string
}

type tatState struct {
	runner     CommandRunner
	agentDelay time.Duration // how long after RUNNING an instance's agent comes online
	step       time.Duration // how long a task stays PENDING and DELIVERING
	endAs      []string      // the next tasks end this way (DELIVER_FAILED, TASK_TIMEOUT) without running
	tasks      map[string]*task
	order      []string
	scripts    []string
	n          int
	wg         sync.WaitGroup
}

func (t *tatState) init() { t.tasks = map[string]*task{}; t.step = 20 * time.Millisecond }

// SetCommandRunner decides what running a command on an instance does (default: exit 0, no output).
func (s *Server) SetCommandRunner(r CommandRunner) { s.mu.Lock(); s.tat.runner = r; s.mu.Unlock() }

// SetAgentDelay makes an instance's TAT agent come online only this long after the instance runs:
// until then RunCommand answers ResourceUnavailable.AgentStatusNotOnline, as after a first boot.
func (s *Server) SetAgentDelay(d time.Duration) { s.mu.Lock(); s.tat.agentDelay = d; s.mu.Unlock() }

// EndNextTask makes the next invocation's task end with status (DELIVER_FAILED: the agent was lost
// after the command was accepted; TASK_TIMEOUT: the agent stopped answering) without running.
func (s *Server) EndNextTask(status string) {
	s.mu.Lock()
	s.tat.endAs = append(s.tat.endAs, status)
	s.mu.Unlock()
}

// agentOnline says whether the instance's agent answers at now.
func (s *Server) agentOnline(i *instance, now time.Time) bool {
	return s.state(i, now) == "RUNNING" && now.Sub(i.created.Add(s.bootDelay)) >= s.tat.agentDelay
}

// Commands returns the scripts run so far, decoded, in order; the command service records them.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tat.scripts...)
}

func (s *Server) tatAction(req *request) (any, *apiError) {
	if err := s.checkRegion(req.region); err != nil {
		return nil, err
	}
	switch req.action {
	case "RunCommand":
		var in struct {
			Content, CommandType, WorkingDirectory string
			InstanceIds                            []string
			Timeout                                int
		}
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		script, err := base64.StdEncoding.DecodeString(in.Content)
		switch {
		case err != nil:
			return nil, errorf("InvalidParameterValue.ContentNotBase64", "Content is not base64.")
		case len(in.Content) > 64<<10:
			return nil, errorf("InvalidParameterValue.LengthExceeded", "Content is larger than 64 KB.")
		case in.CommandType != "" && in.CommandType != "SHELL":
			return nil, errorf("InvalidParameterValue.CommandType", "CommandType must be SHELL on Linux.")
		case len(in.InstanceIds) == 0:
			return nil, errorf("MissingParameter", "InstanceIds is required.")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.now()
		for _, id := range in.InstanceIds {
			i := s.cvm.instances[id]
			switch {
			case i == nil || s.state(i, now) == "":
				return nil, errorf("ResourceNotFound.InstanceNotFound", "The instance %s does not exist.", id)
			case s.state(i, now) != "RUNNING":
				return nil, errorf("ResourceUnavailable.InstanceStateNotRunning", "The instance %s is not running.", id)
			case !s.agentOnline(i, now):
				return nil, errorf("ResourceUnavailable.AgentStatusNotOnline", "The agent of instance %s is not online.", id)
			}
		}
		s.tat.n++
		inv := fmt.Sprintf("inv-%08x", s.tat.n)
		s.tat.scripts = append(s.tat.scripts, string(script))
		runner, step := s.tat.runner, s.tat.step
		endAs := ""
		if len(s.tat.endAs) > 0 {
			endAs, s.tat.endAs = s.tat.endAs[0], s.tat.endAs[1:]
		}
		for k, id := range in.InstanceIds {
			t := &task{id: fmt.Sprintf("invt-%08x%02d", s.tat.n, k), invocation: inv, instance: id, status: "PENDING"}
			s.tat.tasks[t.id] = t
			s.tat.order = append(s.tat.order, t.id)
			s.tat.wg.Add(1)
			go func() {
				defer s.tat.wg.Done()
				// PENDING → DELIVERING → RUNNING → SUCCESS or FAILED, as the real service reports.
				for _, st := range []string{"DELIVERING", "RUNNING"} {
					time.Sleep(step)
					s.mu.Lock()
					if endAs != "" && st == "RUNNING" {
						t.status = endAs
						s.mu.Unlock()
						return
					}
					t.status = st
					s.mu.Unlock()
				}
				code, out := 0, ""
				if runner != nil {
					code, out = runner(t.instance, in.WorkingDirectory, string(script))
				}
				s.mu.Lock()
				t.exitCode, t.output, t.status = code, out, "SUCCESS"
				if code != 0 {
					t.status = "FAILED"
				}
				s.mu.Unlock()
			}()
		}
		return map[string]any{"InvocationId": inv}, nil
	case "DescribeInvocationTasks":
		var in struct {
			InvocationTaskIds []string
			Filters           []filter
			// HideOutput defaults to true: the output is left out unless asked for.
			HideOutput *bool
		}
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var set []map[string]any
		for _, id := range s.tat.order {
			t := s.tat.tasks[id]
			if len(in.InvocationTaskIds) > 0 && !contains(in.InvocationTaskIds, id) {
				continue
			}
			ok := true
			for _, f := range in.Filters {
				switch f.Name {
				case "invocation-id":
					ok = ok && contains(f.Values, t.invocation)
				case "instance-id":
					ok = ok && contains(f.Values, t.instance)
				default:
					return nil, errorf("InvalidFilter", "The filter %q is not supported.", f.Name)
				}
			}
			if ok {
				result := map[string]any{"ExitCode": t.exitCode}
				if in.HideOutput != nil && !*in.HideOutput {
					result["Output"] = base64.StdEncoding.EncodeToString([]byte(t.output))
				}
				set = append(set, map[string]any{"InvocationId": t.invocation, "InvocationTaskId": t.id, "InstanceId": t.instance, "TaskStatus": t.status,
					"TaskResult": result})
			}
		}
		return map[string]any{"TotalCount": len(set), "InvocationTaskSet": set}, nil
	case "DescribeAutomationAgentStatus":
		var in struct{ InstanceIds []string }
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.now()
		var set []map[string]any
		for _, id := range in.InstanceIds {
			if i := s.cvm.instances[id]; i != nil && s.state(i, now) != "" {
				status := "Offline"
				if s.agentOnline(i, now) {
					status = "Online"
				}
				set = append(set, map[string]any{"InstanceId": id, "AgentStatus": status, "Environment": "Linux", "Version": "1.1.0"})
			}
		}
		return map[string]any{"TotalCount": len(set), "AutomationAgentSet": set}, nil
	}
	return nil, unknownAction(req)
}
