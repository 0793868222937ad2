package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadOptions says where configuration comes from. The zero value reads applet.yaml (if present) and
// the process environment.
type LoadOptions struct {
	// Path is the file named by --config; empty falls back to APPLET_CONFIG, then DefaultFile.
	Path string
	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Flags are values given on the command line by dotted key; they override everything.
	Flags map[string]string
}

// Loaded is a configuration and where each non-default value came from.
type Loaded struct {
	*Config
	// File is the config file that was read; empty when none was.
	File string
	// Source maps a dotted key to where its value came from ("applet.yaml:3", "env APPLET_X", "flag --x").
	Source map[string]string
}

// Error is a problem with one key: its value, what is wrong and how to fix it.
type Error struct {
	Key    string
	Value  string // already masked for secrets
	Source string // where the value came from; empty for defaults
	Reason string
	Fix    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Key)
	if e.Value != "" || e.Source != "" {
		fmt.Fprintf(&b, " = %q", e.Value)
	}
	if e.Source != "" {
		fmt.Fprintf(&b, " (from %s)", e.Source)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Fix != "" {
		b.WriteString("; ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Errors is every problem found in one load, so a user fixes them all in one pass.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return "invalid configuration:\n  " + strings.Join(lines, "\n  ")
}

// Load reads the file, then the environment, then the flags, and validates the result.
func Load(opts LoadOptions) (*Loaded, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	l := &Loaded{Config: Default(), Source: map[string]string{}}

	path, explicit := opts.Path, opts.Path != ""
	if !explicit {
		if p, ok := lookup(EnvConfig); ok && p != "" {
			path, explicit = p, true
		}
	}
	if path == "" {
		path = DefaultFile
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := l.decodeFile(path, data); err != nil {
			return nil, err
		}
		l.File = path
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		// No file is fine: defaults, env and flags make a working configuration.
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config file %s does not exist: write one with `applet init %s`, or name another with --config", path, path)
	default:
		return nil, fmt.Errorf("reading config file: %w", err)
	}

	var errs Errors
	fields := l.Config.Fields()
	for _, f := range fields {
		name, val, ok, err := envValue(f, lookup)
		if err != nil {
			errs = append(errs, &Error{Key: f.Key, Source: "env " + name, Reason: err.Error(), Fix: "make the file readable or unset " + name})
			continue
		}
		if !ok {
			continue
		}
		if err := f.Set(val); err != nil {
			errs = append(errs, &Error{Key: f.Key, Value: mask(f, val), Source: "env " + name, Reason: err.Error(), Fix: "set " + name + " to " + f.Kind()})
			continue
		}
		l.Source[f.Key] = "env " + name
	}
	keys := make([]string, 0, len(opts.Flags))
	for k := range opts.Flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := l.Config.Field(k)
		if !ok {
			return nil, fmt.Errorf("internal: flag bound to unknown config key %q", k)
		}
		if err := f.Set(opts.Flags[k]); err != nil {
			errs = append(errs, &Error{Key: k, Value: mask(f, opts.Flags[k]), Source: "flag", Reason: err.Error()})
			continue
		}
		l.Source[k] = "flag"
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return l, nil
}

// envValue reads a field from APPLET_X, APPLET_X_FILE (secrets) or its conventional name, in that order.
func envValue(f Field, lookup func(string) (string, bool)) (name, val string, ok bool, err error) {
	if v, ok := lookup(f.Env); ok {
		return f.Env, v, true, nil
	}
	if f.Secret {
		if p, ok := lookup(f.Env + "_FILE"); ok && p != "" {
			b, err := os.ReadFile(p)
			if err != nil {
				return f.Env + "_FILE", "", false, fmt.Errorf("reading secret file: %v", err)
			}
			return f.Env + "_FILE", strings.TrimRight(string(b), "\r\n"), true, nil
		}
	}
	if f.AltEnv != "" {
		if v, ok := lookup(f.AltEnv); ok {
			return f.AltEnv, v, true, nil
		}
	}
	return "", "", false, nil
}

func mask(f Field, v string) string {
	if f.Secret && v != "" {
		return "<redacted>"
	}
	return v
}

// decodeFile decodes strictly: an unknown key is an error that names it, so a typo never silently
// falls back to a default.
func (l *Loaded) decodeFile(path string, data []byte) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("config file %s: %v", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 {
		return nil // an empty file sets nothing
	}
	known := map[string]Field{}
	sections := map[string]bool{}
	for _, f := range l.Config.Fields() {
		known[f.Key] = f
		if f.Section != "" {
			sections[f.Section] = true
		}
	}
	var errs Errors
	var visit func(n *yaml.Node, prefix string)
	visit = func(n *yaml.Node, prefix string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + k.Value
			}
			src := fmt.Sprintf("%s:%d", path, k.Line)
			if prefix == "" && sections[key] {
				if v.Kind != yaml.MappingNode && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
					errs = append(errs, &Error{Key: key, Source: src, Reason: "is a section, not a value", Fix: "write its keys indented below it (see `applet init`)"})
				}
				visit(v, key)
				continue
			}
			f, ok := known[key]
			if !ok {
				errs = append(errs, &Error{Key: key, Value: v.Value, Source: src, Reason: "unknown key", Fix: suggest(key, known)})
				continue
			}
			l.Source[key] = src
			if v.Kind != yaml.ScalarNode {
				errs = append(errs, &Error{Key: key, Source: src, Reason: "want " + f.Kind(), Fix: "write a single value"})
				continue
			}
			if v.Tag == "!!null" {
				continue
			}
			if err := f.Set(v.Value); err != nil {
				errs = append(errs, &Error{Key: key, Value: mask(f, v.Value), Source: src, Reason: err.Error()})
			}
		}
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
			return nil
		}
		return fmt.Errorf("config file %s: want a mapping of keys (see `applet init`)", path)
	}
	visit(doc, "")
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// suggest names the closest known key, or lists the section's keys.
func suggest(key string, known map[string]Field) string {
	best, bestD := "", 4
	for k := range known {
		if d := distance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return "`applet init` writes a file with every key"
}

// distance is the Levenshtein distance, small inputs only.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
