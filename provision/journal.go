package provision

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/qcloud-applet/applet/internal/atomicfile"
)

// Journal is the local record of a deployment's runs. It is a cache, never the truth: what it holds is
// checked against the cloud. Its one thing that cannot come from the cloud is the ClientToken of the
// instance being created, written before RunInstances so that a run killed mid-call replays the same
// token and gets the same instance back.
type Journal struct {
	path string
	mu   sync.Mutex
	data JournalData
}

// JournalData is the journal's content.
type JournalData struct {
	Deployment      string    `json:"deployment"`
	ClientToken     string    `json:"client_token,omitempty"`
	InstanceID      string    `json:"instance_id,omitempty"`
	SecurityGroupID string    `json:"security_group_id,omitempty"`
	RecordID        uint64    `json:"record_id,omitempty"`
	HostDigest      string    `json:"host_digest,omitempty"` // the bundle the host last applied
	HostApplied     time.Time `json:"host_applied,omitempty"`
	// With several instances: each new one's ClientToken by name while it is created, each host's last
	// bundle by instance id, the load balancer's ClientToken while it is created and its id, and the
	// certificate uploaded for it.
	InstanceTokens    map[string]string    `json:"instance_tokens,omitempty"`
	Hosts             map[string]HostEntry `json:"hosts,omitempty"`
	LoadBalancerToken string               `json:"load_balancer_token,omitempty"`
	LoadBalancerID    string               `json:"load_balancer_id,omitempty"`
	CertID            string               `json:"cert_id,omitempty"`
	VpcID             string               `json:"vpc_id,omitempty"`
	SubnetID          string               `json:"subnet_id,omitempty"`
	// PendingRestore is the backup to restore onto a new instance until the host step has done it.
	PendingRestore string               `json:"pending_restore,omitempty"`
	Run            string               `json:"run,omitempty"` // "apply" or "destroy" while one is under way
	Steps          map[string]StepEntry `json:"steps,omitempty"`
	Updated        time.Time            `json:"updated"`
}

// HostEntry is what an instance's host last converged to.
type HostEntry struct {
	Digest  string    `json:"digest"`
	Applied time.Time `json:"applied"`
}

// StepEntry is a step's last known state.
type StepEntry struct {
	Status string    `json:"status"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// OpenJournal reads (or starts) the journal of a deployment in dir.
func OpenJournal(dir, deployment string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	j := &Journal{path: filepath.Join(dir, deployment+".json"), data: JournalData{Deployment: deployment}}
	b, err := os.ReadFile(j.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading journal: %w", err)
	default:
		if err := json.Unmarshal(b, &j.data); err != nil {
			return nil, fmt.Errorf("reading journal %s: %w (it is only a cache: delete it and run again)", j.path, err)
		}
	}
	if j.data.Steps == nil {
		j.data.Steps = map[string]StepEntry{}
	}
	return j, nil
}

// Path is where the journal lives.
func (j *Journal) Path() string { return j.path }

// Data returns a copy of the content.
func (j *Journal) Data() JournalData {
	j.mu.Lock()
	defer j.mu.Unlock()
	d := j.data
	d.Steps = map[string]StepEntry{}
	for k, v := range j.data.Steps {
		d.Steps[k] = v
	}
	return d
}

// Update changes the content and writes it at once (atomically).
func (j *Journal) Update(f func(*JournalData)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	f(&j.data)
	j.data.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(j.data, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(j.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	return nil
}

// NewToken returns a fresh ClientToken for the deployment: its name and a random part, at most 64 ASCII.
func NewToken(deployment string) string {
	b := make([]byte, 6)
	rand.Read(b)
	t := "applet-" + deployment + "-" + hex.EncodeToString(b)
	if len(t) > 64 {
		t = t[len(t)-64:]
	}
	return t
}

// Lock keeps two runs of the same deployment apart.
type Lock struct {
	path string
	stop chan struct{}
	done chan struct{}
}

// StaleAfter is how long a lock whose holder cannot be checked (another host) lives without a refresh.
const StaleAfter = 2 * time.Minute

type lockInfo struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
	Command string    `json:"command"`
}

// ErrLocked means another run holds the lock.
type ErrLocked struct {
	Path string
	Info string
}

func (e *ErrLocked) Error() string {
	return "another provision run holds the lock (" + e.Info + ")"
}

// AcquireLock takes the deployment's lock. A lock left by a process that is gone (same host), or not
// refreshed for StaleAfter (another host), is taken over; recovered then says whose it was.
func AcquireLock(dir, deployment, command string) (l *Lock, recovered string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("creating state directory: %w", err)
	}
	path := filepath.Join(dir, deployment+".lock")
	host, _ := os.Hostname()
	me, _ := json.Marshal(lockInfo{PID: os.Getpid(), Host: host, Started: time.Now().UTC(), Command: command})
	for attempt := 0; attempt < 2; attempt++ {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			_, err = f.Write(me)
			f.Close()
			if err != nil {
				return nil, "", fmt.Errorf("writing lock: %w", err)
			}
			l := &Lock{path: path, stop: make(chan struct{}), done: make(chan struct{})}
			go l.refresh()
			return l, recovered, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, "", fmt.Errorf("taking lock: %w", err)
		}
		b, _ := os.ReadFile(path)
		st, statErr := os.Stat(path)
		var info lockInfo
		json.Unmarshal(b, &info)
		desc := fmt.Sprintf("pid %d on %s, %s, started %s", info.PID, info.Host, info.Command, info.Started.Local().Format(time.DateTime))
		stale := false
		switch {
		case info.PID == 0:
			stale = statErr == nil && time.Since(st.ModTime()) > 10*time.Second // unreadable and not being written
		case info.Host == host:
			stale = !alive(info.PID)
		default:
			stale = statErr == nil && time.Since(st.ModTime()) > StaleAfter
		}
		if !stale {
			return nil, "", &ErrLocked{Path: path, Info: desc}
		}
		recovered = "took over a stale lock left by " + desc
		os.Remove(path)
	}
	return nil, "", &ErrLocked{Path: path, Info: "lock contended"}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err == nil || errors.Is(err, syscall.EPERM) {
		// A zombie still answers; look at /proc where there is one.
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			f := strings.Fields(string(b))
			return len(f) < 3 || f[2] != "Z"
		}
		return true
	}
	return false
}

// refresh touches the lock so other hosts see it is held.
func (l *Lock) refresh() {
	defer close(l.done)
	t := time.NewTicker(StaleAfter / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			now := time.Now()
			os.Chtimes(l.path, now, now)
		}
	}
}

// Release gives the lock up.
func (l *Lock) Release() {
	close(l.stop)
	<-l.done
	os.Remove(l.path)
}
